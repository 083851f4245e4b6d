# Chunk codec benchmark: dw_gen_dataset writes an agent-shaped OpenMetrics dataset,
# dw_chunk_bench measures the codec on it. store/chunk.c is compiled in directly: the codec is
# pure code and the benchmark should not depend on the rest of dw_store.
add_executable(dw_gen_dataset ${CMAKE_CURRENT_LIST_DIR}/gen_dataset.c)
target_link_libraries(dw_gen_dataset PRIVATE dw_core m)

add_executable(dw_chunk_bench ${CMAKE_CURRENT_LIST_DIR}/chunk_bench.c ${CMAKE_SOURCE_DIR}/store/chunk.c)
target_link_libraries(dw_chunk_bench PRIVATE dw_core PkgConfig::ZLIB m)
