#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/e2e_modes.sh [BUILD_DIR]: the attach modes e2e_steer.sh does not
# use, on live traffic: the gateway in generic XDP and in tc (tcx, or clsact
# where tcx is missing), the units' decap in tc. For each: every request
# answered with each unit's share within tolerance, then after `evacuate
# dc-b` no request answered by dc-b and every flow still answered; the
# attachment is gone after unload.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${CG_BUILD_DIR:-$root/build}}
T=e2e_modes
. "$root/selftests/lib/e2e.sh"
e2e_require "$build"

. "$root/scripts/testbed.sh"
tb_init "$build" cgm
out=$TB_TMP

flows() {
	local name=$1

	shift
	tb_flows --max-ms 30000 --json "$out/$name.json" "$@" >"$out/$name.sum" 2>"$out/$name.err"
}

if ! tb_setup >"$out/setup.out" 2>&1 || ! tb_start_echo >>"$out/setup.out" 2>&1; then
	fail setup "building the test bed failed: $(tr '\n' ' ' <"$out/setup.out" | cut -c1-400)"
	exit 1
fi
pass setup
tb_write_config "$out/cfg.json" 34 33 33
v4=$TB_VIP4:$TB_UDP_PORT
v6=[$TB_VIP6]:$TB_UDP_PORT

# gateway mode / decap mode
for pair in generic/native tc/tc; do
	gmode=${pair%/*} dmode=${pair#*/}
	m=$gmode
	if ! tb_load_decap "$dmode" >"$out/$m.decap" 2>&1 || ! tb_load_gateway "$gmode" >"$out/$m.load" 2>&1 ||
		! tb_cg gw apply -f "$out/cfg.json" >"$out/$m.apply" 2>&1; then
		fail "$m.load" "$(cat "$out/$m.decap" "$out/$m.load" "$out/$m.apply" | tr '\n' ' ' | cut -c1-500)"
		continue
	fi
	attached=$(tb_cg gw -j status | jq -r .mode)
	check "$m.mode" "status says mode '$attached'" test -n "$attached" -a "$attached" != none

	flows "$m.u4" --dst "$v4" --flows 1500 --packets 2 --src-port-base 21000
	flows "$m.u6" --dst "$v6" --flows 600 --packets 2 --src-port-base 21000
	for r in u4 u6; do
		s=$out/$m.$r.sum
		check "$m.$r.answered" "$(jq -c '{sent, answered, lost, by_unit}' "$s" 2>/dev/null)" \
			jt "$s" '.sent > 0 and .answered == .sent'
		check "$m.$r.all_units" "flows_by_unit $(jq -c .flows_by_unit "$s" 2>/dev/null)" \
			jt "$s" '.flows as $n | [.flows_by_unit["dc-a","dc-b","dc-c"] // 0 | select(. > 0.2 * $n)] | length == 3'
	done

	tb_cg gw evacuate dc-b >"$out/$m.evac" 2>&1
	flows "$m.e4" --dst "$v4" --flows 1500 --packets 2 --src-port-base 21000
	s=$out/$m.e4.sum
	check "$m.evacuated.answered" "$(jq -c '{sent, answered, lost, by_unit}' "$s" 2>/dev/null)" \
		jt "$s" '.sent > 0 and .answered == .sent and ((.by_unit["dc-b"] // 0) == 0)'

	tb_cg gw unload >/dev/null 2>&1
	for u in "${TB_UNITS[@]}"; do
		tb_cg "$u" decap unload >/dev/null 2>&1
	done
	TB_LOADED=()
	ok=1
	tb_nsx gw ip link show gw-cl | grep -q "xdp" && ok=0
	check "$m.unloaded" "gw-cl still has an XDP program after unload" test $ok = 1
done

[[ $failed -eq 0 ]]
