# dw_fuzz_target(NAME SOURCE LIBS...): a libFuzzer target whose corpus tests/fuzz/corpus/NAME is
# replayed by a plain main() in ctest (label "fuzz"); -DDW_LIBFUZZER=ON with clang builds the
# real fuzzer instead.
function(dw_fuzz_target name source)
  add_executable(fuzz_${name} ${CMAKE_CURRENT_LIST_DIR}/${source})
  target_link_libraries(fuzz_${name} PRIVATE ${ARGN})
  if(DW_LIBFUZZER)
    target_compile_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
    target_link_options(fuzz_${name} PRIVATE -fsanitize=fuzzer)
  else()
    target_sources(fuzz_${name} PRIVATE ${CMAKE_CURRENT_LIST_DIR}/replay_main.c)
    add_test(NAME fuzz_${name} COMMAND fuzz_${name} ${CMAKE_CURRENT_LIST_DIR}/corpus/${name})
    set_tests_properties(fuzz_${name} PROPERTIES LABELS fuzz TIMEOUT 300)
  endif()
endfunction()

dw_fuzz_target(config fuzz_config.c dw_core)
