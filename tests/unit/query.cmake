# PromQL: the engine from the table files in tests/promql/, over memory and over a real store.
dw_unit_test(test_promql SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_promql.c LIBS dw_query)
target_compile_definitions(test_promql PRIVATE DW_PROMQL_TESTS="${CMAKE_SOURCE_DIR}/tests/promql")
# The tables' expected values are Prometheus 2.42's: promtool must agree with every case it can
# express (integration: it runs the real promtool).
file(GLOB DW_PROMQL_TABLES ${CMAKE_SOURCE_DIR}/tests/promql/*.test)
add_test(NAME promql_tables_promtool
         COMMAND ${PYTHON3} ${CMAKE_SOURCE_DIR}/tests/promql/promtool_check.py ${DW_PROMQL_TABLES})
set_tests_properties(promql_tables_promtool PROPERTIES LABELS integration TIMEOUT 300)
