# Import, dump and their parsers: the series selector (query/), time arguments (core/), the
# text / OpenMetrics import parser and its store round trip (store/import.c).
dw_unit_test(test_selector SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_selector.c LIBS dw_query)
dw_unit_test(test_timeparse SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_timeparse.c LIBS dw_core)
dw_unit_test(test_import SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_import.c LIBS dw_store)
