# The deploy verdict: scenarios built from the corpus shapes, replayed, marked and judged.
dw_integration_test(integration_judge test_judge.py)
# The CPU and memory checks on live agents reading fixture /proc trees rewritten over time.
dw_integration_test(integration_judge_system test_judge_system.py)
# The first event of a log counter reaches increase() (replayed and live).
dw_integration_test(integration_first_event test_first_event.py)
# Automatic deploy markers when a watched symlink, .git/HEAD or file changes under a running agent.
dw_integration_test(integration_judge_watch test_judge_watch.py)
# Fleet mode: a real Prometheus (HTTPS + basic auth) scraping two agents, judge --prometheus.
dw_integration_test(integration_judge_fleet test_judge_fleet.py)
# judge --prometheus against a fake Prometheus API answering what a real Prometheus would not.
dw_integration_test(integration_judge_remote test_judge_remote.py)
