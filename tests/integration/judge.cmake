# The deploy verdict: scenarios built from the corpus shapes, replayed, marked and judged.
dw_integration_test(integration_judge test_judge.py)
