# tools/ and the scripts: tpctl against real services, and the README's run
# command end to end (scripts/run.sh with its own PostgreSQL, driven by curl).
# Both run the binaries of this build tree (dtp, taskpilot, tpgateway, tpctl).
tp_add_integration_test(tpctl TIMEOUT 180 LIBS PkgConfig::JANSSON)

add_test(NAME integration.run
	COMMAND ${CMAKE_SOURCE_DIR}/test/integration/run_test.sh)
set_tests_properties(integration.run PROPERTIES LABELS integration
	TIMEOUT 300 ENVIRONMENT "TP_BUILD_DIR=${CMAKE_BINARY_DIR}")
