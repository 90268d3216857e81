# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# Fault injectors of the chaos drills, on the topology of topo.sh. Each
# fault has an inject and a heal step:
#
#   cf_inject KIND TARGETS [ARG]   sets CF_T0: CLOCK_REALTIME ns when the
#                                  fault took effect (the first target's
#                                  effective command returned), CF_T1: when
#                                  the injection was over
#   cf_heal KIND TARGETS           undoes it (rebuilds what was deleted)
#
# TARGETS is a unit (dc-b), several units separated by commas (dc-b,dc-c:
# lost together), or a gateway (gw1) for the gateway fault. Kinds:
#
#   link       the unit's uplinks (its side of every gateway link) set down:
#              the gateways see the carrier go
#   blackhole  every packet in and out of the unit router dropped by an
#              nftables table; links stay up (a silent failure)
#   netns      the unit's processes killed and its namespaces (router and
#              backends) deleted: the links vanish with them
#   loss       ARG percent (default 50) of the packets crossing the unit
#              router dropped at random (nftables numgen; no netem here)
#   flap       ARG = DOWN_MS:UP_MS:COUNT (default 150:150:8): the uplinks go
#              down and up COUNT times, in the background (CF_FLAP_PID)
#   gateway    the gateway's links go down, the edge and the units route
#              over the other gateway only, then the gateway's processes are
#              killed and its namespace deleted (a host that dies)
#
# To add a fault: a _cf_inject_KIND and a _cf_heal_KIND function here, and a
# line in the drill table of run.sh (docs/chaos.md).

# shellcheck disable=SC2034 # CF_T0, CF_T1 and CF_FLAP_PID are for the caller
CF_NFT_TABLE=cgchaos

# CLOCK_REALTIME in ns, without a fork (bash 5)
_cf_now() { local t=${EPOCHREALTIME/./}; printf '%s000' "$t"; }
# the fault took effect now (the first call of an injection counts)
_cf_mark() { [[ -n $CF_MARKED ]] || { CF_T0=$(_cf_now); CF_MARKED=1; }; }
_cf_secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); } # ms -> "s.mmm"

