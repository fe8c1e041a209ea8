# rpc: the envelopes through nanopb (unit); the server and client over real
# sockets, over TLS (certificates made with the openssl command at test
# time), and the wire contract against Google's protoc (integration; they
# need no database).
tp_add_unit_test(envelope LIBS tp_proto)
tp_add_integration_test(rpc TIMEOUT 180 LIBS tp_rpc)
tp_add_integration_test(rpc_tls TIMEOUT 120 LIBS tp_rpc)
tp_add_integration_test(wire TIMEOUT 60 LIBS tp_proto)
target_compile_definitions(wire_itest PRIVATE TP_PROTOC="${PROTOC}")
