# deploywatch import / dump on the real binary (and promtool as the reference for OpenMetrics).
dw_integration_test(integration_import_dump test_import_dump.py)
# import against promtool on a table of edge cases: escapes, special floats, cut-off input, # EOF.
dw_integration_test(integration_import_differential test_import_differential.py)
