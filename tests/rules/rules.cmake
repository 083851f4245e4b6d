# The house rules (docs/README.md, "House rules checked by ctest") on the tree, with nm reading
# each module's built library; and on a fixture tree with one planted violation of each rule.
set(DW_RULES_LIBS)
foreach(m core collector store query exporters)
  list(APPEND DW_RULES_LIBS --lib ${m}=$<TARGET_FILE:dw_${m}>)
endforeach()
add_test(NAME rules COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/check_rules.py
         --root ${CMAKE_SOURCE_DIR} ${DW_RULES_LIBS})
set_tests_properties(rules PROPERTIES LABELS "unit;rules" TIMEOUT 120)

# The fixture's one compiled module, with debug information so nm names the file and line.
set(DW_RULES_FIXTURE ${CMAKE_SOURCE_DIR}/tests/fixtures/rules)
add_library(rules_fixture_store STATIC ${DW_RULES_FIXTURE}/store/st.c)
target_include_directories(rules_fixture_store BEFORE PRIVATE ${DW_RULES_FIXTURE})
target_compile_options(rules_fixture_store PRIVATE -g)
add_test(NAME rules_fixture COMMAND ${PYTHON3} ${CMAKE_CURRENT_LIST_DIR}/test_fixture.py
         --script ${CMAKE_CURRENT_LIST_DIR}/check_rules.py --root ${DW_RULES_FIXTURE}
         --lib store=$<TARGET_FILE:rules_fixture_store>)
set_tests_properties(rules_fixture PROPERTIES LABELS "unit;rules" TIMEOUT 120)
