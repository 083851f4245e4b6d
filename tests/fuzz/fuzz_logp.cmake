# After fuzz.cmake, which defines dw_fuzz_target. One target per built-in format (one source,
# FUZZ_FORMAT set per target), plus multiline assembly alone.
dw_fuzz_target(ml fuzz_ml.c dw_collector)
foreach(fmt laravel mysql-error mysql-slow nginx regex)
  string(REPLACE "-" "_" tgt ${fmt})
  dw_fuzz_target(logp_${tgt} fuzz_logp.c dw_collector)
  target_compile_definitions(fuzz_logp_${tgt} PRIVATE FUZZ_FORMAT="${fmt}")
  if(fmt STREQUAL "regex")
    target_compile_definitions(fuzz_logp_${tgt} PRIVATE FUZZ_REGEX=1)
  endif()
endforeach()
