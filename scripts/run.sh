#!/usr/bin/env bash
# run.sh: THE run command. Installs what is missing, builds, starts a private
# PostgreSQL unless a database URL is given, starts dtp, taskpilot and
# tpgateway, waits until they answer, and stays in the foreground. Ctrl-C or
# SIGTERM stops the services, then PostgreSQL, and exits 0.
#
# Environment (everything else the binaries read passes through, see their
# --help: DTP_*, PILOT_*, SHIM_*, TP_LOG_LEVEL, TP_API_TOKEN):
#   DATABASE_URL, DTP_DATABASE_URL, PILOT_DATABASE_URL
#                  use these servers; a service without one gets a private
#                  cluster in $TP_RUN_DIR/pg (database "taskpilot")
#   DTP_LISTEN, PILOT_LISTEN              RPC addresses (tcp://127.0.0.1:9090,
#                                         tcp://127.0.0.1:9091)
#   SHIM_DTP_LISTEN, SHIM_PILOT_LISTEN    HTTP addresses (127.0.0.1:8080,
#                                         127.0.0.1:8081)
#   TP_BUILD_DIR   run the binaries of this build directory (no install, no
#                  build); default: install, then build build-run/
#   TP_RUN_DIR     where the cluster and the logs live (default .run/)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	echo "usage: scripts/run.sh [--help]"
}

for arg in "$@"; do
	case $arg in
	-h | --help)
		usage
		exit 0
		;;
	*)
		echo "run: unknown argument \"$arg\" (try --help)" >&2
		exit 2
		;;
	esac
done

say() { printf 'run: %s\n' "$*" >&2; }

run_dir=${TP_RUN_DIR:-$root/.run}
log_dir=$run_dir/logs
mkdir -p "$log_dir"
run_dir=$(cd "$run_dir" && pwd)
log_dir=$run_dir/logs

# --- build ---------------------------------------------------------------
if [[ -n ${TP_BUILD_DIR:-} ]]; then
	bin=$(cd "$TP_BUILD_DIR" && pwd)
else
	"$root/scripts/deps.sh"
	bin=$root/build-run
	cmake -S "$root" -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$bin" -j"$(nproc)" --target dtp taskpilot tpgateway tpctl
fi
for b in dtp taskpilot tpgateway; do
	if [[ ! -x $bin/$b ]]; then
		say "$bin/$b is missing: build it first"
		exit 1
	fi
done

# --- cleanup, whatever way we leave ----------------------------------------
names=()
pids=()
pg_dir=
stopping=0

# stop_one NAME PID: SIGTERM, up to 20 s, then SIGKILL. Fails when the
# process did not stop cleanly with status 0.
stop_one() {
	local name=$1 pid=$2 rc=0 i
	if kill -TERM "$pid" 2>/dev/null; then
		for ((i = 0; i < 200; i++)); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 "$pid" 2>/dev/null; then
			say "$name did not stop within 20 s: killing it"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	wait "$pid" || rc=$?
	if [[ $rc -ne 0 ]]; then
		say "$name exited with status $rc (log: $log_dir/$name.log)"
		return 1
	fi
	say "$name stopped"
}

