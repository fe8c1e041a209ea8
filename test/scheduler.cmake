# scheduler (DTP): the transition table and the retry backoff (unit, built
# from their sources alone); the dtp binary against real PostgreSQL over
# real sockets (integration).
tp_add_unit_test(transition
	SOURCES ${CMAKE_SOURCE_DIR}/scheduler/transition.c)
target_include_directories(transition_test PRIVATE
	${CMAKE_SOURCE_DIR}/scheduler/include)
tp_add_unit_test(backoff SOURCES ${CMAKE_SOURCE_DIR}/scheduler/backoff.c)
target_include_directories(backoff_test PRIVATE
	${CMAKE_SOURCE_DIR}/scheduler/include)

set(dtp_helpers ${CMAKE_CURRENT_SOURCE_DIR}/integration/dtp_helpers.c)
tp_add_integration_test(dtp TIMEOUT 180 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto)
tp_add_integration_test(dtp_nodes TIMEOUT 180 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto)
foreach(t dtp_itest dtp_nodes_itest)
	if(TARGET ${t})
		# They start the dtp binary.
		add_dependencies(${t} dtp)
	endif()
endforeach()
