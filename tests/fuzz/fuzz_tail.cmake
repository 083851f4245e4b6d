# After fuzz.cmake, which defines dw_fuzz_target: the tailer's line reader and record decoder.
dw_fuzz_target(tail_reader fuzz_tail_reader.c dw_collector)
