dw_unit_test(test_registry SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_registry.c LIBS dw_core)
dw_unit_test(test_buf SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_buf.c LIBS dw_core)
