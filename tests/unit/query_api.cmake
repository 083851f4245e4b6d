# query/api: the JSON pieces from tables (the handlers are driven over HTTP by
# tests/integration/test_query_api.py and test_promql_diff.py).
dw_unit_test(test_api_json SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_api_json.c LIBS dw_query)
