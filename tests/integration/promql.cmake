# The PromQL differential test: deploywatch's /api/v1 against a real Prometheus 2.42.
dw_integration_test(integration_promql_diff test_promql_diff.py)
# The /api/v1 handlers, promtool query, `deploywatch query`, and the agent under a burst.
dw_integration_test(integration_query_api test_query_api.py)
