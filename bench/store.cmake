# Store benchmark: dw_store_bench times the agent's append pattern, an import-shaped load and a
# full decode scan through dw_store, and measures the chunk payload of a store (bench/run-store.sh).
add_executable(dw_store_bench ${CMAKE_CURRENT_LIST_DIR}/store_bench.c)
target_link_libraries(dw_store_bench PRIVATE dw_store dw_core PkgConfig::LMDB)
