# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Chaos test bed: a sourceable library that builds, in network namespaces
# named uniquely for this run, a richer topology than scripts/testbed.sh:
# several clients, one or two gateways and three units with several backend
# hosts each, and removes it again.
#
#   cl1 cl2 ...            clients       198.18.1K.2/24     2001:db8:1K::2/64
#      \ | /
#      edge                router: VIPs over ECMP (or active/standby) to the gateways
#      /   \                             edge 198.18.2G.1    gw 198.18.2G.2
#    gw1   gw2             gateways: steering program (XDP) on "edge"
#      \   /  (a veth from every gateway to every unit; gw side named dca/dcb/dcc)
#   dca dcb dcc            unit routers  on link G-U: gw 198.18.(20+10G+U).1, unit .2
#    |    |   |            bridge "lan" 198.18.(50+U).1/24  2001:db8:(50+U)::1/64
#  dca1 dca2 ...           backends      198.18.(50+U).(10+H)  2001:db8:(50+U)::(10+H)
#
# Every backend has the VIPs (198.18.100.1, 2001:db8:100::1) on lo, the
# decap program on its "lan" interface and cg-echo answering the services
# (UDP 7000, TCP 80) with "UNIT HOST ..." plus a health port (UDP 7001) on
# its own addresses. The gateway's endpoints are the backends: the tunnel
# packet is routed by the unit router to the backend, which decapsulates
# it and answers the client directly (back through a gateway's kernel).
#
# A unit router is the unit's border: a fault injector cuts its uplinks,
# drops its traffic with nftables or deletes its namespaces (see faults.sh).
# Addresses come only from 198.18.0.0/15 and 2001:db8::/32, and every link
# is created inside the namespaces of this run. Use:
#
#   . scripts/chaos/topo.sh
#   ct_init build [TAG]       # names, paths, cleanup trap (EXIT INT TERM)
#   ct_setup                  # namespaces, links, addresses, routes, echo, decap
#   ct_load_gateways          # steering on every gateway, config applied
#   ct_cg gw1 status          # the CLI in a role's namespace and instance
#
# Settings (environment, before ct_init): CT_CLIENTS (2), CT_GATEWAYS (1 or
# 2, default 2), CT_BACKENDS (per unit, 2), CT_GW_MODE (ecmp | standby),
# CT_XDP_MODE (native). ct_teardown (run by the trap) stops what this run
# started, deletes its namespaces (links and nftables rules go with them)
# and removes its pin directories /sys/fs/bpf/cellgate/<run>-*.

CT_UNITS=(dc-a dc-b dc-c)
CT_VIP4=198.18.100.1
CT_VIP6=2001:db8:100::1
CT_UDP_PORT=7000
CT_TCP_PORT=80
CT_HEALTH_PORT=7001
CT_PIN_ROOT=/sys/fs/bpf/cellgate

# ct_init BUILD_DIR [TAG]: this run's names; installs the cleanup trap
# unless CT_NO_TRAP=1 (the caller then runs ct_teardown itself)
ct_init() {
	local build=${1:?ct_init: BUILD_DIR missing} tag=${2:-cgc}

	CT_BUILD=$(cd "$build" && pwd) || return 1
	CT_CG=$CT_BUILD/cellgate
	CT_TOOLS=$CT_BUILD/tools
	CT_CLIENTS=${CT_CLIENTS:-2}
	CT_GATEWAYS=${CT_GATEWAYS:-2}
	CT_BACKENDS=${CT_BACKENDS:-2}
	CT_GW_MODE=${CT_GW_MODE:-ecmp}
	CT_XDP_MODE=${CT_XDP_MODE:-native}
	[[ $CT_GATEWAYS == 1 || $CT_GATEWAYS == 2 ]] ||
		{ echo "ct_init: CT_GATEWAYS must be 1 or 2" >&2; return 1; }
	[[ $CT_CLIENTS =~ ^[1-9]$ && $CT_BACKENDS =~ ^[1-9]$ ]] ||
		{ echo "ct_init: CT_CLIENTS and CT_BACKENDS must be 1..9" >&2; return 1; }
	[[ $CT_GW_MODE == ecmp || $CT_GW_MODE == standby ]] ||
		{ echo "ct_init: CT_GW_MODE must be ecmp or standby" >&2; return 1; }
	# pid + random suffix: unique even when pids repeat across containers
	CT_ID=$tag$$$(printf '%04x' $((RANDOM)))
	CT_TMP=$(mktemp -d "${TMPDIR:-/tmp}/$CT_ID.XXXXXX") || return 1
	CT_PIDS=()
	CT_NS_CREATED=()
	CT_TORN_DOWN=0
	CT_GW_DOWN='' # gateways the routes avoid (" gw1 ")
	declare -gA CT_NS_PIDS=() # namespace -> pids started in it
	if [[ ${CT_NO_TRAP:-0} != 1 ]]; then
		trap 'ct_teardown' EXIT
		trap 'ct_teardown; exit 130' INT
		trap 'ct_teardown; exit 143' TERM
	fi
}

