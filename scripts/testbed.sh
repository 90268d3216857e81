# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# cellgate test bed: a sourceable library that builds the standard topology
# in network namespaces with names unique to this run, and removes it again.
#
#   client  cl-gw 198.18.0.1/24 2001:db8::1/64
#      |
#   gateway gw-cl 198.18.0.254/24 2001:db8::fe/64    (steering program here)
#      |    gw-dca 198.18.1.1/24 2001:db8:1::1/64 -- dca-gw 198.18.1.2 2001:db8:1::2  dc-a
#      |    gw-dcb 198.18.2.1/24 2001:db8:2::1/64 -- dcb-gw 198.18.2.2 2001:db8:2::2  dc-b
#      |    gw-dcc 198.18.3.1/24 2001:db8:3::1/64 -- dcc-gw 198.18.3.2 2001:db8:3::2  dc-c
#
# Every unit has the VIPs 198.18.100.1 and 2001:db8:100::1 on lo, a decap
# program on its veth and a default route back through the gateway, so it
# answers the client directly (the gateway forwards replies with its kernel).
# The client routes 198.18.0.0/15 and 2001:db8::/32 to the gateway.
#
# Addresses come only from 198.18.0.0/15 and 2001:db8::/32; every link is
# created inside the namespaces (never in the caller's), so nothing here can
# send traffic anywhere else. Typical use:
#
#   . scripts/testbed.sh
#   tb_init build            # names, paths; installs the cleanup trap
#   tb_setup                 # namespaces, veth, addresses, routes
#   tb_start_echo            # cg-echo in every unit
#   tb_load_decap; tb_load_gateway native
#   tb_write_config "$TB_TMP/cfg.json" 34 33 33
#   tb_cg gw apply -f "$TB_TMP/cfg.json"
#   tb_nsx cl "$TB_TOOLS/cg-flows" --dst 198.18.100.1:7000 --flows 3000
#
# tb_teardown (also run by the trap on EXIT, INT and TERM) kills what was
# started, unloads, deletes the namespaces (and with them every veth) and
# removes the pin directories /sys/fs/bpf/cellgate/<instance> of this run.
#
# bpffs pins are shared by all network namespaces, so each namespace gets its
# own cellgate instance (TB_ID-gw, TB_ID-dca, ...). `ip netns exec` remounts
# /sys and would hide the pins: commands run through nsenter --net instead.

TB_UNITS=(dc-a dc-b dc-c)
TB_VIP4=198.18.100.1
TB_VIP6=2001:db8:100::1
TB_UDP_PORT=7000
TB_TCP_PORT=80
TB_PIN_ROOT=/sys/fs/bpf/cellgate

# tb_init BUILD_DIR [TAG]: choose this run's names; installs the cleanup trap
# unless TB_NO_TRAP=1 (then the caller must run tb_teardown itself).
tb_init() {
	local build=${1:?tb_init: BUILD_DIR missing} tag=${2:-cgt}

	TB_BUILD=$(cd "$build" && pwd) || return 1
	TB_CG=$TB_BUILD/cellgate
	TB_TOOLS=$TB_BUILD/tools
	# pid + random suffix: unique even when pids repeat across containers
	TB_ID=$tag$$$(printf '%04x' $((RANDOM)))
	TB_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$TB_ID.XXXXXX") || return 1
	TB_PIDS=()
	TB_NS_CREATED=()
	TB_LOADED=()
	TB_TORN_DOWN=0
	if [[ ${TB_NO_TRAP:-0} != 1 ]]; then
		trap 'tb_teardown' EXIT
		trap 'tb_teardown; exit 130' INT
		trap 'tb_teardown; exit 143' TERM
	fi
}

# short name of a unit: dc-a -> dca
tb_short() { printf '%s' "${1//-/}"; }

# 1-based index of a unit (the third octet of its subnet)
tb_unit_index() {
	local i

	for i in "${!TB_UNITS[@]}"; do
		[[ ${TB_UNITS[$i]} == "$1" ]] && { echo $((i + 1)); return 0; }
	done
	echo "tb_unit_index: unknown unit '$1'" >&2
	return 1
}

# namespace of a role: cl, gw or a unit name
tb_ns() {
	case $1 in
	cl | gw) printf '%s-%s' "$TB_ID" "$1" ;;
	*) printf '%s-%s' "$TB_ID" "$(tb_short "$1")" ;;
	esac
}

