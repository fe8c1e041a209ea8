# shim: the gateway's router, status table and token check, its metrics and
# its strict Prometheus text parser, and the JSON view of the
# messages (unit); the REST routes against real PostgreSQL and real dtp,
# taskpilot and tpgateway processes (integration), and docs/openapi.yaml
# checked against them (integration, Python).
tp_add_unit_test(route LIBS tp_shim)
tp_add_unit_test(http_status LIBS tp_shim)
tp_add_unit_test(json LIBS tp_proto)
tp_add_unit_test(expo LIBS tp_shim)
tp_add_unit_test(metrics LIBS tp_shim Threads::Threads)
# The /metrics hook is private to the shim (calls_int.h).
tp_add_unit_test(upstream LIBS tp_shim)
target_include_directories(upstream_test PRIVATE ${CMAKE_SOURCE_DIR}/shim)
if(TARGET dtp AND TARGET taskpilot)
	tp_add_integration_test(gateway TIMEOUT 180
		LIBS tp_shim tp_proto PkgConfig::JANSSON)
	# The test starts these binaries: build them first.
	add_dependencies(gateway_itest dtp taskpilot tpgateway)
endif()

# docs/openapi.yaml against the real binaries: Debian's python3 with
# python3-yaml and python3-jsonschema (scripts/deps.sh); the script starts
# its own database, services and gateways.
find_program(TP_SYSTEM_PYTHON3 python3 PATHS /usr/bin NO_DEFAULT_PATH)
if(TARGET dtp AND TARGET taskpilot AND TP_SYSTEM_PYTHON3)
	add_test(NAME integration.openapi COMMAND ${TP_SYSTEM_PYTHON3}
		${CMAKE_CURRENT_SOURCE_DIR}/integration/openapi_conformance.py
		--spec ${CMAKE_SOURCE_DIR}/docs/openapi.yaml
		--routes ${CMAKE_SOURCE_DIR}/shim/route.c)
	set_tests_properties(integration.openapi PROPERTIES LABELS integration
		TIMEOUT 180 FIXTURES_REQUIRED pg
		ENVIRONMENT "TP_TEST_PG_DIR=${TP_TEST_PG_DIR};TP_BIN_DIR=${CMAKE_BINARY_DIR}")
endif()
