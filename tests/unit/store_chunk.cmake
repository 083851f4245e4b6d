# The chunk codec is pure code: its test compiles store/chunk.c directly so that it does not wait
# for (or break with) the rest of dw_store.
dw_unit_test(test_chunk
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_chunk.c ${CMAKE_SOURCE_DIR}/store/chunk.c
  LIBS dw_core)
