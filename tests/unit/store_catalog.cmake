# The error catalog: merging, exactly once with the batch's samples, listing, the API renderer.
dw_unit_test(test_catalog SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_catalog.c LIBS dw_store)
