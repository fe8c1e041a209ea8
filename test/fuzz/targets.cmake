# targets.cmake: the fuzz targets of test/fuzz, shared by the replay tests
# (test/fuzz.cmake, every build) and the libFuzzer build
# (test/fuzz/CMakeLists.txt, TP_FUZZ=ON with clang). For each target <t>:
# test/fuzz/<t>.c, its libraries, and its seed corpus in corpus/<t>/.
set(TP_FUZZ_TARGETS json_body route query dtp_request pilot_request
	rpc_reply expo migration_name)
set(TP_FUZZ_LIBS_json_body tp_proto)
set(TP_FUZZ_LIBS_route tp_shim)
set(TP_FUZZ_LIBS_query tp_shim)
set(TP_FUZZ_LIBS_dtp_request tp_proto)
set(TP_FUZZ_LIBS_pilot_request tp_proto)
set(TP_FUZZ_LIBS_rpc_reply tp_shim)
set(TP_FUZZ_LIBS_expo tp_shim)
set(TP_FUZZ_LIBS_migration_name tp_db)
# rpc_reply drives the gateway's private reply mapping (shim/calls_int.h).
set(TP_FUZZ_INCLUDES_rpc_reply ${PROJECT_SOURCE_DIR}/shim)

# tp_fuzz_executable(exe target sources...): the executable of a target with
# its libraries; the caller adds main() (replay_main.c or libFuzzer's).
function(tp_fuzz_executable exe t)
	add_executable(${exe} ${PROJECT_SOURCE_DIR}/test/fuzz/${t}.c
		${TP_FUZZ_SOURCES_${t}} ${ARGN})
	target_include_directories(${exe} PRIVATE ${PROJECT_SOURCE_DIR}/test/fuzz
		${TP_FUZZ_INCLUDES_${t}})
	target_link_libraries(${exe} PRIVATE tp_options ${TP_FUZZ_LIBS_${t}})
endfunction()
