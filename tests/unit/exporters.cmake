# exporters: exposition formats (golden texts, promtool) and the HTTP server (driven by curl).
dw_unit_test(test_exposition SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_exposition.c LIBS dw_exporters)
dw_unit_test(test_http SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_http.c LIBS dw_exporters)
