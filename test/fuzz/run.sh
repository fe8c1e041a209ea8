#!/usr/bin/env bash
# run.sh: build the fuzz targets of test/fuzz with libFuzzer (clang,
# -fsanitize=fuzzer,address,undefined) in a build directory of their own and
# run each for FUZZ_SECONDS (default 60).
#
#   test/fuzz/run.sh [TARGET...]        all targets when none is named
#
# Environment: FUZZ_SECONDS (per target), FUZZ_BUILD_DIR (default
# <repo>/build-fuzz), FUZZ_CC (default clang), FUZZ_JOBS (build jobs).
#
# Each target starts from its seed corpus (test/fuzz/corpus/<target>/, kept
# in git) and its regression inputs (test/fuzz/regressions/<target>/); what
# the fuzzer learns goes to <build>/fuzz-corpus/<target>/, outside the
# source tree. An input that crashes, leaks or hangs is copied into
# test/fuzz/regressions/<target>/ (commit it with the fix: ctest replays it
# from then on, see test/fuzz.cmake) and the script exits 1.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${FUZZ_BUILD_DIR:-$root/build-fuzz}
secs=${FUZZ_SECONDS:-60}
cc=${FUZZ_CC:-clang}
jobs=${FUZZ_JOBS:-$(nproc)}

die() {
	echo "fuzz: $*" >&2
	exit 2
}

[[ $secs =~ ^[1-9][0-9]*$ ]] || die "FUZZ_SECONDS must be a positive integer"
command -v "$cc" >/dev/null || die "$cc not found (install clang)"

# The target list lives in targets.cmake, shared with CMake.
mapfile -t all < <(sed -n '/^set(TP_FUZZ_TARGETS/,/)/p' "$here/targets.cmake" |
	tr '()' '  ' | tr -s ' \t' '\n' | grep -v -e '^set$' -e '^TP_FUZZ_TARGETS$' -e '^$')
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
	targets=("${all[@]}")
fi
for t in "${targets[@]}"; do
	[[ " ${all[*]} " == *" $t "* ]] || die "unknown target $t (known: ${all[*]})"
done

mkdir -p "$build"
if ! cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER="$cc" \
	-DCMAKE_BUILD_TYPE=Asan -DTP_FUZZ=ON >"$build/fuzz-build.log" 2>&1 ||
	! cmake --build "$build" -j"$jobs" --target "${targets[@]/#/fuzz_}" \
		>>"$build/fuzz-build.log" 2>&1; then
	cat "$build/fuzz-build.log" >&2
	die "could not build the fuzz targets"
fi

found=()
for t in "${targets[@]}"; do
	work=$build/fuzz-corpus/$t
	art=$build/fuzz-artifacts/$t
	reg=$here/regressions/$t
	mkdir -p "$work" "$art"
	rm -f "$art"/*
	seeds=("$here/corpus/$t")
	if [[ -d $reg ]]; then
		seeds+=("$reg")
	fi
	dict=()
	if [[ -f $here/$t.dict ]]; then
		dict=(-dict="$here/$t.dict")
	fi
	echo "fuzz: $t for ${secs}s" >&2
	set +e
	"$build/fuzz/fuzz_$t" -max_total_time="$secs" -timeout=10 \
		-rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 \
		-artifact_prefix="$art/" "${dict[@]}" "$work" "${seeds[@]}" \
		>"$build/fuzz-$t.log" 2>&1
	rc=$?
	set -e
	grep -E '^stat::(number_of_executed_units|new_units_added)' \
		"$build/fuzz-$t.log" | sed "s/^/fuzz: $t /" >&2 || true
	shopt -s nullglob
	crashes=("$art"/crash-* "$art"/leak-* "$art"/timeout-* "$art"/oom-*)
	shopt -u nullglob
	if [[ $rc -ne 0 || ${#crashes[@]} -gt 0 ]]; then
		mkdir -p "$reg"
		for f in "${crashes[@]}"; do
			cp "$f" "$reg/"
			echo "fuzz: $t: kept $reg/$(basename "$f")" >&2
		done
		echo "fuzz: $t failed (status $rc); log: $build/fuzz-$t.log" >&2
		found+=("$t")
	fi
done

if [[ ${#found[@]} -gt 0 ]]; then
	echo "fuzz: problems found in: ${found[*]}" >&2
	exit 1
fi
echo "fuzz: no problem found in ${targets[*]} (${secs}s each)" >&2
