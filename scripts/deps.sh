#!/usr/bin/env bash
# deps.sh: install the Debian 12 packages that building, testing, running
# and benchmarking TaskPilot need, and only those that are missing.
# Non-interactive; uses sudo when not run as root. Safe to run again: it
# says nothing and does nothing when all are there.
set -euo pipefail

packages=(
	# the build: compiler, CMake, nanopb's generator and its protoc
	build-essential cmake pkg-config
	nanopb libnanopb-dev protobuf-compiler python3-protobuf
	# the libraries
	libnng-dev libpq-dev libmicrohttpd-dev libjansson-dev libcmocka-dev
	# PostgreSQL 15 (server, psql, pgbench for bench/run.sh's floors)
	postgresql
	# the run command and the tests: curl and jq (run_test.sh, bench),
	# openssl (the TLS test's certificates), /usr/bin/python3 with yaml
	# and jsonschema (integration.openapi)
	curl jq openssl python3 python3-yaml python3-jsonschema
	# the fuzz pass of scripts/test.sh: clang and its libFuzzer runtime
	clang libclang-rt-14-dev
	# ss, for bench/run.sh
	iproute2
)

missing=()
for p in "${packages[@]}"; do
	# "ii " is dpkg's abbreviation of "install ok installed".
	if [[ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" != ii* ]]; then
		missing+=("$p")
	fi
done
if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

sudo=()
if [[ "$(id -u)" -ne 0 ]]; then
	if ! command -v sudo >/dev/null 2>&1; then
		echo "deps: missing packages: ${missing[*]}; run as root or install sudo" >&2
		exit 1
	fi
	sudo=(sudo)
fi

echo "deps: installing ${missing[*]}" >&2
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confdef \
	-o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
