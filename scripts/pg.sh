#!/usr/bin/env bash
# pg.sh: a private PostgreSQL cluster in a folder of its own, for the test
# fixture (ctest's `pg`) and for the run command when no database URL is set.
#
#   pg.sh start DIR [--fast]   create the cluster if absent, start it, print its URL
#   pg.sh stop DIR             stop it (fast mode); fine when it is not running
#   pg.sh url DIR              print the URL of the running cluster
#   pg.sh status DIR           exit 0 when it runs, 3 when not
#
# Layout: DIR/url holds `postgresql://postgres@127.0.0.1:PORT/postgres`. The
# cluster itself lives in ROOT = DIR, or, when the postgres user cannot reach
# DIR (running as root under a folder postgres may not traverse), in a
# /tmp/tp-pg-XXXXXX folder whose path is kept in DIR/root. ROOT holds data/
# (the cluster), sock/ (its only unix socket folder) and postgres.log.
#
# It listens on 127.0.0.1 only, on a free port picked at each start. --fast
# (the test fixture) turns off fsync, synchronous_commit and
# full_page_writes: a crash may lose the cluster, which tests do not mind.
# As root, PostgreSQL runs as the postgres user (initdb refuses root).
set -euo pipefail

PROG=pg.sh
START_TIMEOUT_S=60
STOP_TIMEOUT_S=60

die() {
	echo "$PROG: $*" >&2
	exit 1
}

usage() {
	echo "usage: $PROG start DIR [--fast] | stop DIR | url DIR | status DIR" >&2
	exit 2
}

is_root() {
	[[ $(id -u) -eq 0 ]]
}

# as_pg runs a command as the user that owns the cluster. fd 9 (our lock)
# is closed for it, or the postmaster would hold the lock for its lifetime.
as_pg() {
	if is_root; then
		runuser -u postgres -- "$@" 9>&-
	else
		"$@" 9>&-
	fi
}

find_bindir() {
	local d best=""
	if [[ -n ${TP_PG_BINDIR:-} ]]; then
		[[ -x $TP_PG_BINDIR/pg_ctl ]] || die "no pg_ctl in TP_PG_BINDIR=$TP_PG_BINDIR"
		echo "$TP_PG_BINDIR"
		return
	fi
	best=$(
		for d in /usr/lib/postgresql/*/bin; do
			[[ -x $d/pg_ctl && -x $d/initdb && -x $d/postgres ]] && echo "$d"
		done | sort -V | tail -n 1
	)
	if [[ -z $best ]] && command -v pg_ctl >/dev/null 2>&1; then
		best=$(dirname "$(command -v pg_ctl)")
	fi
	[[ -n $best ]] || die "no PostgreSQL server binaries found (looked in /usr/lib/postgresql/*/bin and PATH)"
	echo "$best"
}

# abs_dir prints the absolute path of an existing folder.
abs_dir() {
	(cd "$1" && pwd -P)
}

# lock_dir serialises pg.sh runs on one DIR (a fixture and a run command, or
# two ctest runs sharing a build tree).
lock_dir() {
	exec 9>"$1/.pg.lock"
	if ! flock -w 120 9; then
		die "could not lock $1/.pg.lock within 120 s"
	fi
}

# pg_can_reach: whether the postgres user can traverse every folder of $1.
pg_can_reach() {
	if ! is_root; then
		return 0
	fi
	runuser -u postgres -- test -x "$1" 2>/dev/null
}

# resolve_root prints ROOT for DIR; with "create" it makes it when needed.
resolve_root() {
	local dir=$1 mode=$2 root
	if [[ -f $dir/root ]]; then
		root=$(<"$dir/root")
		if [[ -d $root ]]; then
			echo "$root"
			return
		fi
		[[ $mode == create ]] || { echo ""; return; }
		rm -f "$dir/root"
	fi
	if pg_can_reach "$dir"; then
		echo "$dir"
		return
	fi
	[[ $mode == create ]] || { echo ""; return; }
	root=$(mktemp -d /tmp/tp-pg-XXXXXX)
	chown postgres: "$root"
	echo "$root" >"$dir/root"
	echo "$root"
}

# is_zombie PID: the process died and waits to be reaped (pg_ctl's
# kill(pid, 0) still finds it, so it would look alive).
is_zombie() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null || true)
	stat=${stat##*) }
	[[ ${stat:0:1} == Z ]]
}

