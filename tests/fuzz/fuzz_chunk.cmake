# The chunk decoder as a fuzz target (store/chunk.c compiled in: the codec is pure code).
# Sorted after fuzz.cmake, which defines dw_fuzz_target().
dw_fuzz_target(chunk fuzz_chunk.c dw_core)
target_sources(fuzz_chunk PRIVATE ${CMAKE_SOURCE_DIR}/store/chunk.c)