# ---- names ----

ct_short() { printf '%s' "${1//-/}"; }   # dc-a -> dca
ct_unit_index() {                         # dc-a -> 1
	local i

	for i in "${!CT_UNITS[@]}"; do
		[[ ${CT_UNITS[$i]} == "$1" ]] && { echo $((i + 1)); return 0; }
	done
	echo "ct_unit_index: unknown unit '$1'" >&2
	return 1
}
ct_gateways() { seq 1 "$CT_GATEWAYS" | sed 's/^/gw/'; }
# gateways that routes may use: they exist and are not being taken down
_ct_gw_usable() { [[ -e /run/netns/$(ct_ns "$1") && $CT_GW_DOWN != *" $1 "* ]]; }
ct_clients() { seq 1 "$CT_CLIENTS" | sed 's/^/cl/'; }
# roles: edge, clK, gwG, a unit name (its router) or UNIT/H (backend H)
ct_ns() {
	case $1 in
	*/*) printf '%s-%s%s' "$CT_ID" "$(ct_short "${1%/*}")" "${1#*/}" ;;
	dc-*) printf '%s-%s' "$CT_ID" "$(ct_short "$1")" ;;
	*) printf '%s-%s' "$CT_ID" "$1" ;;
	esac
}
ct_inst() { ct_ns "$1"; } # cellgate instance (pin directory) of a role
ct_backends() {           # UNIT -> dc-a/1 dc-a/2 ...
	local h

	for h in $(seq 1 "$CT_BACKENDS"); do
		printf '%s/%s\n' "$1" "$h"
	done
}
ct_host() { printf '%s%s' "$(ct_short "${1%/*}")" "${1#*/}"; } # dc-a/1 -> dca1

# addresses
ct_client4() { printf '198.18.%d.2' $((10 + ${1#cl})); }
ct_client6() { printf '2001:db8:%d::2' $((10 + ${1#cl})); }
ct_link_net() { echo $((20 + 10 * ${1#gw} + $(ct_unit_index "$2"))); } # gwG UNIT -> octet
ct_lan_net() { echo $((50 + $(ct_unit_index "$1"))); }
ct_backend4() { printf '198.18.%d.%d' "$(ct_lan_net "${1%/*}")" $((10 + ${1#*/})); }
ct_backend6() { printf '2001:db8:%d::%d' "$(ct_lan_net "${1%/*}")" $((10 + ${1#*/})); }
# the unit router's MAC on its link to gateway G: fixed, so that a unit
# rebuilt after its namespace was deleted keeps the gateway's endpoints valid
ct_router_mac() { printf '02:c6:12:%02x:%02x:02' "${1#gw}" "$(ct_unit_index "$2")"; }

# ct_nsx ROLE CMD...: CMD in ROLE's namespace (bpffs pins stay visible)
ct_nsx() {
	local ns

	ns=$(ct_ns "$1") || return 1
	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# ct_cg ROLE ARGS...: the cellgate CLI in ROLE's namespace and instance, its
# audit log in this run's directory
ct_cg() {
	local role=$1

	shift
	CELLGATE_AUDIT_LOG=$CT_TMP/audit-$role.jsonl \
		ct_nsx "$role" "$CT_CG" -i "$(ct_inst "$role")" "$@"
}

# ct_bg ROLE LOG CMD...: CMD in ROLE's namespace in the background, output
# appended to LOG; sets CT_BG_PID (the command itself: nsenter execs)
ct_bg() {
	local role=$1 log=$2 ns

	shift 2
	ns=$(ct_ns "$role")
	(exec nsenter --net="/run/netns/$ns" -- "$@") </dev/null >>"$log" 2>&1 &
	CT_BG_PID=$!
	CT_PIDS+=("$CT_BG_PID")
	CT_NS_PIDS[$ns]+=" $CT_BG_PID"
}

# ---- building ----

_ct_newns() {
	local role=$1 ns

	ns=$(ct_ns "$role")
	ip netns add "$ns" || return 1
	[[ " ${CT_NS_CREATED[*]} " == *" $ns "* ]] || CT_NS_CREATED+=("$ns")
	ip -n "$ns" link set lo up
	# no DAD (addresses usable at once), no reverse-path filter (tunnel and
	# reply paths are asymmetric), routes through a dead link are ignored,
	# IPv6 addresses stay on a link set down (as IPv4 ones do)
	ct_nsx "$role" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0 \
		net.ipv4.conf.all.rp_filter=0 net.ipv4.conf.default.rp_filter=0 \
		net.ipv4.conf.all.ignore_routes_with_linkdown=1 \
		net.ipv4.conf.default.ignore_routes_with_linkdown=1 \
		net.ipv6.conf.all.ignore_routes_with_linkdown=1 \
		net.ipv6.conf.default.ignore_routes_with_linkdown=1 \
		net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.default.keep_addr_on_down=1 >/dev/null
}

_ct_router() { ct_nsx "$1" sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1 >/dev/null; }

# _ct_veth NS_A DEV_A NS_B DEV_B [MAC_B]: a veth pair between two namespaces
_ct_veth() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" ${5:+address "$5"} &&
		ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

# ct_link_gw_unit gwG UNIT: the veth between a gateway and a unit router,
# its addresses and the gateway's routes to the unit's backends
ct_link_gw_unit() {
	local g=$1 u=$2 gns rns ln n dev

	gns=$(ct_ns "$g")
	rns=$(ct_ns "$u")
	ln=$(ct_link_net "$g" "$u")
	n=$(ct_lan_net "$u")
	dev=$(ct_short "$u")
	_ct_veth "$gns" "$dev" "$rns" "$g" "$(ct_router_mac "$g" "$u")" || return 1
	ip -n "$gns" addr add "198.18.$ln.1/24" dev "$dev"
	ip -n "$gns" addr add "2001:db8:$ln::1/64" dev "$dev" nodad
	ip -n "$rns" addr add "198.18.$ln.2/24" dev "$g"
	ip -n "$rns" addr add "2001:db8:$ln::2/64" dev "$g" nodad
	# the gateway redirects tunnel packets into this veth from XDP: its
	# receiving end needs NAPI, which GRO turns on (DESIGN.md 5)
	ct_nsx "$u" ethtool -K "$g" gro on >/dev/null || return 1
	ip -n "$gns" route replace "198.18.$n.0/24" via "198.18.$ln.2"
	ip -n "$gns" -6 route replace "2001:db8:$n::/64" via "2001:db8:$ln::2"
}

# ct_unit_routes UNIT: the unit router's way back to the clients, over every
# gateway (ECMP; a dead link is skipped). Run again after its links were
# set down and up: the kernel drops routes through a device set down.
ct_unit_routes() {
	local u=$1 rns g
	local -a nh4=() nh6=()

	rns=$(ct_ns "$u")
	[[ -e /run/netns/$rns ]] || return 0
	for g in $(ct_gateways); do
		_ct_gw_usable "$g" || continue
		nh4+=("198.18.$(ct_link_net "$g" "$u").1,$g")
		nh6+=("2001:db8:$(ct_link_net "$g" "$u")::1,$g")
	done
	_ct_multipath "$rns" 4 198.18.0.0/15 "${nh4[@]}"
	_ct_multipath "$rns" 6 2001:db8::/32 "${nh6[@]}"
}

# ct_setup_unit UNIT: its router, backends, links to every gateway, echo and
# decap; also used to rebuild a unit whose namespaces were deleted
ct_setup_unit() {
	local u=$1 n rns g b bns h

	n=$(ct_lan_net "$u")
	rns=$(ct_ns "$u")
	_ct_newns "$u" || return 1
	_ct_router "$u"
	ip -n "$rns" link add lan type bridge && ip -n "$rns" link set lan up || return 1
	ip -n "$rns" addr add "198.18.$n.1/24" dev lan
	ip -n "$rns" addr add "2001:db8:$n::1/64" dev lan nodad
	for g in $(ct_gateways); do
		ct_link_gw_unit "$g" "$u" || return 1
	done
	ct_unit_routes "$u"
	for b in $(ct_backends "$u"); do
		bns=$(ct_ns "$b")
		h=${b#*/}
		_ct_newns "$b" || return 1
		_ct_veth "$rns" "b$h" "$bns" lan || return 1
		ip -n "$rns" link set "b$h" master lan || return 1
		ip -n "$bns" addr add "$(ct_backend4 "$b")/24" dev lan
		ip -n "$bns" addr add "$(ct_backend6 "$b")/64" dev lan nodad
		ip -n "$bns" addr add "$CT_VIP4/32" dev lo
		ip -n "$bns" addr add "$CT_VIP6/128" dev lo nodad
		ip -n "$bns" route add 198.18.0.0/15 via "198.18.$n.1"
		ip -n "$bns" -6 route add 2001:db8::/32 via "2001:db8:$n::1"
		ct_cg "$b" decap load --dev lan --mode "$CT_XDP_MODE" \
			--addr "$(ct_backend4 "$b")" --addr "$(ct_backend6 "$b")" >/dev/null || return 1
		ct_start_echo "$b" || return 1
	done
}

# _ct_multipath NS FAMILY PREFIX VIA,DEV...: one route over every next hop
_ct_multipath() {
	local ns=$1 fam=$2 pfx=$3 nh
	local -a args=()

	shift 3
	if [[ $# -eq 0 ]]; then
		ip -n "$ns" -"$fam" route del "$pfx" 2>/dev/null
		return 0
	fi
	if [[ $# -eq 1 ]]; then
		ip -n "$ns" -"$fam" route replace "$pfx" via "${1%,*}" dev "${1#*,}"
		return
	fi
	for nh in "$@"; do
		args+=(nexthop via "${nh%,*}" dev "${nh#*,}")
	done
	ip -n "$ns" -"$fam" route replace "$pfx" "${args[@]}"
}

# ct_edge_routes: the VIPs from the edge to the gateways that are up
# (ECMP over both, or gw1 preferred with gw2 as standby)
ct_edge_routes() {
	local ens g m pfx4=198.18.100.0/24 pfx6=2001:db8:100::/48
	local -a nh4=() nh6=()

	ens=$(ct_ns edge)
	if [[ $CT_GW_MODE == ecmp ]]; then
		for g in $(ct_gateways); do
			_ct_gw_usable "$g" || continue
			nh4+=("198.18.$((20 + ${g#gw})).2,$g")
			nh6+=("2001:db8:$((20 + ${g#gw}))::2,$g")
		done
		_ct_multipath "$ens" 4 "$pfx4" "${nh4[@]}"
		_ct_multipath "$ens" 6 "$pfx6" "${nh6[@]}"
		return
	fi
	for g in $(ct_gateways); do
		if ! _ct_gw_usable "$g"; then
			ip -n "$ens" route del "$pfx4" dev "$g" 2>/dev/null
			ip -n "$ens" -6 route del "$pfx6" dev "$g" 2>/dev/null
			continue
		fi
		m=$((10 * ${g#gw}))
		ip -n "$ens" route replace "$pfx4" via "198.18.$((20 + ${g#gw})).2" dev "$g" metric "$m"
		ip -n "$ens" -6 route replace "$pfx6" via "2001:db8:$((20 + ${g#gw}))::2" dev "$g" metric "$m"
	done
}

# ct_setup_gateway gwG: its namespace and link to the edge (not the units')
ct_setup_gateway() {
	local g=$1 gns ens k

	gns=$(ct_ns "$g")
	ens=$(ct_ns edge)
	k=$((20 + ${g#gw}))
	_ct_newns "$g" || return 1
	_ct_router "$g"
	_ct_veth "$ens" "$g" "$gns" edge || return 1
	ip -n "$ens" addr add "198.18.$k.1/24" dev "$g"
	ip -n "$ens" addr add "2001:db8:$k::1/64" dev "$g" nodad
	ip -n "$gns" addr add "198.18.$k.2/24" dev edge
	ip -n "$gns" addr add "2001:db8:$k::2/64" dev edge nodad
	for c in $(ct_clients); do
		ip -n "$gns" route add "198.18.$((10 + ${c#cl})).0/24" via "198.18.$k.1"
		ip -n "$gns" -6 route add "2001:db8:$((10 + ${c#cl}))::/64" via "2001:db8:$k::1"
	done
}

# ct_setup: the whole topology, echo services and decap programs
ct_setup() {
	local ens c cns k u g

	_ct_newns edge || return 1
	_ct_router edge
	ens=$(ct_ns edge)
	# ECMP by the 5-tuple, as a datacenter fabric spreads flows
	ct_nsx edge sysctl -qw net.ipv4.fib_multipath_hash_policy=1 \
		net.ipv6.fib_multipath_hash_policy=1 >/dev/null
	for c in $(ct_clients); do
		_ct_newns "$c" || return 1
		cns=$(ct_ns "$c")
		k=$((10 + ${c#cl}))
		_ct_veth "$cns" edge "$ens" "$c" || return 1
		ip -n "$cns" addr add "198.18.$k.2/24" dev edge
		ip -n "$cns" addr add "2001:db8:$k::2/64" dev edge nodad
		ip -n "$ens" addr add "198.18.$k.1/24" dev "$c"
		ip -n "$ens" addr add "2001:db8:$k::1/64" dev "$c" nodad
		ip -n "$cns" route add 198.18.0.0/15 via "198.18.$k.1"
		ip -n "$cns" -6 route add 2001:db8::/32 via "2001:db8:$k::1"
		# locally generated packets leave veth with their checksum still to be
		# done; once XDP redirects them that state is lost and the backend would
		# drop them (see scripts/testbed.sh): clients checksum in software
		ct_nsx "$c" ethtool -K edge tx off >/dev/null || return 1
	done
	for g in $(ct_gateways); do
		ct_setup_gateway "$g" || return 1
	done
	ct_edge_routes
	for u in "${CT_UNITS[@]}"; do
		ct_setup_unit "$u" || return 1
	done
	ct_wait_ll
}

# Wait (briefly) until no IPv6 address is tentative in this run's namespaces.
ct_wait_ll() {
	local ns i

	for ns in "${CT_NS_CREATED[@]}"; do
		[[ -e /run/netns/$ns ]] || continue
		for i in $(seq 50); do
			ip -n "$ns" -6 addr show tentative 2>/dev/null | grep -q inet6 || break
			sleep 0.1
		done
	done
}

# ct_start_echo BACKEND: cg-echo for the services and the health port
ct_start_echo() {
	local b=$1 u=${1%/*} pidf i

	pidf=$CT_TMP/echo-$(ct_host "$b").pid
	rm -f "$pidf"
	ct_bg "$b" "$CT_TMP/echo-$(ct_host "$b").log" "$CT_TOOLS/cg-echo" --name "$u" \
		--host "$(ct_host "$b")" \
		--udp "$CT_VIP4:$CT_UDP_PORT" --udp "[$CT_VIP6]:$CT_UDP_PORT" \
		--tcp "$CT_VIP4:$CT_TCP_PORT" --tcp "[$CT_VIP6]:$CT_TCP_PORT" \
		--udp "$(ct_backend4 "$b"):$CT_HEALTH_PORT" \
		--udp "[$(ct_backend6 "$b")]:$CT_HEALTH_PORT" --pidfile "$pidf"
	for i in $(seq 100); do
		[[ -s $pidf ]] && return 0
		kill -0 "$CT_BG_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "ct_start_echo: cg-echo for $b did not start:" >&2
	cat "$CT_TMP/echo-$(ct_host "$b").log" >&2
	return 1
}

# ct_write_config gwG FILE: the gateway's configuration. Endpoints are the
# backends (IPv4 and IPv6 address each) through the veth toward their unit;
# services UDP 7000 and TCP 80 on both VIPs, core, sharded by flow, 34/33/33.
# Every gateway gets the same tables and seed, so all steer a flow alike.
ct_write_config() {
	local g=$1 file=$2 u b

	for u in "${CT_UNITS[@]}"; do
		for b in $(ct_backends "$u"); do
			jq -n --arg a4 "$(ct_backend4 "$b")" --arg a6 "$(ct_backend6 "$b")" \
				--arg dev "$(ct_short "$u")" --arg mac "$(ct_router_mac "$g" "$u")" \
				'{address: $a4, dev: $dev, mac: $mac}, {address: $a6, dev: $dev, mac: $mac}'
		done | jq -s --arg name "$u" '{name: $name, endpoints: .}'
	done | jq -s --arg vip4 "$CT_VIP4" --arg vip6 "$CT_VIP6" \
		--argjson udp "$CT_UDP_PORT" --argjson tcp "$CT_TCP_PORT" '
		def svc($name; $vip; $port; $proto):
			{name: $name, vip: $vip, port: $port, proto: $proto, kind: "core",
			 key: {source: "flow"}, ratios: {"dc-a": 34, "dc-b": 33, "dc-c": 33}}
			+ (if $proto == "udp" then {udp_new_flow: "first_packet"} else {} end);
		{
			version: 1,
			encap: {source4: "198.18.250.0/24", source6: "2001:db8:250::/112"},
			units: .,
			services: [
				svc("udp4"; $vip4; $udp; "udp"), svc("udp6"; $vip6; $udp; "udp"),
				svc("tcp4"; $vip4; $tcp; "tcp"), svc("tcp6"; $vip6; $tcp; "tcp")
			]
		}' >"$file"
}

# ct_load_gateway gwG: steering on its edge-facing veth, configuration applied
ct_load_gateway() {
	local g=$1

	ct_cg "$g" load --dev edge --mode "$CT_XDP_MODE" >/dev/null || return 1
	ct_write_config "$g" "$CT_TMP/config-$g.json" || return 1
	ct_cg "$g" apply -f "$CT_TMP/config-$g.json" >/dev/null
}

ct_load_gateways() {
	local g

	for g in $(ct_gateways); do
		ct_load_gateway "$g" || return 1
	done
}

# ct_unit_state gwG UNIT: serving | evacuated | draining (from status -j)
ct_unit_state() {
	ct_cg "$1" -j status 2>/dev/null | jq -r --arg u "$2" '.units[] | select(.name == $u) | .state'
}

# ct_kill_ns NS: stop the processes this run started in NS (SIGKILL)
ct_kill_ns() {
	local p

	for p in ${CT_NS_PIDS[$1]:-}; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	CT_NS_PIDS[$1]=''
}

# ct_del_ns NS: a namespace of this run gone for good (its processes first)
ct_del_ns() {
	ct_kill_ns "$1"
	ip netns del "$1" 2>/dev/null
}

# true while pid $1 runs (a zombie waiting to be reaped does not count)
_ct_running() {
	local st

	# builtins only: drills poll this in tight loops
	{ read -r st <"/proc/$1/stat"; } 2>/dev/null || return 1
	st=${st##*) }
	[[ ${st:0:1} != Z ]]
}

# ct_teardown: remove everything this run created; safe to call twice
ct_teardown() {
	local p ns inst

	[[ ${CT_TORN_DOWN:-1} == 0 ]] || return 0
	CT_TORN_DOWN=1
	# runs from traps, maybe under set -e: nothing here may abort it
	local -
	set +e
	for p in "${CT_PIDS[@]}"; do
		kill "$p" 2>/dev/null
	done
	for p in "${CT_PIDS[@]}"; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			_ct_running "$p" || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# whatever still runs in a namespace of this run was started by it (a
	# subshell's child the list missed): it would keep the namespace alive
	for ns in "${CT_NS_CREATED[@]}"; do
		[[ -e /run/netns/$ns ]] || continue
		for p in $(ip netns pids "$ns" 2>/dev/null); do
			kill -KILL "$p" 2>/dev/null
		done
	done
	# deleting a namespace takes its links, nftables tables and routes along
	# and detaches the XDP programs on its interfaces
	for ns in "${CT_NS_CREATED[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	# pin directories of this run only (names start with CT_ID)
	if [[ -n ${CT_ID:-} ]]; then
		for inst in "$CT_PIN_ROOT/$CT_ID"-*; do
			[[ -e $inst ]] && rm -rf -- "$inst"
		done
	fi
	if [[ -n ${CT_TMP:-} && -d $CT_TMP ]]; then
		if [[ -n ${CT_KEEP_TMP:-} ]]; then
			echo "ct_teardown: kept $CT_TMP" >&2
		else
			rm -rf -- "$CT_TMP"
		fi
	fi
	return 0
}