# is_running DATA: pg_ctl status says 0 running, 3 not running, 4 no cluster.
is_running() {
	local data=$1 pid i
	[[ -f $data/PG_VERSION ]] || return 1
	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
	if [[ $pid =~ ^[0-9]+$ ]] && is_zombie "$pid"; then
		# A killed postmaster: wait for its reaping, or PostgreSQL's own
		# check of the stale lock file would still see it.
		for ((i = 0; i < 100; i++)); do
			is_zombie "$pid" || break
			sleep 0.1
		done
		return 1
	fi
	as_pg "$BINDIR/pg_ctl" status -D "$data" >/dev/null 2>&1
}

port_of() {
	local data=$1 port
	port=$(sed -n 4p "$data/postmaster.pid" 2>/dev/null || true)
	[[ $port =~ ^[0-9]+$ ]] || die "cannot read the port from $data/postmaster.pid"
	echo "$port"
}

url_of() {
	echo "postgresql://postgres@127.0.0.1:$(port_of "$1")/postgres"
}

port_busy() {
	local port=$1
	if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
		return 0
	fi
	if command -v ss >/dev/null 2>&1 &&
		[[ -n $(ss -Hltn "sport = :$port" 2>/dev/null || true) ]]; then
		return 0
	fi
	return 1
}

pick_port() {
	local i port
	for ((i = 0; i < 100; i++)); do
		port=$((((RANDOM << 15) | RANDOM) % 30000 + 20000))
		if ! port_busy "$port"; then
			echo "$port"
			return
		fi
	done
	die "could not find a free TCP port on 127.0.0.1"
}

# conf_quote quotes a value for postgresql.conf.
conf_quote() {
	printf "'%s'" "${1//\'/\'\'}"
}

make_owned_dir() {
	mkdir -p "$1"
	chmod 700 "$1"
	if is_root; then
		chown postgres: "$1"
	fi
}

init_cluster() {
	local root=$1 data=$2 fast=$3
	local nosync=()
	[[ $fast == 1 ]] && nosync=(--no-sync)
	rm -rf "$data"
	make_owned_dir "$data"
	if ! as_pg "$BINDIR/initdb" -D "$data" -A trust -U postgres -E UTF8 \
		--no-locale "${nosync[@]}" >"$root/initdb.log" 2>&1; then
		cat "$root/initdb.log" >&2
		die "initdb failed in $data"
	fi
	echo "include_if_exists = 'tp.conf'" >>"$data/postgresql.conf"
}

write_conf() {
	local data=$1 sock=$2 port=$3 fast=$4 tmp
	tmp=$(mktemp "$data/.tp.conf.XXXXXX")
	{
		echo "# written by scripts/pg.sh at each start"
		echo "listen_addresses = '127.0.0.1'"
		echo "port = $port"
		# A list: double quotes keep spaces or commas inside the path.
		echo "unix_socket_directories = $(conf_quote "\"$sock\"")"
		echo "max_connections = 200"
		if [[ $fast == 1 ]]; then
			echo "fsync = off"
			echo "synchronous_commit = off"
			echo "full_page_writes = off"
		fi
	} >"$tmp"
	chmod 600 "$tmp"
	if is_root; then
		chown postgres: "$tmp"
	fi
	mv -f "$tmp" "$data/tp.conf"
}

