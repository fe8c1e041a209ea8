# bench: tpload, the load-testing harness, against servers of the test's own:
# its open loop counts latency from each operation's intended start (a
# stalled server shows up as queueing), and its REST client reconnects when
# a keep-alive connection is dropped; and against a real dtp, its
# asynchronous calls count exactly the operations asked for. The benchmarks
# themselves are bench/run.sh, not tests.
tp_add_integration_test(tpload_sched TIMEOUT 60 LIBS tp_rpc
	PkgConfig::JANSSON)
if(TARGET tpload_sched_itest AND TARGET tpload AND TARGET dtp)
	add_dependencies(tpload_sched_itest tpload dtp)
endif()