cleanup() {
	local rc=$? i
	trap '' INT TERM HUP
	if [[ $stopping -eq 1 ]]; then
		return
	fi
	stopping=1
	# The gateway first, then TaskPilot, then DTP: callers before callees.
	for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
		stop_one "${names[$i]}" "${pids[$i]}" || rc=1
	done
	if [[ -n $pg_dir ]]; then
		if "$root/scripts/pg.sh" stop "$pg_dir"; then
			say "PostgreSQL stopped"
		else
			rc=1
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'say "stopping"; exit 0' INT TERM HUP

# --- database --------------------------------------------------------------
# with_db URL DB: the same server URL naming database DB.
with_db() {
	local url=$1 db=$2 query=
	if [[ $url == *\?* ]]; then
		query="?${url#*\?}"
		url=${url%%\?*}
	fi
	if [[ ${url#*://} == */* ]]; then
		url=${url%/*}
	fi
	printf '%s/%s%s\n' "$url" "$db" "$query"
}

if [[ -z ${DATABASE_URL:-} &&
	(-z ${DTP_DATABASE_URL:-} || -z ${PILOT_DATABASE_URL:-}) ]]; then
	pg_dir=$run_dir/pg
	"$root/scripts/pg.sh" start "$pg_dir" >/dev/null
	server_url=$(<"$pg_dir/url")
	if [[ -z $(psql "$server_url" -XtAq -v ON_ERROR_STOP=1 \
		-c "SELECT 1 FROM pg_database WHERE datname = 'taskpilot'") ]]; then
		psql "$server_url" -XqA -v ON_ERROR_STOP=1 \
			-c 'CREATE DATABASE taskpilot' >/dev/null
	fi
	DATABASE_URL=$(with_db "$server_url" taskpilot)
	export DATABASE_URL
	db_line="  database        $DATABASE_URL (private cluster in $pg_dir)"
else
	db_line="  database        as DATABASE_URL, DTP_DATABASE_URL, PILOT_DATABASE_URL say"
fi

# --- services ----------------------------------------------------------------
export DTP_LISTEN=${DTP_LISTEN:-tcp://127.0.0.1:9090}
export PILOT_LISTEN=${PILOT_LISTEN:-tcp://127.0.0.1:9091}
export PILOT_DTP_URL=${PILOT_DTP_URL:-$DTP_LISTEN}
export SHIM_DTP_LISTEN=${SHIM_DTP_LISTEN:-127.0.0.1:8080}
export SHIM_PILOT_LISTEN=${SHIM_PILOT_LISTEN:-127.0.0.1:8081}
export SHIM_DTP_URL=${SHIM_DTP_URL:-$DTP_LISTEN}
export SHIM_PILOT_URL=${SHIM_PILOT_URL:-$PILOT_LISTEN}

# start NAME ARGV...: runs a service in its own session (so a Ctrl-C reaches
# only this script, which then stops the services in order), its output
# written to logs/NAME.log and shown here with a "NAME | " prefix. The
# prefixing pipe ignores INT and TERM so it outlives the service's last line.
start() {
	local name=$1 log=$log_dir/$1.log
	shift
	# The previous run's log is kept as NAME.log.1.
	if [[ -s $log ]]; then
		mv -f "$log" "$log.1"
	fi
	: >"$log"
	setsid "$@" </dev/null > >(
		trap '' INT TERM HUP
		tee -a "$log" | sed -u "s/^/$name | /" >&2
	) 2>&1 &
	names+=("$name")
	pids+=($!)
}

# check_alive: fails (and says which) when a service has exited.
check_alive() {
	local i rc
	for i in "${!pids[@]}"; do
		if ! kill -0 "${pids[$i]}" 2>/dev/null; then
			rc=0
			wait "${pids[$i]}" || rc=$?
			say "${names[$i]} exited with status $rc (log: $log_dir/${names[$i]}.log)"
			unset 'pids[i]' 'names[i]'
			pids=("${pids[@]}")
			names=("${names[@]}")
			return 1
		fi
	done
}

# listening URL: the first of a comma-separated list of tcp://, ipc:// or
# host:port addresses accepts connections.
listening() {
	local url=${1%%,*} hp
	case $url in
	ipc://*) [[ -S ${url#ipc://} ]] ;;
	*)
		hp=${url#tcp://}
		(exec 3<>"/dev/tcp/${hp%:*}/${hp##*:}") 2>/dev/null
		;;
	esac
}

# wait_ready NAME URL: until the service logs `ready` or URL accepts
# connections, up to 60 s. Starting each service once the one it calls
# listens means no client dials a port nobody listens on yet.
wait_ready() {
	local name=$1 url=$2 i
	for ((i = 0; i < 600; i++)); do
		check_alive || exit 1
		if grep -qE "^[^ ]+ info $name ready( |\$)" "$log_dir/$name.log" ||
			listening "$url"; then
			return
		fi
		sleep 0.1
	done
	say "$name was not ready within 60 s (log: $log_dir/$name.log)"
	exit 1
}

# One DTP node. The services and clients take comma-separated URL lists, so
# running several nodes only adds entries here and to PILOT_DTP_URL and
# SHIM_DTP_URL.
start dtp "$bin/dtp"
wait_ready dtp "$DTP_LISTEN"
start taskpilot "$bin/taskpilot"
wait_ready taskpilot "$PILOT_LISTEN"
start tpgateway "$bin/tpgateway"
wait_ready tpgateway "$SHIM_PILOT_LISTEN"

dtp_http=http://$SHIM_DTP_LISTEN
pilot_http=http://$SHIM_PILOT_LISTEN
for ((i = 0; ; i++)); do
	if ! check_alive; then
		exit 1
	fi
	if curl -fsS -o /dev/null "$dtp_http/healthz" 2>/dev/null &&
		curl -fsS -o /dev/null "$pilot_http/healthz" 2>/dev/null; then
		break
	fi
	if ((i >= 600)); then
		say "the services did not answer /healthz within 60 s"
		exit 1
	fi
	sleep 0.1
done

cat >&2 <<EOF

TaskPilot is running.
  DTP REST        $dtp_http/tasks
  TaskPilot REST  $pilot_http/api/tasks
  DTP RPC         $DTP_LISTEN
  TaskPilot RPC   $PILOT_LISTEN
$db_line
  logs            $log_dir/

Try it (use the id the first call returns):
  curl -s -X POST $pilot_http/api/tasks -H 'Content-Type: application/json' -d '{"type":"demo","title":"hello","payload":"hello world"}'
  curl -s -X POST $pilot_http/api/tasks/1/scheduler
  curl -s $pilot_http/api/tasks/1/execution
or: $bin/tpctl --pilot-url $PILOT_LISTEN pilot get 1

Press Ctrl-C to stop.
EOF

# Stay in the foreground; a signal runs the trap at once because we wait on
# a background sleep, not a foreground one.
while check_alive; do
	sleep 1 &
	wait $! || true
done
exit 1
