#!/usr/bin/env bash
# bench/run.sh: the benchmarks of the performance bar. Starts a private
# PostgreSQL (fsync on), measures the floors (pgbench, raw nng), starts dtp,
# taskpilot and tpgateway from a Release build with explicit addresses, runs
# the named scenarios with tpload, prints a markdown table of every figure
# with its target and its ratio to the relevant floor, and appends the run
# to bench/RESULTS.md. bench/README.md says what each scenario measures.
#
#   bench/run.sh [--help] [--list] [scenario...]     (default: all, in order)
#
# Scenarios: floor rpc-create rpc-get rest-create rest-get bind burndown
# steady latency memory. Ratios need the floors: run `floor` with the others.
#
# Environment:
#   TP_BUILD_DIR    Release build directory (default build-bench/; configured
#                   and built when needed: only the binaries the bench runs)
#   BENCH_DIR       work folder: cluster, logs, raw outputs
#                   (default $TP_BUILD_DIR/bench-run; wiped at each run)
#   BENCH_SECONDS   measured seconds of each throughput scenario (default 10)
#   BENCH_BACKLOG   tasks of the burn-down and of the memory check (100000)
#   BENCH_WORKERS   dtp --workers (default 16)
#   BENCH_LATENCY_RATE  creates per second of the latency scenario (1000)
#   BENCH_PERF      1: record a system-wide perf profile of every scenario
#                   into $BENCH_DIR/perf/ (reports as text next to them)
#   BENCH_RECORD    0: do not append the run to bench/RESULTS.md
#   BENCH_KEEP      1: leave the cluster and the services running at the end
#   BENCH_BUILD     0: run the binaries in TP_BUILD_DIR as they are
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ALL=(floor rpc-create rpc-get rest-create rest-get bind burndown steady
	latency memory)

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

scenarios=()
for arg in "$@"; do
	case $arg in
	-h | --help)
		usage
		exit 0
		;;
	--list)
		printf '%s\n' "${ALL[@]}"
		exit 0
		;;
	-*)
		echo "bench: unknown flag \"$arg\" (try --help)" >&2
		exit 2
		;;
	*)
		ok=0
		for s in "${ALL[@]}"; do
			[[ $s == "$arg" ]] && ok=1
		done
		if [[ $ok -eq 0 ]]; then
			echo "bench: unknown scenario \"$arg\"; one of: ${ALL[*]}" >&2
			exit 2
		fi
		scenarios+=("$arg")
		;;
	esac
