# chaos: the reliability scenarios of docs/RELIABILITY.md. Real processes
# (dtp, taskpilot, tpgateway), real PostgreSQL, faults injected from outside
# (SIGKILL, server restarts, terminated backends, a proxy that cuts a node
# off its database) and through the fault points (-DTP_FAULTS=ON; the
# tests that need them skip without). Each scenario ends with the invariant
# checker (integration/invariants.c). Labels: integration and chaos, so
# `ctest -L chaos` runs just these.
if(TARGET dtp AND TARGET taskpilot AND TARGET tpgateway)
	set(tp_chaos_sources ${CMAKE_CURRENT_SOURCE_DIR}/integration/chaos_util.c
		${CMAKE_CURRENT_SOURCE_DIR}/integration/invariants.c
		${CMAKE_CURRENT_SOURCE_DIR}/integration/dtp_helpers.c)
	foreach(t IN ITEMS chaos_checker:60 chaos_kill:240 chaos_pg_restart:240
			chaos_pg_terminate:180 chaos_bind:240 chaos_partition:180
			chaos_input:180)
		string(REPLACE ":" ";" parts ${t})
		list(GET parts 0 name)
		list(GET parts 1 timeout)
		tp_add_integration_test(${name} TIMEOUT ${timeout}
			SOURCES ${tp_chaos_sources}
			LIBS tp_db tp_rpc tp_proto PkgConfig::JANSSON
			Threads::Threads)
		set_property(TEST integration.${name} APPEND PROPERTY LABELS chaos)
		# The scenarios start these binaries: build them first.
		add_dependencies(${name}_itest dtp taskpilot tpgateway)
	endforeach()
endif()
