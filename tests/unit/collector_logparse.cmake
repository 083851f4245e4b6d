dw_unit_test(test_logparse SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_logparse.c LIBS dw_collector dw_core)
dw_unit_test(test_ml SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_ml.c LIBS dw_collector dw_core)