done
# In the canonical order, whatever order they were given in.
want=()
for s in "${ALL[@]}"; do
	if [[ ${#scenarios[@]} -eq 0 ]] || [[ " ${scenarios[*]} " == *" $s "* ]]; then
		want+=("$s")
	fi
done

SECONDS_EACH=${BENCH_SECONDS:-10}
BACKLOG=${BENCH_BACKLOG:-100000}
WORKERS=${BENCH_WORKERS:-16}
LAT_RATE=${BENCH_LATENCY_RATE:-1000}
PERF=${BENCH_PERF:-0}
RECORD=${BENCH_RECORD:-1}
KEEP=${BENCH_KEEP:-0}
FLOOR_SECONDS=8
WARMUP=2
PRELOAD_ROWS=100000

bin=${TP_BUILD_DIR:-$root/build-bench}
mkdir -p "$bin"
bin=$(cd "$bin" && pwd)
work=${BENCH_DIR:-$bin/bench-run}

t_start=$(date +%s)
say() { printf 'bench: %s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() {
	say "$*"
	exit 1
}

for tool in jq psql curl ss; do
	command -v "$tool" >/dev/null || die "$tool is needed"
done

# --- build -----------------------------------------------------------------
if [[ ! -f $bin/CMakeCache.txt ]]; then
	cmake -S "$root" -B "$bin" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$bin/CMakeCache.txt")
if [[ $build_type != Release ]]; then
	die "$bin is a $build_type build: benchmarks run a Release build"
fi
if [[ ${BENCH_BUILD:-1} == 1 ]]; then
	say "building dtp taskpilot tpgateway tpload nng_floor in $bin"
	cmake --build "$bin" -j"$(nproc)" --target dtp taskpilot tpgateway \
		tpload nng_floor >"$bin/bench-build.log" 2>&1 || {
		tail -n 30 "$bin/bench-build.log" >&2
		die "build failed (log: $bin/bench-build.log)"
	}
else
	say "not building (BENCH_BUILD=0): running the binaries in $bin as they are"
	: >"$bin/bench-build.log"
fi
for b in dtp taskpilot tpgateway tpload nng_floor; do
	[[ -x $bin/$b ]] || die "$bin/$b is missing"
done
nng_floor=$bin/nng_floor

# --- state -----------------------------------------------------------------
# The work folder is wiped at each run: only one this script made.
if [[ -e $work && ! -f $work/.bench-run ]] &&
	[[ -n $(ls -A "$work" 2>/dev/null) ]]; then
	die "$work exists and is not a bench work folder: set BENCH_DIR elsewhere"
fi
# What an earlier BENCH_KEEP=1 run left running goes first.
if [[ -f $work/kept.pids ]]; then
	for p in $(<"$work/kept.pids"); do
		if [[ $(readlink "/proc/$p/exe" 2>/dev/null) == "$bin"/* ]]; then
			kill -TERM "$p" 2>/dev/null || true
			for ((i = 0; i < 100; i++)); do
				kill -0 "$p" 2>/dev/null || break
				sleep 0.1
			done
		fi
	done
fi
if [[ -d $work/pg ]]; then
	"$root/scripts/pg.sh" stop "$work/pg" >/dev/null 2>&1 || true
fi
rm -rf "$work"
mkdir -p "$work/out" "$work/logs"
: >"$work/.bench-run"
out=$work/out
logs=$work/logs
pg_dir=$work/pg

declare -A M      # figures by name
incidents=()      # what went wrong, for the notes
declare -A PID    # service name -> pid
declare -A RUNS   # service name -> starts so far
declare -A STARTED # service name -> 1 once it was ready

cleanup() {
	local rc=$? name
	trap '' INT TERM HUP
	if [[ $KEEP == 1 ]]; then
		echo "${PID[*]:-}" >"$work/kept.pids"
		say "kept running: cluster $(cat "$pg_dir/url" 2>/dev/null) in $pg_dir; dtp ${DTP_URL:-}, taskpilot ${PILOT_URL:-}, tpgateway ${GW_DTP:-} ${GW_PILOT:-} (pids ${PID[*]:-}); the next run stops them"
		exit "$rc"
	fi
	for name in tpgateway taskpilot dtp; do
		if [[ -n ${PID[$name]:-} ]]; then
			stop_service "$name" || true
		fi
	done
	"$root/scripts/pg.sh" stop "$pg_dir" >/dev/null 2>&1 || true
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM HUP

# pick_port: a free port below the kernel's ephemeral range (where
# outgoing connections would take it from under us).
pick_port() {
	local i port low
	read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	((low > 21000)) || low=32768
	for ((i = 0; i < 100; i++)); do
		port=$((((RANDOM << 15) | RANDOM) % (low - 20000) + 20000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			echo "$port"
			return
		fi
	done
	die "no free port"
}

# --- PostgreSQL --------------------------------------------------------------
say "starting PostgreSQL (fsync on) in $pg_dir"
"$root/scripts/pg.sh" start "$pg_dir" >/dev/null
server_url=$(<"$pg_dir/url")
# pg_stat_statements counts the statements per task; commit timestamps give
# the moment a task's SUCCEEDED was committed. Both need a restart.
psql "$server_url" -XqA -v ON_ERROR_STOP=1 <<'EOF' >/dev/null
ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements';
ALTER SYSTEM SET track_commit_timestamp = on;
EOF
"$root/scripts/pg.sh" stop "$pg_dir" >/dev/null
"$root/scripts/pg.sh" start "$pg_dir" >/dev/null
server_url=$(<"$pg_dir/url")
base_url=${server_url%/*}
psql "$server_url" -XqA -v ON_ERROR_STOP=1 \
	-c 'CREATE DATABASE tp' -c 'CREATE DATABASE floor' >/dev/null
TP_DB=$base_url/tp
FLOOR_DB=$base_url/floor
psql "$TP_DB" -XqA -v ON_ERROR_STOP=1 \
	-c 'CREATE EXTENSION pg_stat_statements' >/dev/null
pg_version=$(psql "$server_url" -XtAc 'SHOW server_version')
pg_settings=$(psql "$server_url" -XtA -F= -c "SELECT name, setting FROM
	pg_settings WHERE name IN ('fsync', 'synchronous_commit',
	'shared_buffers', 'wal_sync_method', 'max_wal_size',
	'full_page_writes') ORDER BY name" | paste -sd' ')

# q SQL: one value (or rows) from the services' database.
q() {
	psql "$TP_DB" -XtAq -v ON_ERROR_STOP=1 -c "$1"
}

# --- services ----------------------------------------------------------------
DTP_PORT=$(pick_port)
PILOT_PORT=$(pick_port)
GW_DTP_PORT=$(pick_port)
GW_PILOT_PORT=$(pick_port)
DTP_URL=tcp://127.0.0.1:$DTP_PORT
PILOT_URL=tcp://127.0.0.1:$PILOT_PORT
GW_DTP=http://127.0.0.1:$GW_DTP_PORT
GW_PILOT=http://127.0.0.1:$GW_PILOT_PORT

repick_port() {
	case $1 in
	dtp)
		DTP_PORT=$(pick_port)
		DTP_URL=tcp://127.0.0.1:$DTP_PORT
		;;
	taskpilot)
		PILOT_PORT=$(pick_port)
		PILOT_URL=tcp://127.0.0.1:$PILOT_PORT
		;;
	tpgateway)
		GW_DTP_PORT=$(pick_port)
		GW_PILOT_PORT=$(pick_port)
		GW_DTP=http://127.0.0.1:$GW_DTP_PORT
		GW_PILOT=http://127.0.0.1:$GW_PILOT_PORT
		;;
	esac
}

service_argv() {
	case $1 in
	dtp)
		echo "$bin/dtp --listen $DTP_URL --database-url $TP_DB" \
			"--workers $WORKERS"
		;;
	taskpilot)
		echo "$bin/taskpilot --listen $PILOT_URL --database-url $TP_DB" \
			"--dtp-url $DTP_URL"
		;;
	tpgateway)
		echo "$bin/tpgateway --dtp-listen 127.0.0.1:$GW_DTP_PORT" \
			"--pilot-listen 127.0.0.1:$GW_PILOT_PORT --dtp-url $DTP_URL" \
			"--pilot-url $PILOT_URL"
		;;
	esac
}

# start_service NAME: starts it (its own session, log in logs/NAME.N.log)
# and waits until it logs `ready`, up to 60 s. At its first start, a port
# someone took since we picked it is picked again.
start_service() {
	local name=$1 n log i
	n=$((${RUNS[$name]:-0} + 1))
	RUNS[$name]=$n
	log=$logs/$name.$n.log
	: >"$log"
	# shellcheck disable=SC2046
	setsid $(service_argv "$name") </dev/null >"$log" 2>&1 &
	PID[$name]=$!
	for ((i = 0; i < 600; i++)); do
		if ! kill -0 "${PID[$name]}" 2>/dev/null; then
			wait "${PID[$name]}" 2>/dev/null || true
			if [[ -z ${STARTED[$name]:-} ]] && ((n <= 3)) &&
				grep -q 'Address in use\|already in use' "$log"; then
				say "$name: its port was taken: picking another"
				repick_port "$name"
				start_service "$name"
				return
			fi
			tail -n 20 "$log" >&2
			die "$name exited at start (log: $log)"
		fi
		if grep -qE "^[^ ]+ info $name ready( |\$)" "$log"; then
			STARTED[$name]=1
			return
		fi
		sleep 0.1
	done
	die "$name was not ready within 60 s (log: $log)"
}

# stop_service NAME: SIGTERM, up to 30 s, then SIGKILL; fails unless it
# stopped with status 0.
stop_service() {
	local name=$1 pid=${PID[$1]} rc=0 i
	unset "PID[$name]"
	kill -TERM "$pid" 2>/dev/null || true
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		kill -KILL "$pid" 2>/dev/null || true
		incidents+=("$name did not stop within 30 s of SIGTERM: killed")
	fi
	wait "$pid" 2>/dev/null || rc=$?
	if [[ $rc -ne 0 ]]; then
		incidents+=("$name exited with status $rc on SIGTERM (log: $logs/$name.${RUNS[$name]}.log)")
		return 1
	fi
}

# check_services SCENARIO: a service that died during SCENARIO is an
# incident (with the end of its log); it is started again.
check_services() {
	local scen=$1 name rc log
	for name in dtp taskpilot tpgateway; do
		[[ -n ${PID[$name]:-} ]] || continue
		if ! kill -0 "${PID[$name]}" 2>/dev/null; then
			rc=0
			wait "${PID[$name]}" 2>/dev/null || rc=$?
			log=$logs/$name.${RUNS[$name]}.log
			incidents+=("$name died during $scen (status $rc); end of $log: $(tail -n 3 "$log" | cut -c1-300 | paste -sd'|')")
			say "$name died during $scen (status $rc): starting it again"
			unset "PID[$name]"
			start_service "$name"
		fi
	done
}

wait_http() {
	local url=$1 i
	for ((i = 0; i < 300; i++)); do
		curl -fsS -o /dev/null "$url" 2>/dev/null && return
		sleep 0.1
	done
	die "$url did not answer within 30 s"
}

# rss NAME: "VmRSS VmHWM" of a service in KiB.
rss() {
	awk '/^VmRSS:/ {r = $2} /^VmHWM:/ {h = $2} END {print r, h}' \
		"/proc/${PID[$1]}/status"
}

# --- measuring helpers ---------------------------------------------------------
perf_pid=
perf_start() {
	[[ $PERF == 1 ]] || return 0
	mkdir -p "$work/perf"
	perf record -a -g -F 499 -o "$work/perf/$1.data" -- sleep "$2" \
		>/dev/null 2>&1 &
	perf_pid=$!
}
perf_finish() {
	[[ $PERF == 1 && -n $perf_pid ]] || return 0
	wait "$perf_pid" || true
	perf_pid=
	perf report -i "$work/perf/$1.data" --stdio --no-children \
		--sort comm >"$work/perf/$1.comm.txt" 2>/dev/null || true
	perf report -i "$work/perf/$1.data" --stdio --no-children -g none \
		--sort comm,dso,sym --percent-limit 0.5 \
		>"$work/perf/$1.sym.txt" 2>/dev/null || true
	say "profile: $work/perf/$1.{comm,sym}.txt"
}

# tpload NAME ARGS...: runs tpload (bounded in time), checks it exited 0 and
# that its summary adds up, leaves out/NAME.json.
run_tpload() {
	local name=$1 rc=0 limit
	shift
	limit=$((SECONDS_EACH * 3 + 600))
	timeout "$limit" "$bin/tpload" "$@" --json "$out/$name.json" \
		>"$out/$name.txt" 2>"$out/$name.progress" || rc=$?
	if [[ $rc -ne 0 ]]; then
		incidents+=("tpload $name exited with status $rc: $(tail -n 2 "$out/$name.progress" | paste -sd'|')")
		return 1
	fi
	check_summary "$name"
}

# check_summary NAME: ok + errors by status = operations, in out/NAME.json.
check_summary() {
	if ! jq -e '(.errors == ([.errorsByStatus[]] | add // 0)) and
		(.latency.count == .ok)' "$out/$1.json" >/dev/null; then
		incidents+=("tpload $1: the summary does not add up")
	fi
}

j() { jq -r "$2" "$out/$1.json"; }

# errors NAME: "0", or "N (STATUS n, ...)".
errors_of() {
	jq -r 'if .errors == 0 then "0" else "\(.errors) (" +
		([.errorsByStatus | to_entries[] | "\(.key) \(.value)"] |
		join(", ")) + ")" end' "$out/$1.json"
}

# drain: wait until no task is due and unfinished (created by an earlier
# scenario), up to 300 s, so each scenario starts on an idle node.
drain() {
	local n i t0
	t0=$(date +%s)
	for ((i = 0; i < 1500; i++)); do
		n=$(q "SELECT count(*) FROM dtp.task /* bench-probe */
			WHERE status IN ('PENDING', 'RUNNING') AND run_at <= now()")
		[[ $n -eq 0 ]] && break
		check_services drain
		sleep 0.2
	done
	if [[ $n -ne 0 ]]; then
		incidents+=("$n tasks were still unfinished after 300 s of draining")
	elif (($(date +%s) - t0 > 1)); then
		say "drained the earlier scenarios' tasks in $(($(date +%s) - t0)) s"
	fi
}

# pct FILE P: the P-th percentile of the numbers in FILE, one per line,
# sorted ascending.
pct() {
	awk -v p="$2" '{v[NR] = $1} END {if (NR == 0) {print 0; exit}
		i = int(NR * p / 100 + 0.999999); if (i < 1) i = 1;
		if (i > NR) i = NR; print v[i]}' "$1"
}

# xacts: committed + rolled back transactions of the services' database.
# A backend reports its counts when idle at most once a second, or later,
# and always when it exits: stop dtp before reading them.
xacts() {
	q "SELECT xact_commit + xact_rollback /* bench-probe */
		FROM pg_stat_database WHERE datname = 'tp'"
}

# statements: statements run in the services' database since the last
# pg_stat_statements_reset(), the bench's own probes left out.
statements() {
	q "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements s
		JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = 'tp' AND s.query NOT LIKE '%bench-probe%'
		AND s.query NOT LIKE '%pg_stat%'"
}

top_statements() {
	psql "$TP_DB" -XqA -F' | ' -v ON_ERROR_STOP=1 -c "SELECT calls,
		round(total_exec_time::numeric, 1) AS total_ms,
		round(mean_exec_time::numeric, 3) AS mean_ms, rows,
		left(regexp_replace(query, '\s+', ' ', 'g'), 140) AS query
		FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
		WHERE d.datname = 'tp' AND s.query NOT LIKE '%bench-probe%'
		AND s.query NOT LIKE '%pg_stat%'
		ORDER BY total_exec_time DESC LIMIT 12" >"$1"
}

# --- floors ------------------------------------------------------------------------
# pgb NAME CLIENTS SCRIPT: a pgbench run against the floor database; sets
# M[NAME.tps], M[NAME.p50], M[NAME.p99] (ms).
pgb() {
	local name=$1 clients=$2 script=$3 jobs=$2 lat
	((jobs > 2)) && jobs=2
	mkdir -p "$out/pgb-$name"
	(cd "$out/pgb-$name" && "$pgbench" -n -M prepared -c "$clients" \
		-j "$jobs" -T "$FLOOR_SECONDS" -D rows=$PRELOAD_ROWS \
		-f "$root/bench/pg/$script" -l --log-prefix=log "$FLOOR_DB" \
		>"$out/pgb-$name.txt" 2>&1) ||
		die "pgbench $name failed: $(tail -n 5 "$out/pgb-$name.txt")"
	M[$name.tps]=$(sed -nE 's/^tps = ([0-9]+)[0-9.]* .*without initial.*/\1/p' \
		"$out/pgb-$name.txt")
	lat=$out/pgb-$name/lat
	cat "$out/pgb-$name"/log* | awk '{print $3 / 1000}' | sort -g >"$lat"
	M[$name.p50]=$(pct "$lat" 50)
	M[$name.p99]=$(pct "$lat" 99)
	rm -f "$out/pgb-$name"/log*
	say "floor $name: ${M[$name.tps]} tps, p50 ${M[$name.p50]} ms, p99 ${M[$name.p99]} ms"
}

# nngf NAME URL INFLIGHT: sets M[NAME.tps], M[NAME.p50], M[NAME.p99].
nngf() {
	local name=$1
	"$nng_floor" --url "$2" --inflight "$3" --seconds 4 --warmup 1 \
		>"$out/$name.json" 2>"$out/$name.err" ||
		die "nng_floor $name failed: $(cat "$out/$name.err")"
	M[$name.tps]=$(j "$name" .throughput)
	M[$name.p50]=$(j "$name" .p50Ms)
	M[$name.p99]=$(j "$name" .p99Ms)
	say "floor $name: ${M[$name.tps]} round trips/s, p50 ${M[$name.p50]} ms"
}

pgbench=
for d in /usr/lib/postgresql/*/bin; do
	[[ -x $d/pgbench ]] && pgbench=$d/pgbench
done
[[ -x ${pgbench:-} ]] || pgbench=$(command -v pgbench || true)

scen_floor() {
	[[ -x $pgbench ]] || die "pgbench not found"
	psql "$FLOOR_DB" -XqA -v ON_ERROR_STOP=1 -c 'CREATE SCHEMA dtp' >/dev/null
	for f in "$root"/db/migrations/dtp/V*__*.sql; do
		psql "$FLOOR_DB" -XqA -v ON_ERROR_STOP=1 -f "$f" >/dev/null
	done
	psql "$FLOOR_DB" -XqA -v ON_ERROR_STOP=1 >/dev/null <<EOF
INSERT INTO dtp.task (type, payload, max_attempts, timeout_ms)
    SELECT 'demo', repeat('x', 32), 3, 30000
    FROM generate_series(1, $PRELOAD_ROWS);
VACUUM ANALYZE dtp.task;
CHECKPOINT;
EOF
	pgb pg-insert-1 1 insert.sql
	pgb pg-insert-16 16 insert.sql
	pgb pg-insert-notify-16 16 insert_notify.sql
	pgb pg-update-16 16 update.sql
	pgb pg-lifecycle-1 1 lifecycle.sql
	pgb pg-lifecycle-16 16 lifecycle.sql
	pgb pg-select-16 16 select.sql
	pgb pg-select-64 64 select.sql
	nngf nng-tcp-1 "tcp://127.0.0.1:$(pick_port)" 1
	nngf nng-tcp-64 "tcp://127.0.0.1:$(pick_port)" 64
	nngf nng-ipc-1 "ipc://$work/nng-floor.ipc" 1
	nngf nng-ipc-64 "ipc://$work/nng-floor.ipc" 64
	psql "$server_url" -XqA -c 'CHECKPOINT' >/dev/null
}

# --- scenarios ---------------------------------------------------------------------
# closed NAME ARGS...: a closed-loop tpload run of SECONDS_EACH seconds at 64
# in flight; sets M[NAME.tps], .p50, .p99, .err.
closed() {
	local name=$1
	shift
	drain
	perf_start "$name" "$SECONDS_EACH"
	run_tpload "$name" "$@" --concurrency 64 --duration "$SECONDS_EACH" \
		--warmup "$WARMUP" || true
	perf_finish "$name"
	check_services "$name"
	if [[ -f $out/$name.json ]]; then
		M[$name.tps]=$(j "$name" '.throughput | floor')
		M[$name.p50]=$(j "$name" .latency.p50Ms)
		M[$name.p99]=$(j "$name" .latency.p99Ms)
		M[$name.err]=$(errors_of "$name")
		say "$name: ${M[$name.tps]}/s p50 ${M[$name.p50]} ms p99 ${M[$name.p99]} ms errors ${M[$name.err]}"
	fi
}

# ensure_ids: at least 10,000 tasks exist to read.
ensure_ids() {
	local n
	n=$(q "SELECT count(*) FROM dtp.task")
	if ((n < 10000)); then
		run_tpload seed --target dtp --url "$DTP_URL" --op create \
			--requests 10000 --duration 0 --warmup 0 --concurrency 16 || true
	fi
	MAX_ID=$(q "SELECT max(id) FROM dtp.task")
}

scen_rpc_create() {
	closed rpc-create --target dtp --url "$DTP_URL" --op create
}
scen_rpc_get() {
	ensure_ids
	closed rpc-get --target dtp --url "$DTP_URL" --op get --ids "1-$MAX_ID"
}
scen_rest_create() {
	closed rest-create --target rest --url "$GW_DTP" --pilot-url "$GW_PILOT" \
		--op create
}
scen_rest_get() {
	ensure_ids
	closed rest-get --target rest --url "$GW_DTP" --pilot-url "$GW_PILOT" \
		--op get --ids "1-$MAX_ID"
}
scen_bind() {
	closed bind --target pilot --url "$DTP_URL" --pilot-url "$PILOT_URL" \
		--op bind
}

# The burn-down: BACKLOG tasks created over RPC, due in an hour, while the
# node runs (its memory with 16 workers and the backlog pending is read
# then); the node stopped; the tasks made due; a fresh node started; the
# time until every one of them is SUCCEEDED (committed), by polling SQL.
scen_burndown() {
	local lo hi n x0 x1 x2 x3 s0 s1 t0 t1 ndone i limit span left probe_fd probes=0
	drain
	# A fresh node: its memory peak and its transaction counts are the
	# backlog's alone (a stopped node's backends have reported theirs).
	stop_service dtp || true
	start_service dtp
	lo=$(q "SELECT coalesce(max(id), 0) FROM dtp.task")
	q "SELECT pg_stat_statements_reset()" >/dev/null
	x0=$(xacts)
	say "burndown: creating $BACKLOG tasks due in an hour"
	run_tpload burndown-create --target dtp --url "$DTP_URL" --op create \
		--run-delay-ms 3600000 --requests "$BACKLOG" --duration 0 \
		--warmup 0 --concurrency 64 || true
	check_services burndown-create
	s0=$(statements)
	top_statements "$out/burndown-create.statements.txt"
	n=$(q "SELECT count(*) FROM dtp.task WHERE id > $lo AND status = 'PENDING'")
	hi=$(q "SELECT coalesce(max(id), 0) FROM dtp.task")
	M[burndown.n]=$n
	read -r 'M[dtp.rss.pending]' 'M[dtp.hwm.pending]' < <(rss dtp)
	say "burndown: $n pending; dtp VmRSS ${M[dtp.rss.pending]} KiB (VmHWM ${M[dtp.hwm.pending]} KiB)"
	stop_service dtp || true
	x1=$(xacts)
	# Less the x0 probe's own transaction.
	M[create.xacts]=$(awk -v a="$x0" -v b="$x1" -v n="$n" \
		'BEGIN {printf "%.2f", (b - a - 1) / n}')
	M[create.stmts]=$(awk -v s="$s0" -v n="$n" 'BEGIN {printf "%.2f", s / n}')
	q "UPDATE dtp.task SET run_at = now() WHERE id > $lo AND status = 'PENDING'" >/dev/null
	psql "$TP_DB" -XqA -c 'VACUUM ANALYZE dtp.task' -c 'CHECKPOINT' >/dev/null
	q "SELECT pg_stat_statements_reset()" >/dev/null
	x2=$(xacts)
	limit=$((n / 500 + 60))
	# One psql session answers the probes (a psql per probe would cost
	# the machine more than the probes do); closed before x3 is read, so
	# its transactions are reported by then.
	coproc PROBE { exec psql "$TP_DB" -XtAq 2>&1; }
	perf_start burndown "$((n / 20000 + 2))"
	t0=$(date +%s.%N)
	start_service dtp
	left=t
	for ((i = 0; i < limit * 50; i++)); do
		printf '%s\n' "SELECT EXISTS (SELECT 1 FROM dtp.task /* bench-probe */
			WHERE status IN ('PENDING', 'RUNNING')
			AND id > $lo AND id <= $hi);" >&"${PROBE[1]}"
		read -t 60 -r left <&"${PROBE[0]}" || die "the probe session died"
		probes=$((probes + 1))
		[[ $left == f ]] && break
		if ! kill -0 "${PID[dtp]}" 2>/dev/null; then
			break
		fi
		sleep 0.02
	done
	t1=$(date +%s.%N)
	probe_fd=${PROBE[1]}
	exec {probe_fd}>&-
	wait "$PROBE_PID" || true
	perf_finish burndown
	ndone=$(q "SELECT count(*) FROM dtp.task
		WHERE id > $lo AND id <= $hi AND status = 'SUCCEEDED'")
	s1=$(statements)
	top_statements "$out/burndown.statements.txt"
	check_services burndown
	read -r 'M[dtp.rss.after]' 'M[dtp.hwm.burn]' < <(rss dtp)
	stop_service dtp || true
	x3=$(xacts)
	start_service dtp
	span=$(q "SELECT extract(epoch FROM max(finished_at) - min(started_at))
		FROM dtp.task WHERE id > $lo AND id <= $hi AND status = 'SUCCEEDED'")
	M[burndown.done]=$ndone
	M[burndown.secs]=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
	M[burndown.tps]=$(awk -v n="$ndone" -v a="$t0" -v b="$t1" \
		'BEGIN {printf "%d", n / (b - a)}')
	M[burndown.sqltps]=$(awk -v n="$ndone" -v s="${span:-0}" \
		'BEGIN {if (s > 0) printf "%d", n / s; else print 0}')
	# Each probe is one transaction of ours, and so is the x2 read: left
	# out.
	M[burn.xacts]=$(awk -v a="$x2" -v b="$x3" -v n="$n" -v p="$probes" \
		'BEGIN {printf "%.2f", (b - a - p - 1) / n}')
	M[burn.stmts]=$(awk -v s="$s1" -v n="$n" 'BEGIN {printf "%.2f", s / n}')
	if [[ $ndone -lt $n ]]; then
		incidents+=("burndown: only $ndone of $n tasks SUCCEEDED within the limit")
	fi
	say "burndown: $ndone of $n SUCCEEDED in ${M[burndown.secs]} s: ${M[burndown.tps]}/s (first start to last finish: ${M[burndown.sqltps]}/s); dtp VmHWM ${M[dtp.hwm.burn]} KiB"
	say "per task: create ${M[create.xacts]} xacts ${M[create.stmts]} statements; run ${M[burn.xacts]} xacts ${M[burn.stmts]} statements"
}

# The steady producer: creates over RPC (16 in flight) while the workers
# run; the figure is the completion rate over the last 2/3 of the run
# (tasks whose SUCCEEDED was stamped in that window).
scen_steady() {
	local lo ta tb n dur tp_pid backlog
	drain
	dur=$((SECONDS_EACH * 2))
	lo=$(q "SELECT coalesce(max(id), 0) FROM dtp.task")
	"$bin/tpload" --target dtp --url "$DTP_URL" --op create \
		--concurrency 16 --duration "$dur" --warmup 0 \
		--json "$out/steady.json" >"$out/steady.txt" \
		2>"$out/steady.progress" &
	tp_pid=$!
	sleep $((dur / 3))
	ta=$(q "SELECT extract(epoch FROM clock_timestamp())")
	perf_start steady $((dur * 2 / 3 - 1))
	wait "$tp_pid" || incidents+=("tpload steady exited with status $?")
	check_summary steady
	tb=$(q "SELECT extract(epoch FROM clock_timestamp())")
	perf_finish steady
	n=$(q "SELECT count(*) FROM dtp.task WHERE id > $lo
		AND status = 'SUCCEEDED'
		AND finished_at >= to_timestamp($ta) AND finished_at < to_timestamp($tb)")
	backlog=$(q "SELECT count(*) FROM dtp.task WHERE id > $lo
		AND status IN ('PENDING', 'RUNNING')")
	check_services steady
	M[steady.tps]=$(awk -v n="$n" -v a="$ta" -v b="$tb" \
		'BEGIN {printf "%d", n / (b - a)}')
	M[steady.created]=$(j steady '.throughput | floor')
	M[steady.backlog]=$backlog
	M[steady.err]=$(errors_of steady)
	say "steady: created ${M[steady.created]}/s, completed ${M[steady.tps]}/s, $backlog unfinished at the end"
}

# Latency at a fixed low rate: 1,000 creates/s in an open loop; tpload
# records each task's intended start; PostgreSQL gives the claim
# (started_at) and the commit time of the SUCCEEDED row version
# (track_commit_timestamp).
scen_latency() {
	local lo i left res
	drain
	lo=$(q "SELECT coalesce(max(id), 0) FROM dtp.task")
	perf_start latency "$SECONDS_EACH"
	run_tpload latency --target dtp --url "$DTP_URL" --op create \
		--rate "$LAT_RATE" --concurrency 64 --duration "$SECONDS_EACH" \
		--warmup 1 --record "$out/latency.ids" || true
	perf_finish latency
	for ((i = 0; i < 600; i++)); do
		left=$(q "SELECT count(*) FROM dtp.task /* bench-probe */
			WHERE id > $lo AND status IN ('PENDING', 'RUNNING')")
		[[ $left -eq 0 ]] && break
		sleep 0.1
	done
	check_services latency
	res=$(psql "$TP_DB" -XtAq -F' ' -v ON_ERROR_STOP=1 <<EOF
CREATE TEMP TABLE rec (id bigint, intended_us bigint);
\copy rec FROM '$out/latency.ids' WITH (FORMAT text, DELIMITER ' ')
WITH l AS (
    SELECT (extract(epoch FROM t.started_at) * 1e6 - r.intended_us) / 1e3
               AS start_ms,
           (extract(epoch FROM pg_xact_commit_timestamp(t.xmin)) * 1e6
               - r.intended_us) / 1e3 AS done_ms
    FROM rec r JOIN dtp.task t USING (id)
    WHERE t.status = 'SUCCEEDED')
SELECT count(*),
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY start_ms)::numeric, 3),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY start_ms)::numeric, 3),
    round(percentile_cont(0.5) WITHIN GROUP (ORDER BY done_ms)::numeric, 3),
    round(percentile_cont(0.99) WITHIN GROUP (ORDER BY done_ms)::numeric, 3),
    round(max(done_ms)::numeric, 3),
    (SELECT count(*) FROM rec)
FROM l;
EOF
)
	read -r 'M[lat.n]' 'M[lat.start.p50]' 'M[lat.start.p99]' 'M[lat.done.p50]' \
		'M[lat.done.p99]' 'M[lat.done.max]' 'M[lat.recorded]' <<<"$res"
	M[lat.create.p50]=$(j latency .latency.p50Ms)
	M[lat.create.p99]=$(j latency .latency.p99Ms)
	M[lat.err]=$(errors_of latency)
	M[lat.unstarted]=$(j latency '.unstarted // 0')
	M[lat.secs]=$(j latency '.seconds | floor')
	if [[ ${M[lat.n]} != "${M[lat.recorded]}" ]]; then
		incidents+=("latency: ${M[lat.n]} of ${M[lat.recorded]} recorded tasks SUCCEEDED")
	fi
	say "latency: create->start p50 ${M[lat.start.p50]} p99 ${M[lat.start.p99]} ms; create->SUCCEEDED p50 ${M[lat.done.p50]} p99 ${M[lat.done.p99]} ms (${M[lat.n]} tasks)"
}

# Memory: the gateway with 1,000 open idle keep-alive connections (each
# has served one request); dtp's figures come from the burn-down, or from a
# backlog created here when the burn-down did not run.
scen_memory() {
	local fds=() fd i est lo n
	if [[ -z ${M[dtp.rss.pending]:-} ]]; then
		drain
		lo=$(q "SELECT coalesce(max(id), 0) FROM dtp.task")
		run_tpload memory-create --target dtp --url "$DTP_URL" --op create \
			--run-delay-ms 3600000 --requests "$BACKLOG" --duration 0 \
			--warmup 0 --concurrency 64 || true
		n=$(q "SELECT count(*) FROM dtp.task WHERE id > $lo AND status = 'PENDING'")
		read -r 'M[dtp.rss.pending]' 'M[dtp.hwm.pending]' < <(rss dtp)
		M[burndown.n]=$n
	fi
	read -r 'M[gw.rss.before]' 'M[gw.hwm.before]' < <(rss tpgateway)
	ulimit -n 4096
	for ((i = 0; i < 1000; i++)); do
		exec {fd}<>"/dev/tcp/127.0.0.1/$GW_DTP_PORT"
		printf 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n' >&"$fd"
		fds+=("$fd")
	done
	sleep 2 # let every request be answered; the connections stay open
	est=$(ss -Htn state established "( sport = :$GW_DTP_PORT )" | wc -l)
	read -r 'M[gw.rss]' 'M[gw.hwm]' < <(rss tpgateway)
	curl -fsS -o /dev/null "$GW_DTP/healthz" ||
		incidents+=("memory: the gateway did not answer with 1,000 connections open")
	for fd in "${fds[@]}"; do
		exec {fd}>&-
	done
	M[gw.conns]=$est
	check_services memory
	say "memory: tpgateway VmRSS ${M[gw.rss]} KiB (VmHWM ${M[gw.hwm]}, ${M[gw.rss.before]} before) with $est connections established"
}

# --- run -------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for s in "${want[@]}"; do
	if [[ $s == floor ]]; then
		say "floors"
		scen_floor
		continue
	fi
	if [[ -z ${PID[dtp]:-} ]]; then
		say "starting dtp (--workers $WORKERS), taskpilot, tpgateway"
		start_service dtp
		start_service taskpilot
		start_service tpgateway
		wait_http "$GW_DTP/healthz"
		wait_http "$GW_PILOT/healthz"
	fi
	say "scenario $s"
	"scen_${s//-/_}"
done
t_end=$(date +%s)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
# Stopped here, so that a service which does not stop cleanly (SIGTERM,
# exit status 0) is in the report.
if [[ $KEEP != 1 ]]; then
	for name in tpgateway taskpilot dtp; do
		if [[ -n ${PID[$name]:-} ]]; then
			check_services end
			stop_service "$name" || true
		fi
	done
fi

# --- the table -----------------------------------------------------------------------
# ratio A B: A / B with two decimals, or n/a.
ratio() {
	awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a == "" || b == "" || b + 0 == 0)
		print "n/a"; else printf "%.2f", a / b}'
}
# verdict OK?: "yes" / "**no**" / "n/a".
ge() {
	awk -v a="${1:-}" -v b="$2" 'BEGIN {if (a == "") print "n/a";
		else if (a + 0 >= b + 0) print "yes"; else print "**no**"}'
}
le() {
	awk -v a="${1:-}" -v b="$2" 'BEGIN {if (a == "") print "n/a";
		else if (a + 0 <= b + 0) print "yes"; else print "**no**"}'
}
v() { echo "${M[$1]:-}"; }
max() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a == "") print b;
	else if (b == "") print a; else print (a + 0 > b + 0) ? a : b}'; }
min() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a == "") print b;
	else if (b == "") print a; else print (a + 0 < b + 0) ? a : b}'; }
mib() { awk -v k="${1:-}" 'BEGIN {if (k == "") print ""; else printf "%.1f", k / 1024}'; }
sum() { awk -v a="${1:-}" -v b="${2:-}" 'BEGIN {if (a == "" || b == "") print "";
	else printf "%.3f", a + b}'; }

table=$out/table.md
{
	echo "| figure | value | target | floor | ratio to floor | met | errors |"
	echo "|---|---|---|---|---|---|---|"
	row() {
		local floor=$4
		# A floor this run did not measure leaves its figure empty.
		[[ $floor == " ("* ]] && floor="n/a (\`floor\` not run)"
		echo "| $1 | $2 | $3 | $floor | $5 | $6 | ${7:-} |"
	}
	if [[ -n $(v rpc-create.tps) ]]; then
		row "CreateTask over RPC, 64 in flight (ops/s)" "$(v rpc-create.tps)" \
			">= 25000" "$(v pg-insert-16.tps) (pgbench insert, 16 clients; $(v pg-insert-notify-16.tps) with a pg_notify per insert)" \
			"$(ratio "$(v rpc-create.tps)" "$(v pg-insert-16.tps)")" \
			"$(ge "$(v rpc-create.tps)" 25000)" "$(v rpc-create.err)"
		row "CreateTask over RPC, p99 (ms)" "$(v rpc-create.p99)" "<= 10" \
			"$(v pg-insert-16.p99) (pgbench insert p99, 16 clients)" \
			"$(ratio "$(v rpc-create.p99)" "$(v pg-insert-16.p99)")" \
			"$(le "$(v rpc-create.p99)" 10)"
	fi
	if [[ -n $(v rpc-get.tps) ]]; then
		gf=$(min "$(v nng-tcp-64.tps)" \
			"$(max "$(v pg-select-16.tps)" "$(v pg-select-64.tps)")")
		r=$(ratio "$(v rpc-get.tps)" "$gf")
		row "GetTask over RPC, 64 in flight (ops/s)" "$(v rpc-get.tps)" \
			">= 0.80 of floor" "$gf (lower of nng tcp 64 in flight and pgbench PK read)" \
			"$r" "$(ge "$r" 0.80)" "$(v rpc-get.err)"
	fi
	if [[ -n $(v rest-create.tps) ]]; then
		r=$(ratio "$(v rest-create.tps)" "$(v rpc-create.tps)")
		row "POST /tasks, 64 connections (ops/s)" "$(v rest-create.tps)" \
			">= 0.70 of RPC create" "$(v rpc-create.tps) (CreateTask over RPC)" \
			"$r" "$(ge "$r" 0.70)" "$(v rest-create.err)"
	fi
	if [[ -n $(v rest-get.tps) ]]; then
		r=$(ratio "$(v rest-get.tps)" "$(v rpc-get.tps)")
		row "GET /tasks/{id}, 64 connections (ops/s)" "$(v rest-get.tps)" \
			">= 0.70 of RPC get" "$(v rpc-get.tps) (GetTask over RPC)" \
			"$r" "$(ge "$r" 0.70)" "$(v rest-get.err)"
	fi
	if [[ -n $(v bind.tps) ]]; then
		row "CreateWebTask + BindScheduler over RPC, 64 in flight (binds/s)" \
			"$(v bind.tps)" "-" "$(v rpc-create.tps) (CreateTask over RPC)" \
			"$(ratio "$(v bind.tps)" "$(v rpc-create.tps)")" "-" "$(v bind.err)"
		row "bind p99 (ms)" "$(v bind.p99)" "-" "" "" "-"
	fi
	if [[ -n $(v burndown.tps) ]]; then
		row "burn-down of $(v burndown.n) demo tasks, $WORKERS workers (tasks/s)" \
			"$(v burndown.tps) ($(v burndown.done) in $(v burndown.secs) s; first start to last finish $(v burndown.sqltps)/s)" \
			">= 30000" "$(v pg-update-16.tps) (pgbench one update per task, 16 clients)" \
			"$(ratio "$(v burndown.tps)" "$(v pg-update-16.tps)")" \
			"$(ge "$(v burndown.tps)" 30000)"
	fi
	if [[ -n $(v steady.tps) ]]; then
		row "steady producer: completions/s (16 creating over RPC)" \
			"$(v steady.tps) (created $(v steady.created)/s; $(v steady.backlog) unfinished at the end)" \
			">= 15000" "$(v pg-lifecycle-16.tps) (pgbench insert+claim+finish, 16 clients)" \
			"$(ratio "$(v steady.tps)" "$(v pg-lifecycle-16.tps)")" \
			"$(ge "$(v steady.tps)" 15000)" "$(v steady.err)"
	fi
	if [[ -n $(v lat.n) ]]; then
		f1=$(sum "$(v pg-insert-1.p50)" "$(v nng-tcp-1.p50)")
		f2=$(sum "$(v pg-insert-1.p99)" "$(v nng-tcp-1.p99)")
		f3=$(sum "$(v pg-lifecycle-1.p99)" "$(v nng-tcp-1.p99)")
		row "open loop $LAT_RATE/s: create->start p50 (ms)" "$(v lat.start.p50)" \
			"<= 1" "$f1 (pgbench insert p50 + nng round trip p50, 1 client)" \
			"$(ratio "$(v lat.start.p50)" "$f1")" "$(le "$(v lat.start.p50)" 1)" \
			"$(v lat.err)"
		row "open loop $LAT_RATE/s: create->start p99 (ms)" "$(v lat.start.p99)" \
			"<= 5" "$f2 (pgbench insert p99 + nng p99, 1 client)" \
			"$(ratio "$(v lat.start.p99)" "$f2")" "$(le "$(v lat.start.p99)" 5)"
		row "open loop $LAT_RATE/s: create->SUCCEEDED committed p99 (ms)" \
			"$(v lat.done.p99) (p50 $(v lat.done.p50), max $(v lat.done.max))" \
			"<= 10" "$f3 (pgbench insert+claim+finish p99 + nng p99, 1 client)" \
			"$(ratio "$(v lat.done.p99)" "$f3")" "$(le "$(v lat.done.p99)" 10)"
		row "open loop $LAT_RATE/s: CreateTask reply p50 / p99 (ms)" \
			"$(v lat.create.p50) / $(v lat.create.p99) ($(v lat.recorded) created in $(v lat.secs) s; $(v lat.unstarted) due but never started)" \
			"-" "" "" "-"
	fi
	if [[ -n $(v dtp.rss.pending) ]]; then
		worst=$(max "$(v dtp.hwm.pending)" "$(v dtp.hwm.burn)")
		row "dtp RSS, $WORKERS workers, $(v burndown.n) pending (MiB)" \
			"VmRSS $(mib "$(v dtp.rss.pending)") idle; VmHWM $(mib "$worst") peak$([[ -n $(v dtp.hwm.burn) ]] && echo " incl. the burn-down")" \
			"< 64" "-" "-" "$(le "$(mib "$worst")" 63.999)"
	fi
	if [[ -n $(v gw.rss) ]]; then
		row "tpgateway RSS, $(v gw.conns) open idle connections (MiB)" \
			"VmRSS $(mib "$(v gw.rss)") (VmHWM $(mib "$(v gw.hwm)"); $(mib "$(v gw.rss.before)") before)" \
			"< 32" "-" "-" "$(le "$(mib "$(v gw.hwm)")" 31.999)"
	fi
	if [[ -n $(v burn.xacts) ]]; then
		tx=$(sum "$(v create.xacts)" "$(v burn.xacts)")
		st=$(sum "$(v create.stmts)" "$(v burn.stmts)")
		row "database transactions per task, create -> SUCCEEDED" \
			"$tx (create $(v create.xacts), run $(v burn.xacts))" "-" \
			"3 (insert, claim, finish as in the pgbench lifecycle)" \
			"$(ratio "$tx" 3)" "-"
		row "statements (round trips) per task, create -> SUCCEEDED" \
			"$st (create $(v create.stmts), run $(v burn.stmts))" "-" "" "" "-"
	fi
} >"$table"

