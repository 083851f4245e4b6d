# Chunk codec benchmark: dw_gen_dataset writes an agent-shaped OpenMetrics dataset,
# dw_chunk_bench measures the codec on it, reading the dataset with the store's import parser.
add_executable(dw_gen_dataset ${CMAKE_CURRENT_LIST_DIR}/gen_dataset.c)
target_link_libraries(dw_gen_dataset PRIVATE dw_core m)

add_executable(dw_chunk_bench ${CMAKE_CURRENT_LIST_DIR}/chunk_bench.c)
target_link_libraries(dw_chunk_bench PRIVATE dw_store PkgConfig::ZLIB m)
