# query/judge: the statistics from tests/judge/stats.test, and the judge over a real store.
dw_unit_test(test_judge SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_judge.c LIBS dw_query)
target_compile_definitions(test_judge PRIVATE DW_JUDGE_TESTS="${CMAKE_SOURCE_DIR}/tests/judge")
