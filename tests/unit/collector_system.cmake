dw_unit_test(test_system SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_system.c LIBS dw_collector dw_core)
