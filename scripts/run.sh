#!/usr/bin/env bash
# run.sh: THE run command. Installs what is missing, builds, starts a private
# PostgreSQL unless a database URL is given, starts dtp (one or more nodes),
# taskpilot and tpgateway, waits until they answer, and stays in the
# foreground as their supervisor. Ctrl-C or SIGTERM stops the services, then
# PostgreSQL, and exits 0.
#
# Flags:
#   --dtp-nodes N  run N DTP nodes (1..16, default 1). Node k is named dtp-k
#                  (its --node-name and its log, logs/dtp-k.log) and listens
#                  on the port of DTP_LISTEN plus 2(k-1): 9090, 9092, 9094...
#                  (the odd port above the first, 9091, is TaskPilot's).
#                  TaskPilot and the gateway dial every node: PILOT_DTP_URL
#                  and SHIM_DTP_URL default to the comma-separated list.
#                  With one node, it is named dtp, as before.
#
# Supervision: once everything answered, a service that exits is started
# again ("run.sh: dtp-2 exited with status 137, restarting (restart 1)"),
# after a pause of 1 s that doubles with each restart up to 30 s, and goes
# back to 1 s once the process has run for 60 s; so a crash loop costs a
# start every 30 s, not a spinning CPU. A service that fails while starting
# up stops everything instead (its log says why).
#
# Environment (everything else the binaries read passes through, see their
# --help: DTP_*, PILOT_*, SHIM_*, TP_LOG_LEVEL, TP_API_TOKEN):
#   DATABASE_URL, DTP_DATABASE_URL, PILOT_DATABASE_URL
#                  use these servers; a service without one gets a private
#                  cluster in $TP_RUN_DIR/pg (database "taskpilot")
#   DTP_LISTEN, PILOT_LISTEN              RPC addresses (tcp://127.0.0.1:9090,
#                                         tcp://127.0.0.1:9091); with
#                                         --dtp-nodes 2 or more, DTP_LISTEN
#                                         is one tcp://HOST:PORT, the first
#                                         node's
#   SHIM_DTP_LISTEN, SHIM_PILOT_LISTEN    HTTP addresses (127.0.0.1:8080,
#                                         127.0.0.1:8081)
#   TP_BUILD_DIR   run the binaries of this build directory (no install, no
#                  build); default: install, then build build-run/
#   TP_RUN_DIR     where the cluster and the logs live (default .run/)
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
	echo "usage: scripts/run.sh [--dtp-nodes N] [--help]"
}

say() { printf 'run.sh: %s\n' "$*" >&2; }

bad_usage() {
	say "$* (try --help)"
	exit 2
}

