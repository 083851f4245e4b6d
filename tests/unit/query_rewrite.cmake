# query/rewrite.c (promql_add_matchers, judge --prometheus --selector) from a table.
dw_unit_test(test_rewrite SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_rewrite.c ${CMAKE_CURRENT_LIST_DIR}/table.c
             LIBS dw_query)