# cellgate instance used in a role's namespace
tb_inst() { tb_ns "$1"; }

# tb_nsx ROLE CMD...: run CMD in ROLE's network namespace (pins stay visible)
tb_nsx() {
	local ns

	ns=$(tb_ns "$1") || return 1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# tb_cg ROLE ARGS...: the cellgate CLI in ROLE's namespace and instance
tb_cg() {
	local role=$1

	shift
	tb_nsx "$role" "$TB_CG" -i "$(tb_inst "$role")" "$@"
}

# names of the veth ends
tb_gw_dev() { printf 'gw-%s' "$(tb_short "$1")"; }   # gateway side, toward unit
tb_unit_dev() { printf '%s-gw' "$(tb_short "$1")"; } # unit side

tb_unit_addr4() { printf '198.18.%s.2' "$(tb_unit_index "$1")"; }
tb_unit_addr6() { printf '2001:db8:%s::2' "$(tb_unit_index "$1")"; }

# MAC address of the unit-side veth (the next hop the gateway writes)
tb_unit_mac() {
	ip -n "$(tb_ns "$1")" -j link show dev "$(tb_unit_dev "$1")" | jq -er '.[0].address'
}

_tb_newns() {
	local role=$1 ns

	ns=$(tb_ns "$role")
	ip netns add "$ns" || return 1
	TB_NS_CREATED+=("$ns")
	ip -n "$ns" link set lo up
	# no IPv6 duplicate address detection: addresses are usable at once
	tb_nsx "$role" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
		net.ipv6.conf.default.accept_dad=0
}

# tb_setup: namespaces, veth pairs, addresses and routes
tb_setup() {
	local gw cl u ns n dev

	gw=$(tb_ns gw)
	cl=$(tb_ns cl)
	_tb_newns gw || return 1
	_tb_newns cl || return 1
	tb_nsx gw sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0

	# client <-> gateway; both ends are created inside the namespaces
	ip -n "$gw" link add gw-cl type veth peer name cl-gw netns "$cl" || return 1
	ip -n "$gw" addr add 198.18.0.254/24 dev gw-cl
	ip -n "$gw" addr add 2001:db8::fe/64 dev gw-cl nodad
	ip -n "$gw" link set gw-cl up
	ip -n "$cl" addr add 198.18.0.1/24 dev cl-gw
	ip -n "$cl" addr add 2001:db8::1/64 dev cl-gw nodad
	ip -n "$cl" link set cl-gw up
	# veth hands locally generated packets over with their checksum still to be
	# done (CHECKSUM_PARTIAL); once XDP redirects them that state is gone and
	# the unit would drop them as corrupt. Real NICs deliver full checksums, so
	# the client computes them in software, as a remote host would have.
	tb_nsx cl ethtool -K cl-gw tx off >/dev/null || return 1
	ip -n "$cl" route add 198.18.0.0/15 via 198.18.0.254
	ip -n "$cl" -6 route add 2001:db8::/32 via 2001:db8::fe

	for u in "${TB_UNITS[@]}"; do
		_tb_newns "$u" || return 1
		ns=$(tb_ns "$u")
		n=$(tb_unit_index "$u")
		dev=$(tb_unit_dev "$u")
		ip -n "$gw" link add "$(tb_gw_dev "$u")" type veth peer name "$dev" netns "$ns" ||
			return 1
		ip -n "$gw" addr add "198.18.$n.1/24" dev "$(tb_gw_dev "$u")"
		ip -n "$gw" addr add "2001:db8:$n::1/64" dev "$(tb_gw_dev "$u")" nodad
		ip -n "$gw" link set "$(tb_gw_dev "$u")" up
		ip -n "$ns" addr add "198.18.$n.2/24" dev "$dev"
		ip -n "$ns" addr add "2001:db8:$n::2/64" dev "$dev" nodad
		ip -n "$ns" link set "$dev" up
		ip -n "$ns" addr add "$TB_VIP4/32" dev lo
		ip -n "$ns" addr add "$TB_VIP6/128" dev lo nodad
		ip -n "$ns" route add default via "198.18.$n.1"
		ip -n "$ns" -6 route add default via "2001:db8:$n::1"
	done
	tb_wait_ll
}

# Wait (briefly) until every veth has left IPv6 "tentative" state, so the
# first IPv6 packets are not lost to neighbour discovery on a link-local
# address that is still being checked.
tb_wait_ll() {
	local ns i

	for ns in "${TB_NS_CREATED[@]}"; do
		for i in $(seq 50); do
			ip -n "$ns" -6 addr show tentative | grep -q inet6 || break
			sleep 0.1
		done
	done
}

# tb_route_plain UNIT: without any steering program, make the gateway route
# the VIPs to UNIT with its kernel (tests the test bed and tools alone).
# tb_route_plain with no argument removes those routes.
tb_route_plain() {
	local gw

	gw=$(tb_ns gw)
	ip -n "$gw" route del "$TB_VIP4/32" 2>/dev/null || true
	ip -n "$gw" -6 route del "$TB_VIP6/128" 2>/dev/null || true
	[[ -z ${1:-} ]] && return 0
	ip -n "$gw" route add "$TB_VIP4/32" via "$(tb_unit_addr4 "$1")" &&
		ip -n "$gw" -6 route add "$TB_VIP6/128" via "$(tb_unit_addr6 "$1")"
}

# tb_start_echo [UNIT...]: cg-echo answering UDP 7000 and TCP 80 on both
# VIPs in each unit (default: all), "UNIT HOST payload"; waits until bound.
tb_start_echo() {
	local u ns pidf i units=("$@")

	[[ ${#units[@]} -gt 0 ]] || units=("${TB_UNITS[@]}")
	for u in "${units[@]}"; do
		pidf=$TB_TMP/echo-$u.pid
		ns=$(tb_ns "$u")
		rm -f "$pidf"
		# exec: $! is cg-echo itself (nsenter execs too), so kill reaches it
		(exec nsenter --net="/run/netns/$ns" -- "$TB_TOOLS/cg-echo" --name "$u" --host "$ns" \
			--udp "$TB_VIP4:$TB_UDP_PORT" --udp "[$TB_VIP6]:$TB_UDP_PORT" \
			--tcp "$TB_VIP4:$TB_TCP_PORT" --tcp "[$TB_VIP6]:$TB_TCP_PORT" \
			--pidfile "$pidf") </dev/null >>"$TB_TMP/echo-$u.log" 2>&1 &
		TB_PIDS+=($!)
		for i in $(seq 100); do
			[[ -s $pidf ]] && break
			if ! kill -0 "${TB_PIDS[-1]}" 2>/dev/null; then
				echo "tb_start_echo: cg-echo for $u exited:" >&2
				cat "$TB_TMP/echo-$u.log" >&2
				return 1
			fi
			sleep 0.05
		done
		[[ -s $pidf ]] || { echo "tb_start_echo: cg-echo for $u not ready" >&2; return 1; }
	done
}

# tb_load_decap [MODE]: the decap program on every unit's veth (default native)
tb_load_decap() {
	local u mode=${1:-native}

	for u in "${TB_UNITS[@]}"; do
		TB_LOADED+=("decap:$u")
		tb_cg "$u" decap load --dev "$(tb_unit_dev "$u")" --mode "$mode" \
			--addr "$(tb_unit_addr4 "$u")" --addr "$(tb_unit_addr6 "$u")" || return 1
	done
}

# tb_client_xdp: an XDP program on the client's veth (the decap program,
# which passes everything else), so frames the gateway sends back with
# XDP_TX (fence rejects: TCP RST, ICMP unreachable) are delivered: veth
# drops XDP_TX into a peer that has no XDP program of its own.
tb_client_xdp() {
	TB_LOADED+=("decap:cl")
	tb_cg cl decap load --dev cl-gw --addr 198.18.0.1 --mode native >/dev/null
}

# tb_load_gateway [MODE [LOAD OPTIONS...]]: the steering program on gw-cl
tb_load_gateway() {
	local mode=${1:-native}

	[[ $# -gt 0 ]] && shift
	TB_LOADED+=("steer:gw")
	tb_cg gw load --dev gw-cl --mode "$mode" "$@"
}

# tb_write_config FILE [RATIO_A RATIO_B RATIO_C]: the gateway config for the
# three units (default 34/33/33): one IPv4 and one IPv6 endpoint per unit,
# reached through the gateway's veth toward it. Services: UDP 7000 and
# TCP 80 on both VIPs, core, sharded by flow. A UDP flow-table miss counts
# as a new flow ("udp_new_flow": "first_packet", the default, spelled out):
# after a restore UDP flows go back to the owner at once, as TCP SYNs do.
tb_write_config() {
	local file=${1:?tb_write_config: FILE missing} u i=0 r ratios
	local -a rs=("${2:-34}" "${3:-33}" "${4:-33}")

	ratios=$(for u in "${TB_UNITS[@]}"; do
		r=${rs[$i]}
		i=$((i + 1))
		jq -n --arg u "$u" --argjson r "$r" '{($u): $r}'
	done | jq -s 'add')
	for u in "${TB_UNITS[@]}"; do
		jq -n --arg name "$u" --arg dev "$(tb_gw_dev "$u")" --arg mac "$(tb_unit_mac "$u")" \
			--arg a4 "$(tb_unit_addr4 "$u")" --arg a6 "$(tb_unit_addr6 "$u")" \
			'{name: $name, endpoints: [
				{address: $a4, dev: $dev, mac: $mac},
				{address: $a6, dev: $dev, mac: $mac}]}'
	done | jq -s --argjson ratios "$ratios" --arg vip4 "$TB_VIP4" --arg vip6 "$TB_VIP6" \
		--argjson udp "$TB_UDP_PORT" --argjson tcp "$TB_TCP_PORT" '
		def svc($name; $vip; $port; $proto):
			{name: $name, vip: $vip, port: $port, proto: $proto, kind: "core",
			 key: {source: "flow"}, ratios: $ratios}
			+ (if $proto == "udp" then {udp_new_flow: "first_packet"} else {} end);
		{
			version: 1,
			encap: {source4: "198.18.250.0/24", source6: "2001:db8:250::/112"},
			units: .,
			services: [
				svc("udp4"; $vip4; $udp; "udp"),
				svc("udp6"; $vip6; $udp; "udp"),
				svc("tcp4"; $vip4; $tcp; "tcp"),
				svc("tcp6"; $vip6; $tcp; "tcp")
			]
		}' >"$file"
}

# tb_flows ARGS...: cg-flows in the client namespace (JSON summary on stdout)
tb_flows() { tb_nsx cl "$TB_TOOLS/cg-flows" "$@"; }

# tb_flows_bg OUT ARGS...: the same in the background, summary into file OUT;
# sets TB_BG_PID (cg-flows itself, so tb_teardown can stop it)
tb_flows_bg() {
	local out=$1

	shift
	(exec nsenter --net="/run/netns/$(tb_ns cl)" -- "$TB_TOOLS/cg-flows" "$@") \
		</dev/null >"$out" 2>"$out.err" &
	TB_BG_PID=$!
	TB_PIDS+=("$TB_BG_PID")
}

# true while pid $1 runs (a zombie waiting to be reaped does not count)
_tb_running() {
	local st

	st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# tb_teardown: remove everything this run created; safe to call twice
tb_teardown() {
	local p ns item inst

	[[ ${TB_TORN_DOWN:-1} == 0 ]] || return 0
	TB_TORN_DOWN=1
	# runs from traps, maybe under set -e: nothing here may abort it
	local -
	set +e
	for p in "${TB_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${TB_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			_tb_running "$p" || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# unload while the namespaces still exist (detaches the pinned links)
	if [[ -x ${TB_CG:-} ]]; then
		for item in "${TB_LOADED[@]}"; do
			case $item in
			decap:*) tb_cg "${item#decap:}" decap unload >/dev/null 2>&1 ;;
			steer:*) tb_cg "${item#steer:}" unload >/dev/null 2>&1 ;;
			esac
		done
	fi
	for ns in "${TB_NS_CREATED[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	# pin directories of this run only (names start with TB_ID)
	if [[ -n ${TB_ID:-} ]]; then
		for inst in "$TB_PIN_ROOT/$TB_ID"-*; do
			[[ -e $inst ]] && rm -rf -- "$inst"
		done
	fi
	[[ -n ${TB_TMP:-} && -d $TB_TMP ]] && rm -rf -- "$TB_TMP"
	return 0
}
