# PromQL: the engine from the table files in tests/promql/, over memory and over a real store.
dw_unit_test(test_promql SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_promql.c LIBS dw_query)
target_compile_definitions(test_promql PRIVATE DW_PROMQL_TESTS="${CMAKE_SOURCE_DIR}/tests/promql")
