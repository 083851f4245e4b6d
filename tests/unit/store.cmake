# The LMDB store: open/format, commits and head chunks, selection, retention, faults, appender,
# a concurrent reader process.
dw_unit_test(test_store SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_store.c LIBS dw_store)