declare -A FLOOR_WHAT=(
	[pg-insert-1]="pgbench: one task row inserted per transaction, 1 client"
	[pg-insert-16]="the same, 16 clients"
	[pg-insert-notify-16]="the same with pg_notify in the insert (as CreateTask), 16 clients"
	[pg-update-16]="pgbench: one task row set SUCCEEDED per transaction, 16 clients"
	[pg-lifecycle-1]="pgbench: insert, claim, finish (3 transactions) per task, 1 client"
	[pg-lifecycle-16]="the same, 16 clients"
	[pg-select-16]="pgbench: a task read by primary key, 16 clients"
	[pg-select-64]="the same, 64 clients"
	[nng-tcp-1]="nng req/rep round trip (13 B / 128 B), tcp, 1 in flight"
	[nng-tcp-64]="the same, 64 in flight"
	[nng-ipc-1]="the same over ipc, 1 in flight"
	[nng-ipc-64]="the same over ipc, 64 in flight"
)
floors=$out/floors.md
{
	echo "| floor | what | throughput (/s) | p50 (ms) | p99 (ms) |"
	echo "|---|---|---|---|---|"
	for f in pg-insert-1 pg-insert-16 pg-insert-notify-16 pg-update-16 \
		pg-lifecycle-1 pg-lifecycle-16 pg-select-16 pg-select-64 \
		nng-tcp-1 nng-tcp-64 nng-ipc-1 nng-ipc-64; do
		[[ -n ${M[$f.tps]:-} ]] || continue
		echo "| $f | ${FLOOR_WHAT[$f]} | ${M[$f.tps]%.*} | ${M[$f.p50]} | ${M[$f.p99]} |"
	done
} >"$floors"

