# Log parser throughput: dw_logparse_bench runs a log through multiline assembly and its format's
# parser (bench/run-logparse.sh builds a 200 MB Laravel log and compares with grep -cP).
add_executable(dw_logparse_bench ${CMAKE_CURRENT_LIST_DIR}/logparse_bench.c)
target_link_libraries(dw_logparse_bench PRIVATE dw_collector dw_core)
