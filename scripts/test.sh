#!/usr/bin/env bash
# test.sh: THE test command. Installs what is missing, then builds and runs
# the whole ctest suite twice: a Debug build in build-test/ and an Asan build
# (address + undefined behaviour sanitizers) in build-asan/. Integration
# tests start their own PostgreSQL cluster and use free ports. Exits non-zero
# when a build or a test fails; the last line says "N passed, N failed".
#
# Environment: TP_TEST_JOBS (parallel tests, default 2), CTEST_ARGS (extra
# ctest arguments, e.g. "-L unit" or "-R tpctl").
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
jobs=${TP_TEST_JOBS:-2}
read -r -a ctest_args <<<"${CTEST_ARGS:-}"

"$root/scripts/deps.sh"

passed=0
failed=0
start_all=$SECONDS
# Leak checks stay on; a sanitizer report fails the test that caused it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# suite TYPE DIR: configure, build and run ctest; adds to passed/failed.
suite() {
	local type=$1 dir=$root/$2 log start=$SECONDS total fails
	log=$(mktemp)
	echo "== $type: build in $2/" >&2
	if ! cmake -S "$root" -B "$dir" -DCMAKE_BUILD_TYPE="$type" \
		-DTP_FAULTS=ON >/dev/null ||
		! cmake --build "$dir" -j"$(nproc)"; then
		echo "== $type: the build failed" >&2
		failed=$((failed + 1))
		rm -f "$log"
		return
	fi
	echo "== $type: ctest" >&2
	ctest --test-dir "$dir" --output-on-failure -j"$jobs" \
		"${ctest_args[@]}" </dev/null 2>&1 | tee "$log" || true
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

suite Debug build-test
suite Asan build-asan

echo "== total time $((SECONDS - start_all))s" >&2
echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