cmd_start() {
	local dir=$1 fast=$2 root data sock log ver port attempt url
	mkdir -p "$dir"
	dir=$(abs_dir "$dir")
	lock_dir "$dir"
	root=$(resolve_root "$dir" create)
	data=$root/data
	sock=$root/sock
	log=$root/postgres.log

	if is_running "$data"; then
		url=$(url_of "$data")
		echo "$url" >"$dir/url"
		echo "$url"
		return
	fi

	ver=$("$BINDIR/postgres" -V | sed -E 's/.* ([0-9]+)(\.[0-9]+)?.*/\1/')
	if [[ -f $data/PG_VERSION ]]; then
		[[ $(<"$data/PG_VERSION") == "$ver" ]] ||
			die "$data holds a PostgreSQL $(<"$data/PG_VERSION") cluster but the binaries are $ver: remove $data"
	else
		init_cluster "$root" "$data" "$fast"
	fi
	# A socket path must fit in sun_path (107 bytes with the file name).
	if ((${#sock} > 80)); then
		sock=$(mktemp -d /tmp/tp-pg-sock-XXXXXX)
		echo "$sock" >"$dir/sockdir" # removed by stop
	fi
	make_owned_dir "$sock"
	touch "$log"
	if is_root; then
		chown postgres: "$log"
	fi

	for ((attempt = 1; attempt <= 5; attempt++)); do
		port=$(pick_port)
		write_conf "$data" "$sock" "$port" "$fast"
		local mark
		mark=$(wc -l <"$log" 2>/dev/null || echo 0)
		if as_pg "$BINDIR/pg_ctl" -D "$data" -l "$log" -w \
			-t "$START_TIMEOUT_S" -s start >/dev/null 2>&1; then
			url="postgresql://postgres@127.0.0.1:$port/postgres"
			echo "$url" >"$dir/url.tmp"
			mv -f "$dir/url.tmp" "$dir/url"
			echo "$url"
			return
		fi
		# Someone took the port between the probe and the bind: try another.
		if tail -n +"$((mark + 1))" "$log" 2>/dev/null |
			grep -q -e 'could not bind' -e 'Address already in use'; then
			continue
		fi
		# The backends of a killed postmaster still hold its shared memory
		# for a moment; they leave as soon as they notice.
		if tail -n +"$((mark + 1))" "$log" 2>/dev/null |
			grep -q -e 'pre-existing shared memory block' \
				-e 'lock file .* already exists'; then
			sleep 1
			continue
		fi
		break
	done
	echo "$PROG: could not start PostgreSQL in $data; the end of $log:" >&2
	tail -n 30 "$log" >&2 || true
	exit 1
}

cmd_stop() {
	local dir=$1 root data
	[[ -d $dir ]] || return 0
	dir=$(abs_dir "$dir")
	lock_dir "$dir"
	root=$(resolve_root "$dir" find)
	rm -f "$dir/url"
	[[ -n $root ]] || return 0
	data=$root/data
	if ! is_running "$data"; then
		return 0
	fi
	if ! as_pg "$BINDIR/pg_ctl" -D "$data" -m fast -w -t "$STOP_TIMEOUT_S" \
		-s stop >/dev/null 2>&1; then
		as_pg "$BINDIR/pg_ctl" -D "$data" -m immediate -w -t 30 -s stop ||
			die "could not stop PostgreSQL in $data"
	fi
	if [[ -f $dir/sockdir ]]; then
		rm -rf "$(<"$dir/sockdir")"
		rm -f "$dir/sockdir"
	fi
}

cmd_url() {
	local dir=$1 root
	[[ -d $dir ]] || die "no cluster in $dir"
	dir=$(abs_dir "$dir")
	root=$(resolve_root "$dir" find)
	if [[ -z $root ]] || ! is_running "$root/data"; then
		die "the cluster in $dir is not running"
	fi
	url_of "$root/data"
}

cmd_status() {
	local dir=$1 root
	[[ -d $dir ]] || exit 3
	dir=$(abs_dir "$dir")
	root=$(resolve_root "$dir" find)
	if [[ -z $root ]] || ! is_running "$root/data"; then
		exit 3
	fi
}

main() {
	local cmd dir fast=0
	[[ $# -ge 2 ]] || usage
	cmd=$1
	dir=$2
	shift 2
	while [[ $# -gt 0 ]]; do
		case $1 in
		--fast) [[ $cmd == start ]] || usage; fast=1 ;;
		*) usage ;;
		esac
		shift
	done
	[[ -n $dir ]] || usage
	if is_root && ! id postgres >/dev/null 2>&1; then
		die "running as root needs a postgres user to run PostgreSQL as"
	fi
	BINDIR=$(find_bindir)
	# Our cluster, not whatever the caller's environment points at.
	unset PGDATA PGPORT PGHOST PGHOSTADDR PGUSER PGDATABASE PGOPTIONS
	case $cmd in
	start) cmd_start "$dir" "$fast" ;;
	stop) cmd_stop "$dir" ;;
	url) cmd_url "$dir" ;;
	status) cmd_status "$dir" ;;
	*) usage ;;
	esac
}

main "$@"
