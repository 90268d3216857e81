#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# scripts/install-deps.sh: install what building, testing and the demo need
# on Debian 12, and mount bpffs. Idempotent: packages already installed are
# left alone, `apt-get update` runs only when something is missing, and
# nothing much is printed when all is in place. Run as root (make deps).
set -euo pipefail

# build: clang llvm bpftool libbpf-dev libelf-dev zlib1g-dev libnl* libjansson-dev
#        libmicrohttpd-dev pkg-config make gcc
# tests and demo: iproute2 (ip, netns, veth), jq (JSON from cellgate -j and
#        the test tools), ethtool, nftables, procps (sysctl), util-linux
#        (nsenter, setpriv), iputils-ping (reachability checks in the test bed),
#        curl (scrapes the agent's /metrics)
PKGS=(
	clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	libnl-3-dev libnl-route-3-dev libjansson-dev libmicrohttpd-dev
	pkg-config make gcc
	iproute2 ethtool nftables procps util-linux jq iputils-ping curl
)

if [[ $(id -u) -ne 0 ]]; then
	echo "install-deps: must run as root (it installs Debian packages and mounts bpffs);" \
		"try: sudo $0" >&2
	exit 1
fi

missing=()
for p in "${PKGS[@]}"; do
	st=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
	[[ $st == ii* ]] || missing+=("$p")
done

if [[ ${#missing[@]} -gt 0 ]]; then
	if ! command -v apt-get >/dev/null; then
		echo "install-deps: missing packages: ${missing[*]}; no apt-get here (Debian 12 expected)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Pinned maps and links live in bpffs (DESIGN.md section 3).
if ! mountpoint -q /sys/fs/bpf; then
	mkdir -p /sys/fs/bpf
	mount -t bpf bpf /sys/fs/bpf
	echo "install-deps: mounted bpffs at /sys/fs/bpf"
elif [[ $(stat -f -c %T /sys/fs/bpf) != bpf_fs ]]; then
	echo "install-deps: /sys/fs/bpf is mounted but is not bpffs" >&2
	exit 1
fi
