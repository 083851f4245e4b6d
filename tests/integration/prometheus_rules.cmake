# etc/prometheus/deploywatch-rules.yml: valid for promtool, and each alert fires as its test says.
find_program(PROMTOOL promtool)
if(PROMTOOL)
  add_test(NAME integration_prometheus_rules_check
           COMMAND ${PROMTOOL} check rules ${CMAKE_SOURCE_DIR}/etc/prometheus/deploywatch-rules.yml)
  add_test(NAME integration_prometheus_rules_test
           COMMAND ${PROMTOOL} test rules deploywatch-rules.test.yml
           WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/etc/prometheus)
  set_tests_properties(integration_prometheus_rules_check integration_prometheus_rules_test
                       PROPERTIES LABELS integration TIMEOUT 120)
else()
  message(WARNING "promtool not found: the alerting rules are not tested (scripts/install-deps.sh test)")
endif()
