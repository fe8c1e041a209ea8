#!/usr/bin/env bash
# test.sh: THE test command. Installs what is missing, then builds and runs
# the whole ctest suite twice, in a Debug build (build-test/) and an Asan
# build (address + undefined behaviour sanitizers, build-asan/); then the
# thread-sensitive tests (the unit tests and integration.rpc, rpc_tls, dtp,
# dtp_nodes, gateway: the RPC server and client, the worker pool, leases,
# the gateway) in a Tsan build (build-tsan/); then a short libFuzzer pass
# over every fuzz target (test/fuzz/run.sh, with clang). Integration tests
# start their own PostgreSQL cluster and use free ports. Each ctest test and
# each fuzz target counts as one item, a failed build as one failed item;
# the last line says "N passed, N failed", and the exit status is non-zero
# when anything failed.
#
# Environment:
#   TP_TEST_SUITES   which parts run (default "debug asan tsan fuzz")
#   TP_TEST_JOBS     parallel tests (default 2)
#   CTEST_ARGS       extra ctest arguments of the Debug and Asan runs, e.g.
#                    "-L unit" or "-R tpctl"
#   TSAN_CTEST_ARGS  the ctest arguments of the Tsan run (default: -R and
#                    the tests above)
#   FUZZ_SECONDS     per fuzz target (default 15)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${TP_TEST_JOBS:-2}
suites=" ${TP_TEST_SUITES:-debug asan tsan fuzz} "
read -r -a ctest_args <<<"${CTEST_ARGS:-}"
tsan_regex='^(unit\..*|integration\.(rpc|rpc_tls|dtp|dtp_nodes|dtp_exec|dtp_workers|dtp_finish_batch|dtp_create_batch|gateway))$'
read -r -a tsan_args <<<"${TSAN_CTEST_ARGS:--R $tsan_regex}"
export FUZZ_SECONDS=${FUZZ_SECONDS:-15}

"$root/scripts/deps.sh"

passed=0
failed=0
start_all=$SECONDS
# Leak checks stay on; a sanitizer report fails the test that caused it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# A race report makes the process exit 66 at its end: the test fails.
export TSAN_OPTIONS=${TSAN_OPTIONS:-second_deadlock_stack=1:history_size=4}

# test_targets DIR CTEST_ARGS...: the build targets of the tests ctest
# selects (unit.X: X_test, integration.X: X_itest, fuzz.X: fuzz_X_replay;
# the binaries they start are their dependencies).
test_targets() {
	local dir=$1
	shift
	ctest --test-dir "$dir" -N "$@" 2>/dev/null | sed -nE \
		-e 's/^ *Test +#[0-9]+: unit\.([A-Za-z0-9_]+)$/\1_test/p' \
		-e 's/^ *Test +#[0-9]+: integration\.([A-Za-z0-9_]+)$/\1_itest/p' \
		-e 's/^ *Test +#[0-9]+: fuzz\.([A-Za-z0-9_]+)$/fuzz_\1_replay/p'
}

# suite TYPE DIR all|selected CTEST_ARGS...: configure, build (everything,
# or only what the selected tests need) and run ctest; adds to
# passed/failed.
suite() {
	local type=$1 dir=$root/$2 what=$3 log start=$SECONDS total fails
	local targets=()
	shift 3
	echo "== $type: build in ${dir#"$root"/}/" >&2
	if ! cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" \
		-DTP_FAULTS=ON >/dev/null; then
		echo "== $type: the configure step failed" >&2
		failed=$((failed + 1))
		return
	fi
	if [[ $what == selected ]]; then
		mapfile -t targets < <(test_targets "$dir" "$@")
		targets=(--target "${targets[@]}")
	fi
	if ! cmake --build "$dir" -j"$(nproc)" "${targets[@]}"; then
		echo "== $type: the build failed" >&2
		failed=$((failed + 1))
		return
	fi
	log=$(mktemp)
	echo "== $type: ctest $*" >&2
	ctest --test-dir "$dir" --output-on-failure -j"$jobs" "$@" \
		</dev/null 2>&1 | tee "$log" || true
	# "100% tests passed, 0 tests failed out of 42"
	read -r fails total < <(sed -nE \
		's/.* tests passed, ([0-9]+) tests? failed out of ([0-9]+).*/\1 \2/p' \
		"$log" | tail -n 1) || true
	if [[ -z ${total:-} ]]; then
		echo "== $type: ctest did not report a result" >&2
		failed=$((failed + 1))
	else
		passed=$((passed + total - fails))
		failed=$((failed + fails))
	fi
	echo "== $type: done in $((SECONDS - start))s" >&2
	rm -f "$log"
}

# fuzz: each target of test/fuzz for FUZZ_SECONDS with libFuzzer, one item
# each. The targets are the ones the Debug build replays (ctest's fuzz.*).
fuzz() {
	local start=$SECONDS t targets=()
	if [[ ! -x $root/test/fuzz/run.sh ]]; then
		echo "== fuzz: no test/fuzz/run.sh: skipped" >&2
		return
	fi
	if ! command -v clang >/dev/null; then
		echo "== fuzz: clang is not installed (scripts/deps.sh installs it): skipped" >&2
		return
	fi
	cmake -S "$root" -B "$root/build-test" -DCMAKE_BUILD_TYPE=Debug \
		-DTP_FAULTS=ON >/dev/null
	mapfile -t targets < <(ctest --test-dir "$root/build-test" -N -R '^fuzz\.' |
		sed -nE 's/^ *Test +#[0-9]+: fuzz\.([a-z0-9_]+)$/\1/p')
	if [[ ${#targets[@]} -eq 0 ]]; then
		echo "== fuzz: no fuzz.* test names the targets" >&2
		failed=$((failed + 1))
		return
	fi
	echo "== fuzz: ${targets[*]}, ${FUZZ_SECONDS}s each" >&2
	for t in "${targets[@]}"; do
		if "$root/test/fuzz/run.sh" "$t" </dev/null; then
			passed=$((passed + 1))
		else
			echo "== fuzz: $t failed" >&2
			failed=$((failed + 1))
		fi
	done
	echo "== fuzz: done in $((SECONDS - start))s" >&2
}

if [[ $suites == *" debug "* ]]; then
	suite Debug build-test all "${ctest_args[@]}"
fi
if [[ $suites == *" asan "* ]]; then
	suite Asan build-asan all "${ctest_args[@]}"
fi
if [[ $suites == *" tsan "* ]]; then
	suite Tsan build-tsan selected "${tsan_args[@]}"
fi
if [[ $suites == *" fuzz "* ]]; then
	fuzz
fi

echo "== total time $((SECONDS - start_all))s" >&2
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
