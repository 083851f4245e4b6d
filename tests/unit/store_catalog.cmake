# The error catalog: merging, exactly once with the batch's samples, listing with its filter, and the /api/v1/errors renderer over it (query/api_errors.c).
dw_unit_test(test_catalog SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_catalog.c LIBS dw_query dw_store)