commit=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ -n $(git -C "$root" status --porcelain 2>/dev/null | head -n 1) ]]; then
	commit="$commit (working tree with uncommitted changes)"
fi
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
cmdline="bench/run.sh${*:+ $*}"
env_line="BENCH_SECONDS=$SECONDS_EACH BENCH_BACKLOG=$BACKLOG BENCH_WORKERS=$WORKERS BENCH_LATENCY_RATE=$LAT_RATE"
report=$out/report.md
{
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC'), commit $commit"
	echo
	echo "- machine: $(nproc) cores, $cpu, $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo) RAM, $(uname -sr)"
	echo "- load average before the run: $load_before; after: $load_after (the bench itself adds about 2; more means other processes shared the 2 cores)"
	echo "- PostgreSQL $pg_version on the same machine: $pg_settings; pg_stat_statements loaded, track_commit_timestamp on"
	echo "- command: \`$cmdline\` ($env_line; Release build; took $((t_end - t_start)) s)"
	echo "- scenarios: ${want[*]}"
	echo
	cat "$table"
	if [[ ${#incidents[@]} -gt 0 ]]; then
		echo
		echo "Incidents:"
		for i in "${incidents[@]}"; do
			echo "- $i"
		done
	fi
	if [[ -n ${M[pg-insert-1.tps]:-} || -n ${M[nng-tcp-1.tps]:-} ]]; then
		echo
		echo "<details><summary>floors</summary>"
		echo
		cat "$floors"
		echo
		echo "</details>"
	fi
	echo
} >"$report"

echo
cat "$report"
if [[ $RECORD == 1 ]]; then
	results=$root/bench/RESULTS.md
	if [[ ! -f $results ]]; then
		{
			echo "# Benchmark results"
			echo
			echo "Appended by \`bench/run.sh\`, newest last. What each figure means: bench/README.md."
			echo
		} >"$results"
	fi
	cat "$report" >>"$results"
	say "appended to $results"
fi
say "raw outputs in $out; logs in $logs"
