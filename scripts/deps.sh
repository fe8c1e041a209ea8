#!/usr/bin/env bash
# deps.sh: install the Debian 12 packages that building, testing and running
# TaskPilot need, and only those that are missing. Non-interactive; uses sudo
# when not run as root. Safe to run again: it does nothing when all are there.
set -euo pipefail

packages=(
	build-essential cmake pkg-config
	libnng-dev nanopb libnanopb-dev protobuf-compiler python3-protobuf
	libpq-dev libmicrohttpd-dev libjansson-dev libcmocka-dev
	postgresql curl jq
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
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q </dev/null
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	--no-install-recommends -o Dpkg::Options::=--force-confdef \
	-o Dpkg::Options::=--force-confold "${missing[@]}" </dev/null
