# The deploy verdict: scenarios built from the corpus shapes, replayed, marked and judged.
dw_integration_test(integration_judge test_judge.py)
# Fleet mode: a real Prometheus (HTTPS + basic auth) scraping two agents, judge --prometheus.
dw_integration_test(integration_judge_fleet test_judge_fleet.py)
# judge --prometheus against a stub API answering what a real Prometheus would not.
dw_integration_test(integration_judge_remote test_judge_remote.py)
