# deploywatch import / dump on the real binary (and promtool as the reference for OpenMetrics).
dw_integration_test(integration_import_dump test_import_dump.py)
