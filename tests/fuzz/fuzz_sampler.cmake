# After fuzz.cmake, which defines dw_fuzz_target.
dw_fuzz_target(sampler fuzz_sampler.c dw_collector)
