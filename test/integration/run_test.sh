#!/usr/bin/env bash
# run_test.sh: the README's run command end to end. Starts scripts/run.sh
# with its own PostgreSQL and non-default ports, drives the Day-4 flow with
# curl through the gateway, then sends SIGTERM and checks that everything
# stopped and that run.sh exited 0.
#
# Environment: TP_BUILD_DIR (set by ctest) names the build whose binaries
# run.sh starts, so nothing is rebuilt here.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
: "${TP_BUILD_DIR:?set TP_BUILD_DIR to a build directory}"
export TP_BUILD_DIR

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

# free_port: a port nothing listens on now, not one handed out before, and
# below the ephemeral range: a client dialing a port in that range before its
# server listens can connect to itself and take the port.
used=" "
ephemeral_low=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
	local port
	for ((i = 0; i < 200; i++)); do
		port=$((RANDOM % (ephemeral_low - 10000) + 10000))
		if [[ $used != *" $port "* ]] && port_free "$port"; then
			used+="$port "
			echo "$port"
			return
		fi
	done
	fail "no free port found"
}

dtp_rpc=$(free_port)
pilot_rpc=$(free_port)
dtp_http=$(free_port)
pilot_http=$(free_port)
export DTP_LISTEN=tcp://127.0.0.1:$dtp_rpc
export PILOT_LISTEN=tcp://127.0.0.1:$pilot_rpc
export SHIM_DTP_LISTEN=127.0.0.1:$dtp_http
export SHIM_PILOT_LISTEN=127.0.0.1:$pilot_http
# The run command's own cluster, whatever the caller's environment says.
unset DATABASE_URL DTP_DATABASE_URL PILOT_DATABASE_URL PILOT_DTP_URL \
	SHIM_DTP_URL SHIM_PILOT_URL TP_API_TOKEN

: >"$log"
"$root/scripts/run.sh" >"$log" 2>&1 </dev/null &
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

# 4. SIGTERM: run.sh stops the services, then PostgreSQL, and exits 0.
kill -TERM "$run_pid"
rc=0
for ((i = 0; i < 900; i++)); do
	kill -0 "$run_pid" 2>/dev/null || break
	sleep 0.1
done
kill -0 "$run_pid" 2>/dev/null && fail "run.sh still runs 90 s after SIGTERM"
wait "$run_pid" || rc=$?
run_pid=
[[ $rc -eq 0 ]] || fail "run.sh exited $rc after SIGTERM"
for name in tpgateway taskpilot dtp; do
	grep -q "^run: $name stopped$" "$log" || fail "run.sh did not report $name stopped"
done
for port in "$dtp_rpc" "$pilot_rpc" "$dtp_http" "$pilot_http"; do
	port_free "$port" || fail "something still listens on port $port"
done
rc=0
"$root/scripts/pg.sh" status "$TP_RUN_DIR/pg" || rc=$?
[[ $rc -eq 3 ]] || fail "PostgreSQL still runs (pg.sh status: $rc)"
echo "run_test: ok (web task $id, DTP task $task_id)"
