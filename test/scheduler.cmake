# scheduler (DTP): the transition table, the retry backoff, the metrics
# exposition, the --exec list and the running job (unit); the dtp binary,
# several nodes, exec types and worker binaries of one's own against real
# PostgreSQL over real sockets (integration).
set(tp_sched_private ${CMAKE_SOURCE_DIR}/scheduler)
tp_add_unit_test(transition
	SOURCES ${CMAKE_SOURCE_DIR}/scheduler/transition.c)
target_include_directories(transition_test PRIVATE
	${CMAKE_SOURCE_DIR}/scheduler/include)
tp_add_unit_test(backoff SOURCES ${CMAKE_SOURCE_DIR}/scheduler/backoff.c)
target_include_directories(backoff_test PRIVATE
	${CMAKE_SOURCE_DIR}/scheduler/include)
# The exposition is checked with the gateway's strict parser (shim/expo.h).
if(TARGET tp_shim)
	tp_add_unit_test(dtp_metrics LIBS tp_scheduler tp_shim Threads::Threads)
	target_include_directories(dtp_metrics_test PRIVATE ${tp_sched_private})
endif()
tp_add_unit_test(exec_spec LIBS tp_scheduler)
target_include_directories(exec_spec_test PRIVATE ${tp_sched_private})
tp_add_unit_test(job LIBS tp_scheduler Threads::Threads)
target_include_directories(job_test PRIVATE ${tp_sched_private})

# A worker binary for the tests: the built-ins plus handlers no real worker
# should have (one that ignores its stop flag).
add_executable(dtp_test_worker integration/dtp_test_worker.c)
target_link_libraries(dtp_test_worker PRIVATE tp_scheduler tp_options)
set_target_properties(dtp_test_worker PROPERTIES RUNTIME_OUTPUT_DIRECTORY
	${CMAKE_BINARY_DIR})

set(dtp_helpers ${CMAKE_CURRENT_SOURCE_DIR}/integration/dtp_helpers.c
	${CMAKE_CURRENT_SOURCE_DIR}/integration/dtp_metric.c)
tp_add_integration_test(dtp TIMEOUT 180 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto tp_shim)
tp_add_integration_test(dtp_nodes TIMEOUT 180 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto tp_shim)
tp_add_integration_test(dtp_exec TIMEOUT 120 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto tp_shim)
tp_add_integration_test(dtp_workers TIMEOUT 120 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto tp_shim)
foreach(t dtp_itest dtp_nodes_itest dtp_exec_itest dtp_workers_itest)
	if(TARGET ${t})
		# They start these binaries.
		add_dependencies(${t} dtp dtp_my_worker dtp_test_worker)
	endif()
endforeach()
# The group commit of successes: a burn-down with 16 workers.
tp_add_integration_test(dtp_finish_batch TIMEOUT 180 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto tp_shim)
if(TARGET dtp_finish_batch_itest)
	add_dependencies(dtp_finish_batch_itest dtp)
endif()
# The group commit of creates: client threads calling CreateTask at once.
tp_add_integration_test(dtp_create_batch TIMEOUT 180 SOURCES ${dtp_helpers}
	LIBS tp_db tp_rpc tp_proto tp_shim Threads::Threads)
if(TARGET dtp_create_batch_itest)
	add_dependencies(dtp_create_batch_itest dtp)
endif()
