dw_unit_test(test_tail SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_tail.c LIBS dw_collector dw_core)
