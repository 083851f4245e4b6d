# The PromQL differential test: deploywatch's /api/v1 against a real Prometheus 2.42.
add_test(NAME integration_promql_diff
         COMMAND ${PYTHON3} ${CMAKE_CURRENT_SOURCE_DIR}/integration/test_promql_diff.py
                 --binary $<TARGET_FILE:deploywatch> --source ${CMAKE_SOURCE_DIR}
                 --workdir ${CMAKE_CURRENT_BINARY_DIR}/work-integration_promql_diff
                 --reference-only)
set_tests_properties(integration_promql_diff PROPERTIES LABELS integration TIMEOUT 300)
