dw_integration_test(integration_tail_rotation test_tail_rotation.py)
dw_integration_test(integration_tail_input test_tail_input.py)
# The torture runs a third slower under ASan: fewer rotations and a shorter SIGKILL phase keep
# it well under 90 s there too.
if(DW_SANITIZE)
  set_tests_properties(integration_tail_rotation PROPERTIES ENVIRONMENT "DW_TAIL_SCALE=0.5")
endif()