cf_inject() {
	local kind=$1 targets=$2 arg=${3:-} t

	declare -F "_cf_inject_$kind" >/dev/null || { echo "cf_inject: unknown fault '$kind'" >&2; return 2; }
	CF_MARKED='' CF_T0=$(_cf_now)
	for t in ${targets//,/ }; do
		"_cf_inject_$kind" "$t" "$arg" || { CF_T1=$(_cf_now); return 1; }
		_cf_mark
	done
	CF_T1=$(_cf_now)
}

cf_heal() {
	local kind=$1 targets=$2 t rc=0

	for t in ${targets//,/ }; do
		"_cf_heal_$kind" "$t" || rc=1
	done
	return $rc
}

# ---- link: the unit's side of its uplinks goes down ----

_cf_links() {
	local u=$1 state=$2 g ns
	local -a gws=()

	ns=$(ct_ns "$u")
	for g in $(ct_gateways); do
		[[ -e /run/netns/$(ct_ns "$g") ]] && gws+=("$g")
	done
	for g in "${gws[@]}"; do
		# the carrier goes while the command runs
		[[ $state == down ]] && _cf_mark
		ip -n "$ns" link set "$g" "$state" || return 1
	done
	return 0
}
_cf_inject_link() { _cf_links "$1" down; }
_cf_heal_link() {
	_cf_links "$1" up || return 1
	# a device set down loses its routes
	ct_unit_routes "$1"
}

# ---- blackhole and loss: nftables in the unit router ----

# _cf_nft UNIT RULE: a table dropping what RULE matches, in and out
_cf_nft() {
	ct_nsx "$1" nft -f - <<-NFT
	table inet $CF_NFT_TABLE {
		chain pre { type filter hook prerouting priority -300; policy accept; $2; }
		chain out { type filter hook output priority -300; policy accept; $2; }
	}
	NFT
}
_cf_inject_blackhole() { _cf_nft "$1" drop && _cf_mark; }
_cf_heal_blackhole() { ct_nsx "$1" nft delete table inet "$CF_NFT_TABLE" 2>/dev/null || true; }
_cf_inject_loss() {
	local pct=${2:-50}

	[[ $pct =~ ^[0-9]+$ && $pct -ge 1 && $pct -le 100 ]] ||
		{ echo "cf_inject loss: percent '$pct' is not 1..100" >&2; return 2; }
	_cf_nft "$1" "numgen random mod 100 < $pct drop" && _cf_mark
}
_cf_heal_loss() { _cf_heal_blackhole "$1"; }

# ---- netns: the unit is gone ----

_cf_inject_netns() {
	local u=$1 b

	# the router first: the gateways lose the unit with it
	ct_kill_ns "$(ct_ns "$u")"
	_cf_mark
	ct_del_ns "$(ct_ns "$u")"
	for b in $(ct_backends "$u"); do
		ct_del_ns "$(ct_ns "$b")"
	done
}
_cf_heal_netns() {
	local u=$1 b

	for b in $(ct_backends "$u"); do
		ct_del_ns "$(ct_ns "$b")"
	done
	ct_del_ns "$(ct_ns "$u")"
	# the kernel removes a deleted namespace's links asynchronously: wait for
	# the gateways' ends to be gone before creating them again
	_cf_wait_gone "$(ct_short "$u")" || return 1
	rm -rf -- "${CT_PIN_ROOT:?}/$(ct_inst "$u")" "$CT_PIN_ROOT/$CT_ID-$(ct_short "$u")"[0-9]*
	ct_setup_unit "$u" || return 1
	ct_wait_ll
	# the gateways' devices toward the unit are new: publish their ifindex
	_cf_reapply
}

# _cf_wait_gone DEV: until no gateway has DEV (5 s at most)
_cf_wait_gone() {
	local g i

	for g in $(ct_gateways); do
		[[ -e /run/netns/$(ct_ns "$g") ]] || continue
		for i in $(seq 100); do
			ip -n "$(ct_ns "$g")" link show "$1" >/dev/null 2>&1 || break
			sleep 0.05
		done
		ip -n "$(ct_ns "$g")" link show "$1" >/dev/null 2>&1 && return 1
	done
	return 0
}

_cf_reapply() {
	local g

	for g in $(ct_gateways); do
		[[ -e /run/netns/$(ct_ns "$g") ]] || continue
		ct_cg "$g" apply -f "$CT_TMP/config-$g.json" >/dev/null || return 1
	done
}

# ---- flap: uplinks down and up, in the background ----

_cf_inject_flap() {
	local u=$1 spec=${2:-150:150:8} down up count

	IFS=: read -r down up count <<<"$spec"
	[[ $down =~ ^[0-9]+$ && $up =~ ^[0-9]+$ && $count =~ ^[0-9]+$ ]] ||
		{ echo "cf_inject flap: '$spec' is not DOWN_MS:UP_MS:COUNT" >&2; return 2; }
	_cf_links "$u" down || return 1
	(
		for ((i = 1; i <= count; i++)); do
			sleep "$(_cf_secs "$down")"
			_cf_links "$u" up
			ct_unit_routes "$u"
			[[ $i -lt $count ]] || break
			sleep "$(_cf_secs "$up")"
			_cf_links "$u" down
		done
	) </dev/null >/dev/null 2>&1 &
	CF_FLAP_PID=$!
	CT_PIDS+=("$CF_FLAP_PID")
}
_cf_heal_flap() {
	[[ -n ${CF_FLAP_PID:-} ]] && wait "$CF_FLAP_PID" 2>/dev/null
	_cf_heal_link "$1"
}

# ---- gateway: one gateway gone, the other keeps serving ----

_cf_inject_gateway() {
	local g=$1 gns u

	[[ $g == gw* ]] || { echo "cf_inject gateway: target must be a gateway (gw1)" >&2; return 2; }
	gns=$(ct_ns "$g")
	# The host dies: its links go first (the edge and the units see the
	# carrier go and skip it at once: ignore_routes_with_linkdown), their
	# routing withdraws it (the kernel would drop the multipath routes when
	# the devices disappear), then the namespace and its processes go.
	_cf_mark
	{
		echo "link set edge down"
		for u in "${CT_UNITS[@]}"; do
			echo "link set ${u//-/} down"
		done
	} | ip -n "$gns" -batch - || return 1
	CT_GW_DOWN+=" $g "
	ct_edge_routes
	for u in "${CT_UNITS[@]}"; do
		ct_unit_routes "$u"
	done
	ct_del_ns "$gns"
}
_cf_heal_gateway() {
	local g=$1 u

	ct_del_ns "$(ct_ns "$g")"
	_cf_wait_gone_in edge "$g" || return 1
	for u in "${CT_UNITS[@]}"; do
		_cf_wait_gone_in "$u" "$g" || return 1
	done
	rm -rf -- "${CT_PIN_ROOT:?}/$(ct_inst "$g")"
	CT_GW_DOWN=${CT_GW_DOWN// $g /}
	ct_setup_gateway "$g" || return 1
	for u in "${CT_UNITS[@]}"; do
		ct_link_gw_unit "$g" "$u" || return 1
		ct_unit_routes "$u"
	done
	ct_edge_routes
	ct_wait_ll
	ct_load_gateway "$g"
}

# _cf_wait_gone_in ROLE DEV: until ROLE's namespace has no DEV (5 s at most)
_cf_wait_gone_in() {
	local ns i

	ns=$(ct_ns "$1")
	for i in $(seq 1000); do
		ip -n "$ns" link show "$2" >/dev/null 2>&1 || return 0
		sleep 0.005
	done
	return 1
}
