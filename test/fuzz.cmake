# fuzz: every fuzz target of test/fuzz (targets.cmake) built with a plain
# main() that replays its seed corpus and its regression inputs, so each
# ctest run checks them (label unit); test/fuzz/run.sh is the libFuzzer run.
include(${CMAKE_CURRENT_SOURCE_DIR}/fuzz/targets.cmake)
foreach(t ${TP_FUZZ_TARGETS})
	tp_fuzz_executable(fuzz_${t}_replay ${t}
		${CMAKE_CURRENT_SOURCE_DIR}/fuzz/replay_main.c)
	add_test(NAME fuzz.${t} COMMAND fuzz_${t}_replay
		${CMAKE_CURRENT_SOURCE_DIR}/fuzz/corpus/${t}
		${CMAKE_CURRENT_SOURCE_DIR}/fuzz/regressions/${t})
	set_tests_properties(fuzz.${t} PROPERTIES LABELS unit TIMEOUT 60)
endforeach()
