#!/usr/bin/env bash
# run_test.sh: the README's run command end to end. Starts scripts/run.sh
# with its own PostgreSQL and non-default ports, drives the Day-4 flow with
# curl through the gateway, then sends SIGTERM (or, with several nodes,
# Ctrl-C's SIGINT) and checks that everything stopped and that run.sh
# exited 0.
#
#   run_test.sh [--dtp-nodes N]
#
# With --dtp-nodes 2 or more it also checks that every node answers Health
# under its own name, then SIGKILLs the last node: run.sh must say it
# restarts it, the node must answer Health again, and a web task created and
# bound meanwhile must still succeed (followed with tpctl pilot watch).
#
# Environment: TP_BUILD_DIR (set by ctest) names the build whose binaries
# run.sh starts, so nothing is rebuilt here.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${TP_BUILD_DIR:?set TP_BUILD_DIR to a build directory}"
export TP_BUILD_DIR
tpctl=$TP_BUILD_DIR/tpctl

nodes=1
case ${1:-} in
'') ;;
--dtp-nodes)
	nodes=${2:?--dtp-nodes needs a value}
	;;
*)
	echo "usage: run_test.sh [--dtp-nodes N]" >&2
	exit 2
	;;
esac

fail() {
	echo "run_test: FAIL: $*" >&2
	exit 1
}

# A private run directory postgres may traverse (pg.sh runs it as postgres).
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tp-run-test-XXXXXX")
chmod 755 "$tmp"
export TP_RUN_DIR=$tmp/run
log=$tmp/run.log
run_pid=

cleanup() {
	local rc=$?
	if [[ -n $run_pid ]] && kill -0 "$run_pid" 2>/dev/null; then
		kill -TERM "$run_pid" 2>/dev/null || true
		for ((i = 0; i < 600; i++)); do
			kill -0 "$run_pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$run_pid" 2>/dev/null || true
	fi
	"$root/scripts/pg.sh" stop "$TP_RUN_DIR/pg" >/dev/null 2>&1 || true
	if [[ $rc -ne 0 ]]; then
		echo "run_test: the output of run.sh:" >&2
		cat "$log" >&2 || true
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT

# port_free PORT: nothing accepts connections on 127.0.0.1:PORT.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port VAR [STEP COUNT]: sets VAR to a port nothing listens on now,
# not one handed out before, and below the ephemeral range: a client dialing
# a port in that range before its server listens can connect to itself and
# take the port. With STEP and COUNT, the COUNT ports VAR, VAR+STEP, ... are
# all free (run.sh's DTP nodes listen two ports apart).
used=" "
ephemeral_low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
	local -n var=$1
	local step=${2:-1} count=${3:-1} port ok i k
	for ((i = 0; i < 200; i++)); do
		port=$((RANDOM % (ephemeral_low - 10000 - step * count) + 10000))
		ok=1
		for ((k = 0; k < count; k++)); do
			if [[ $used == *" $((port + k * step)) "* ]] ||
				! port_free $((port + k * step)); then
				ok=0
				break
			fi
		done
		if ((ok)); then
			for ((k = 0; k < count; k++)); do
				used+="$((port + k * step)) "
			done
			# shellcheck disable=SC2034 # a nameref: sets the caller's
			var=$port
			return
		fi
	done
	fail "no free port found"
}

# run.sh's ports: the DTP nodes' (two apart), then the others.
dtp_rpc='' pilot_rpc='' dtp_http='' pilot_http=''
free_port dtp_rpc 2 "$nodes"
free_port pilot_rpc
free_port dtp_http
free_port pilot_http
export DTP_LISTEN=tcp://127.0.0.1:$dtp_rpc
export PILOT_LISTEN=tcp://127.0.0.1:$pilot_rpc
export SHIM_DTP_LISTEN=127.0.0.1:$dtp_http
export SHIM_PILOT_LISTEN=127.0.0.1:$pilot_http
# The run command's own cluster, whatever the caller's environment says.
unset DATABASE_URL DTP_DATABASE_URL PILOT_DATABASE_URL PILOT_DTP_URL \
	SHIM_DTP_URL SHIM_PILOT_URL TP_API_TOKEN DTP_NODE_NAME

