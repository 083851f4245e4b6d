# The host sampler; its pure /proc parsers and line reader from tests/fixtures/tables/proc.txt.
dw_unit_test(test_system SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_system.c ${CMAKE_CURRENT_LIST_DIR}/table.c
             LIBS dw_collector dw_core)
