# core/model.c from tables (tests/fixtures/tables/model.txt), read by the runner in table.c.
dw_unit_test(test_model SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_model.c ${CMAKE_CURRENT_LIST_DIR}/table.c
             LIBS dw_core m)
