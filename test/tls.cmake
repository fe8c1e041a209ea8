# tls: TLS wired into the binaries end to end (taskpilot serving
# tls+tcp:// with mutual TLS, tpgateway dialing it, taskpilot's DTP client
# flags against an in-process TLS stand-in, the usage errors), with
# certificates made by the openssl command at test time.
if(TARGET dtp AND TARGET taskpilot AND TARGET tpgateway)
	tp_add_integration_test(tls_e2e TIMEOUT 240
		LIBS tp_rpc tp_proto PkgConfig::JANSSON Threads::Threads)
	# The test starts these binaries: build them first.
	add_dependencies(tls_e2e_itest dtp taskpilot tpgateway)
endif()
