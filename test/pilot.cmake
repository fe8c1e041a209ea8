# pilot: TaskPilot's rules without I/O (unit), and the whole control plane
# against real PostgreSQL and real dtp and taskpilot processes (integration:
# binding and execution in pilot_test.c, the RPC surface and the store in
# pilot_api_test.c, the reconciler after crashes and the refresher in
# pilot_background_test.c, their shared fixture in pilot_util.c). The crash
# tests need -DTP_FAULTS=ON (scripts/test.sh sets it) and skip without it.
tp_add_unit_test(pilot_webtask LIBS tp_pilot PkgConfig::JANSSON)
if(TARGET dtp)
	foreach(t pilot pilot_api pilot_background)
		tp_add_integration_test(${t} TIMEOUT 300
			SOURCES integration/pilot_util.c
			LIBS tp_pilot PkgConfig::JANSSON Threads::Threads)
		# The tests start these binaries: build them first.
		add_dependencies(${t}_itest taskpilot dtp)
	endforeach()
endif()