dtp_nodes=1
while [[ $# -gt 0 ]]; do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	--dtp-nodes)
		[[ $# -ge 2 ]] || bad_usage "--dtp-nodes needs a value"
		dtp_nodes=$2
		shift 2
		;;
	--dtp-nodes=*)
		dtp_nodes=${1#*=}
		shift
		;;
	*)
		bad_usage "unknown argument \"$1\""
		;;
	esac
done
if [[ ! $dtp_nodes =~ ^[0-9]+$ ]] || ((10#$dtp_nodes < 1 || 10#$dtp_nodes > 16)); then
	bad_usage "invalid value for --dtp-nodes: \"$dtp_nodes\": expected an integer from 1 to 16"
fi
dtp_nodes=$((10#$dtp_nodes))

# --- addresses -------------------------------------------------------------
export DTP_LISTEN=${DTP_LISTEN:-tcp://127.0.0.1:9090}
export PILOT_LISTEN=${PILOT_LISTEN:-tcp://127.0.0.1:9091}
export SHIM_DTP_LISTEN=${SHIM_DTP_LISTEN:-127.0.0.1:8080}
export SHIM_PILOT_LISTEN=${SHIM_PILOT_LISTEN:-127.0.0.1:8081}

# The DTP nodes: their names and listen URLs, in start order.
dtp_names=()
dtp_urls=()
if ((dtp_nodes == 1)); then
	dtp_names=(dtp)
	dtp_urls=("$DTP_LISTEN")
else
	if [[ ! $DTP_LISTEN =~ ^tcp://([^,/]+):([0-9]+)$ ]]; then
		bad_usage "--dtp-nodes $dtp_nodes needs DTP_LISTEN to be one tcp://HOST:PORT URL, not \"$DTP_LISTEN\""
	fi
	host=${BASH_REMATCH[1]}
	port=$((10#${BASH_REMATCH[2]}))
	if ((port + 2 * (dtp_nodes - 1) > 65535)); then
		bad_usage "the ports of $dtp_nodes DTP nodes from $port pass 65535"
	fi
	for ((k = 1; k <= dtp_nodes; k++)); do
		dtp_names+=("dtp-$k")
		dtp_urls+=("tcp://$host:$((port + 2 * (k - 1)))")
	done
fi
dtp_list=$(
	IFS=,
	echo "${dtp_urls[*]}"
)
export PILOT_DTP_URL=${PILOT_DTP_URL:-$dtp_list}
export SHIM_DTP_URL=${SHIM_DTP_URL:-$dtp_list}
export SHIM_PILOT_URL=${SHIM_PILOT_URL:-$PILOT_LISTEN}

run_dir=${TP_RUN_DIR:-$root/.run}
mkdir -p "$run_dir/logs"
run_dir=$(cd "$run_dir" && pwd)
log_dir=$run_dir/logs

# --- build -----------------------------------------------------------------
if [[ -n ${TP_BUILD_DIR:-} ]]; then
	bin=$(cd "$TP_BUILD_DIR" && pwd)
else
	"$root/scripts/deps.sh"
	bin=$root/build-run
	cmake -S "$root" -B "$bin" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	cmake --build "$bin" -j"$(nproc)" --target dtp taskpilot tpgateway tpctl \
		tpload
fi
for b in dtp taskpilot tpgateway; do
	if [[ ! -x $bin/$b ]]; then
		say "$bin/$b is missing: build it first"
		exit 1
	fi
done

# --- the services' table -------------------------------------------------------
# Index i: names[i], the process; urls[i], where it listens; pids[i], its
# pid ("" while it waits to be started again); restarts[i], how often it
# was; started[i], when (SECONDS); delay[i], the pause before the next
# restart; due[i], when that restart is (SECONDS).
names=()
urls=()
pids=()
restarts=()
started=()
delay=()
due=()
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
	for ((i = ${#names[@]} - 1; i >= 0; i--)); do
		if [[ -n ${pids[i]} ]]; then
			stop_one "${names[i]}" "${pids[i]}" || rc=1
		fi
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
# launch I: starts service I in its own session (so a Ctrl-C reaches only
# this script, which then stops the services in order), its output appended
# to logs/NAME.log and shown here with a "NAME | " prefix. The prefixing
# pipe ignores INT and TERM so it outlives the service's last line. A DTP
# node gets its own listen URL and node name.
launch() {
	local i=$1 name=${names[$1]} log=$log_dir/${names[$1]}.log
	local cmd=()
	case $name in
	dtp) cmd=("$bin/dtp") ;;
	dtp-*) cmd=(env DTP_LISTEN="${urls[i]}" DTP_NODE_NAME="$name" "$bin/dtp") ;;
	*) cmd=("$bin/$name") ;;
	esac
	setsid "${cmd[@]}" </dev/null > >(
		trap '' INT TERM HUP
		tee -a "$log" | sed -u "s/^/$name | /" >&2
	) 2>&1 &
	pids[i]=$!
	started[i]=$SECONDS
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

# start NAME URL: adds a service to the table and starts it, after checking
# that nothing listens on its address yet. The previous run's log is kept
# as NAME.log.1.
start() {
	local name=$1 url=$2 log=$log_dir/$1.log i=${#names[@]}
	if [[ $url != ipc://* ]] && listening "$url"; then
		say "cannot start $name: something already listens on $url"
		exit 1
	fi
	if [[ -s $log ]]; then
		mv -f "$log" "$log.1"
	fi
	: >"$log"
	names[i]=$name
	urls[i]=$url
	restarts[i]=0
	delay[i]=1
	due[i]=0
	launch "$i"
	say "$name started pid=${pids[i]} listen=$url"
}

# check_started: fails (and says which) when a service exited while
# everything was starting up.
check_started() {
	local i rc
	for i in "${!names[@]}"; do
		if ! kill -0 "${pids[i]}" 2>/dev/null; then
			rc=0
			wait "${pids[i]}" || rc=$?
			say "${names[i]} exited with status $rc while starting (log: $log_dir/${names[i]}.log)"
			pids[i]=
			return 1
		fi
	done
}

# wait_ready NAME COMPONENT URL: until the service logs `ready` or URL
# accepts connections, up to 60 s. Starting each service once the one it
# calls listens means no client dials a port nobody listens on yet.
wait_ready() {
	local name=$1 component=$2 url=$3 i
	for ((i = 0; i < 600; i++)); do
		check_started || exit 1
		if grep -qE "^[^ ]+ info $component ready( |\$)" "$log_dir/$name.log" ||
			listening "$url"; then
			return
		fi
		sleep 0.1
	done
	say "$name was not ready within 60 s (log: $log_dir/$name.log)"
	exit 1
}

for k in "${!dtp_names[@]}"; do
	start "${dtp_names[k]}" "${dtp_urls[k]}"
done
for k in "${!dtp_names[@]}"; do
	wait_ready "${dtp_names[k]}" dtp "${dtp_urls[k]}"
done
start taskpilot "$PILOT_LISTEN"
wait_ready taskpilot taskpilot "$PILOT_LISTEN"
start tpgateway "$SHIM_PILOT_LISTEN"
wait_ready tpgateway tpgateway "$SHIM_PILOT_LISTEN"

dtp_http=http://$SHIM_DTP_LISTEN
pilot_http=http://$SHIM_PILOT_LISTEN
for ((i = 0; ; i++)); do
	check_started || exit 1
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

if ((dtp_nodes == 1)); then
	dtp_line="  DTP RPC         $DTP_LISTEN"
else
	dtp_line="  DTP RPC         $dtp_list ($dtp_nodes nodes)"
fi
cat >&2 <<EOF

TaskPilot is running.
  DTP REST        $dtp_http/tasks
  TaskPilot REST  $pilot_http/api/tasks
$dtp_line
  TaskPilot RPC   $PILOT_LISTEN
  metrics         $dtp_http/metrics $pilot_http/metrics
$db_line
  logs            $log_dir/

Try it (use the id the first call returns):
  curl -s -X POST $pilot_http/api/tasks -H 'Content-Type: application/json' -d '{"type":"demo","title":"hello","payload":"hello world"}'
  curl -s -X POST $pilot_http/api/tasks/1/scheduler
  curl -s $pilot_http/api/tasks/1/execution
or: $bin/tpctl --pilot-url $PILOT_LISTEN pilot watch 1

Press Ctrl-C to stop.
EOF

# --- supervision ---------------------------------------------------------------
# supervise: notes the services that exited and starts the due ones again.
# A service that ran for 60 s or more before it exited starts again after
# 1 s; each quicker exit doubles the pause, up to 30 s.
supervise() {
	local i rc
	for i in "${!names[@]}"; do
		if [[ -n ${pids[i]} ]]; then
			if kill -0 "${pids[i]}" 2>/dev/null; then
				continue
			fi
			rc=0
			wait "${pids[i]}" 2>/dev/null || rc=$?
			pids[i]=
			if ((SECONDS - started[i] >= 60)); then
				delay[i]=1
			fi
			restarts[i]=$((restarts[i] + 1))
			due[i]=$((SECONDS + delay[i]))
			say "${names[i]} exited with status $rc, restarting (restart ${restarts[i]})"
			delay[i]=$((delay[i] * 2 > 30 ? 30 : delay[i] * 2))
		elif ((SECONDS >= due[i])); then
			launch "$i"
			say "${names[i]} started pid=${pids[i]} after ${restarts[i]} restart(s) (log: $log_dir/${names[i]}.log)"
		fi
	done
}

# Stay in the foreground; a signal runs the trap at once because we wait on
# a background sleep, not a foreground one.
# Its stderr is dropped: there bash would report "Killed" for a service
# killed by a signal, which supervise says in its own words.
while :; do
	supervise
	sleep 0.5 &
	wait $! 2>/dev/null || true
done
