# tools/ and the scripts: tpctl against real services, and the README's run
# command end to end (scripts/run.sh with its own PostgreSQL, driven by curl):
# with one DTP node, and with two, one of them SIGKILLed and restarted by
# run.sh. They run the binaries of this build tree (dtp, taskpilot,
# tpgateway, tpctl).
tp_add_integration_test(tpctl TIMEOUT 180 LIBS PkgConfig::JANSSON)
if(TARGET tpctl_itest AND TARGET dtp AND TARGET taskpilot)
	# The test starts these binaries: build them first.
	add_dependencies(tpctl_itest tpctl dtp taskpilot)
endif()

add_test(NAME integration.run
	COMMAND ${CMAKE_SOURCE_DIR}/test/integration/run_test.sh)
add_test(NAME integration.run_nodes
	COMMAND ${CMAKE_SOURCE_DIR}/test/integration/run_test.sh --dtp-nodes 2)
set_tests_properties(integration.run integration.run_nodes PROPERTIES
	LABELS integration TIMEOUT 300
	ENVIRONMENT "TP_BUILD_DIR=${CMAKE_BINARY_DIR}")

# tpctl's TLS flags against an in-process server on tls+tcp:// (the
# certificates are made with the openssl command at test time).
tp_add_integration_test(tpctl_tls TIMEOUT 120 LIBS tp_rpc tp_proto)
if(TARGET tpctl_tls_itest)
	add_dependencies(tpctl_tls_itest tpctl)
endif()