: >"$log"
if ((nodes == 1)); then
	"$root/scripts/run.sh" >"$log" 2>&1 </dev/null &
else
	# In a process group of its own, as a terminal's foreground job: a
	# background job of a script without job control would ignore SIGINT,
	# and the Ctrl-C below would not reach it.
	set -m
	"$root/scripts/run.sh" --dtp-nodes "$nodes" >"$log" 2>&1 </dev/null &
	set +m
fi
run_pid=$!

# Ready when run.sh says so (it waits for /healthz on both ports itself).
for ((i = 0; ; i++)); do
	kill -0 "$run_pid" 2>/dev/null || fail "run.sh exited before it was ready"
	grep -q 'Press Ctrl-C to stop' "$log" && break
	((i < 1800)) || fail "run.sh was not ready within 180 s"
	sleep 0.1
done
curl -fsS "http://$SHIM_DTP_LISTEN/healthz" >/dev/null || fail "no /healthz on $SHIM_DTP_LISTEN"
curl -fsS "http://$SHIM_PILOT_LISTEN/healthz" >/dev/null || fail "no /healthz on $SHIM_PILOT_LISTEN"

# request METHOD URL [BODY]: sets $code and $body.
request() {
	local out
	if [[ $# -ge 3 ]]; then
		out=$(curl -sS -X "$1" "$2" -H 'Content-Type: application/json' \
			-d "$3" -w '\n%{http_code}') || fail "curl -X $1 $2 failed"
	else
		out=$(curl -sS -X "$1" "$2" -w '\n%{http_code}') ||
			fail "curl -X $1 $2 failed"
	fi
	code=${out##*$'\n'}
	body=${out%$'\n'*}
}

# expect JQ_FILTER: the filter holds for $body.
expect() {
	jq -e "$1" >/dev/null <<<"$body" || fail "expected $1 in $body"
}

api=http://$SHIM_PILOT_LISTEN/api/tasks

# 1. Create a web task: 201, unbound.
request POST "$api" '{"type":"demo","title":"hello","payload":"hello world"}'
[[ $code == 201 ]] || fail "POST /api/tasks answered $code: $body"
[[ $body == *'"schedulerTaskId":null'* ]] || fail "not unbound: $body"
expect '.id | type == "number"'
expect '.type == "demo" and .title == "hello" and .payload == "hello world"'
id=$(jq -r .id <<<"$body")

# 2. Bind it: 200, bound to a DTP task.
request POST "$api/$id/scheduler"
[[ $code == 200 ]] || fail "POST /api/tasks/$id/scheduler answered $code: $body"
[[ $body =~ \"schedulerTaskId\":([0-9]+) ]] || fail "not bound: $body"
task_id=${BASH_REMATCH[1]}
expect ".id == $id"

# 3. Its execution, until final: SUCCEEDED with the bind's exact payload.
want="{\"webTaskId\":$id,\"type\":\"demo\",\"payload\":\"hello world\"}"
for ((i = 0; ; i++)); do
	request GET "$api/$id/execution"
	[[ $code == 200 ]] || fail "GET /api/tasks/$id/execution answered $code: $body"
	status=$(jq -r .status <<<"$body")
	[[ $status == SUCCEEDED || $status == FAILED || $status == CANCELLED ]] && break
	((i < 300)) || fail "task $task_id not final within 30 s: $body"
	sleep 0.1
done
[[ $status == SUCCEEDED ]] || fail "task $task_id ended $status: $body"
expect ".id == $task_id and .attempts == 1"
[[ $(jq -r .payload <<<"$body") == "$want" ]] || fail "payload: $body"
[[ $(jq -r .result <<<"$body") == "$want" ]] || fail "result: $body"

# The DTP side agrees, and an unknown id is a grpc-gateway style 404.
request GET "http://$SHIM_DTP_LISTEN/tasks/$task_id"
[[ $code == 200 ]] || fail "GET /tasks/$task_id answered $code: $body"
expect '.status == "SUCCEEDED"'
request GET "$api/987654321"
[[ $code == 404 ]] || fail "GET /api/tasks/987654321 answered $code: $body"
expect '.code == 5 and .status == "NOT_FOUND"'

# node_health K: DTP node K answers Health OK, under the name dtp-K.
node_health() {
	local out
	out=$("$tpctl" --url "tcp://127.0.0.1:$((dtp_rpc + 2 * ($1 - 1)))" \
		--timeout 2000 dtp health 2>&1) || return 1
	[[ $out == "dtp ok "*" node=dtp-$1" ]]
}

if ((nodes > 1)); then
	# 4. Every node answers under its own name.
	for ((k = 1; k <= nodes; k++)); do
		node_health "$k" || fail "dtp-$k does not answer Health on port $((dtp_rpc + 2 * (k - 1)))"
	done

	# 5. SIGKILL the last node. run.sh restarts it; a task created and
	# bound meanwhile still succeeds on the nodes that are up.
	victim=dtp-$nodes
	line=$(grep -E "^run\.sh: $victim started pid=[0-9]+ " "$log" | tail -n 1) ||
		fail "run.sh did not say the pid of $victim"
	[[ $line =~ pid=([0-9]+) ]]
	victim_pid=${BASH_REMATCH[1]}
	kill -KILL "$victim_pid"

	request POST "$api" '{"type":"demo","payload":"while a node restarts"}'
	[[ $code == 201 ]] || fail "POST /api/tasks answered $code: $body"
	id2=$(jq -r .id <<<"$body")
	request POST "$api/$id2/scheduler"
	[[ $code == 200 ]] || fail "bind of web task $id2 answered $code: $body"

	want_line="run.sh: $victim exited with status 137, restarting (restart 1)"
	for ((i = 0; ; i++)); do
		grep -qxF "$want_line" "$log" && break
		((i < 300)) || fail "run.sh did not say \"$want_line\" within 30 s"
		sleep 0.1
	done
	for ((i = 0; ; i++)); do
		node_health "$nodes" && break
		((i < 300)) || fail "$victim did not answer Health within 30 s of its restart"
		sleep 0.1
	done
	grep -qE "^run\.sh: $victim started pid=[0-9]+ after 1 restart" "$log" ||
		fail "run.sh did not say it started $victim again"

	rc=0
	out=$("$tpctl" --pilot-url "$PILOT_LISTEN" --timeout 30000 --json \
		pilot watch "$id2" 2>"$tmp/watch.err") || rc=$?
	[[ $rc -eq 0 ]] || fail "tpctl pilot watch $id2 exited $rc: $out $(cat "$tmp/watch.err")"
	body=$out
	expect '.status == "SUCCEEDED"'
	[[ $(jq -r .result <<<"$body") == *'while a node restarts'* ]] ||
		fail "result: $body"
fi

# 6. SIGTERM (one node) or Ctrl-C (SIGINT to the process group, as a
# terminal sends it): run.sh stops the services, then PostgreSQL, and exits 0.
if ((nodes == 1)); then
	kill -TERM "$run_pid"
else
	kill -INT -- "-$run_pid"
fi
rc=0
for ((i = 0; i < 900; i++)); do
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && fail "run.sh still runs 90 s after it was told to stop"
wait "$run_pid" || rc=$?
run_pid=
[[ $rc -eq 0 ]] || fail "run.sh exited $rc after it was told to stop"
stopped=(tpgateway taskpilot)
if ((nodes == 1)); then
	stopped+=(dtp)
else
	for ((k = 1; k <= nodes; k++)); do
		stopped+=("dtp-$k")
	done
fi
for name in "${stopped[@]}"; do
	grep -q "^run\.sh: $name stopped$" "$log" || fail "run.sh did not report $name stopped"
done
for ((k = 0; k < nodes; k++)); do
	port_free $((dtp_rpc + 2 * k)) || fail "something still listens on port $((dtp_rpc + 2 * k))"
done
for port in "$pilot_rpc" "$dtp_http" "$pilot_http"; do
	port_free "$port" || fail "something still listens on port $port"
done
rc=0
"$root/scripts/pg.sh" status "$TP_RUN_DIR/pg" || rc=$?
[[ $rc -eq 3 ]] || fail "PostgreSQL still runs (pg.sh status: $rc)"
echo "run_test: ok, $nodes DTP node(s) (web task $id, DTP task $task_id)"
