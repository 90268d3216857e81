#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/e2e_policy.sh [BUILD_DIR]: the control plane's finer moves on
# live traffic in the test bed (scripts/testbed.sh):
#  1. evacuate one service of a unit: that service's flows leave dc-b, the
#     other services' flows stay on it, re-applying the config keeps it so;
#     restore --handover 0 brings them back;
#  2. evacuate with a reject fence: new TCP connections on the moved buckets
#     are refused (RST), the rest connect; after `fence release` all connect;
#  3. drain: connections opened before stay on the draining unit and keep
#     being answered; new flows never go to it.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${CG_BUILD_DIR:-$root/build}}
T=e2e_policy
. "$root/selftests/lib/e2e.sh"
e2e_require "$build"

. "$root/scripts/testbed.sh"
tb_init "$build" cgp
out=$TB_TMP
export CELLGATE_AUDIT_LOG=$out/audit.jsonl

flows() {
	local name=$1

	shift
	tb_flows --max-ms 30000 --json "$out/$name.json" "$@" >"$out/$name.sum" 2>"$out/$name.err"
}
summary() { jq -c '{sent, answered, lost, errors, by_unit}' "$out/$1.sum" 2>/dev/null; }
on() { j "$out/$1.sum" ".by_unit[\"$2\"] // 0"; }

if ! tb_setup >"$out/setup.out" 2>&1 || ! tb_start_echo >>"$out/setup.out" 2>&1 ||
	! tb_load_decap native >>"$out/setup.out" 2>&1 || ! tb_client_xdp >>"$out/setup.out" 2>&1 ||
	! tb_load_gateway native >>"$out/setup.out" 2>&1; then
	fail setup "$(tr '\n' ' ' <"$out/setup.out" | cut -c1-500)"
	exit 1
fi
tb_write_config "$out/cfg.json" 34 33 33
tb_cg gw apply -f "$out/cfg.json" >"$out/apply.out" 2>&1 || { fail apply "$(cat "$out/apply.out")"; exit 1; }
pass setup
u4=(--dst "$TB_VIP4:$TB_UDP_PORT" --flows 1200 --packets 2 --src-port-base 22000)
u6=(--dst "[$TB_VIP6]:$TB_UDP_PORT" --flows 600 --packets 2 --src-port-base 22000)
t4=(--dst "$TB_VIP4:$TB_TCP_PORT" --proto tcp --flows 300 --packets 1 --src-port-base 32000)

# 1. one service
tb_cg gw evacuate dc-b --service udp4 >"$out/evs.out" 2>&1
flows s4 "${u4[@]}"
flows s6 "${u6[@]}"
check service.gone "udp4 after evacuate --service udp4: $(summary s4)" \
	jt "$out/s4.sum" '.answered == .sent and ((.by_unit["dc-b"] // 0) == 0)'
check service.others_stay "udp6 still served by dc-b: $(summary s6)" \
	jt "$out/s6.sum" '.answered == .sent' --and gt "$(on s6 dc-b)" 0
st=$(tb_cg gw -j status | jq -r '.units[] | select(.name == "dc-b") | .state')
check service.unit_serving "dc-b state '$st' after a one-service evacuation" test "$st" = serving
# a declarative apply must not undo the operator's move
tb_cg gw apply -f "$out/cfg.json" >"$out/reapply.out" 2>&1
flows a4 "${u4[@]}"
check service.apply_keeps "udp4 after re-applying the config: $(summary a4)" \
	jt "$out/a4.sum" '.answered == .sent and ((.by_unit["dc-b"] // 0) == 0)'
tb_cg gw restore dc-b --service udp4 --handover 0 >"$out/rs.out" 2>&1
flows r4 "${u4[@]}"
check service.restored "udp4 after restore: $(summary r4)" \
	jt "$out/r4.sum" '.answered == .sent' --and gt "$(on r4 dc-b)" 0

# 2. reject fence
tb_cg gw evacuate dc-b --service tcp4 --fence 60s --fence-action reject >"$out/evf.out" 2>&1
fenced=$(grep -o '[0-9]* fenced' "$out/evf.out" | cut -d' ' -f1)
check fence.published "$(cat "$out/evf.out")" gt "${fenced:-0}" 0
flows f4 "${t4[@]}"
check fence.refused "TCP to fenced buckets: $(summary f4)" \
	jt "$out/f4.sum" '.errors > 0 and .answered > 0 and (.answered + .errors == .flows)' \
	--and eq "$(on f4 dc-b)" 0
nf=$(tb_cg gw -j stats | jq '[.units[].fenced] | add')
check fence.counted "fenced counters: $nf, refused connections: $(j "$out/f4.sum" .errors)" \
	ge "${nf:-0}" "$(j "$out/f4.sum" .errors)"
tb_cg gw fence release >"$out/fr.out" 2>&1
flows g4 "${t4[@]}"
check fence.released "TCP after fence release: $(summary g4)" \
	jt "$out/g4.sum" '.errors == 0 and .answered == .sent'
tb_cg gw restore dc-b --handover 0 >/dev/null 2>&1

# 3. drain: long-lived TCP connections opened before, new flows during
tb_flows_bg "$out/live.sum" --dst "$TB_VIP4:$TB_TCP_PORT" --proto tcp --flows 150 --packets 30 \
	--interval-ms 50 --src-port-base 33000 --max-ms 30000 --json "$out/live.json"
sleep 0.5
tb_cg gw drain dc-c >"$out/drain.out" 2>&1
flows d4 "${u4[@]}" --src-port-base 24000
wait "$TB_BG_PID"
check drain.new_flows_elsewhere "new UDP flows during the drain: $(summary d4)" \
	jt "$out/d4.sum" '.answered == .sent and ((.by_unit["dc-c"] // 0) == 0)'
check drain.established_stay "TCP connections across the drain: $(jq -c '{sent, answered, lost, errors, flows_moved, by_unit}' "$out/live.sum" 2>/dev/null)" \
	jt "$out/live.sum" '.errors == 0 and .lost == 0 and .answered == .sent and .flows_moved == 0' \
	--and gt "$(j "$out/live.sum" '.by_unit["dc-c"] // 0')" 0
n=$(wc -l <"$CELLGATE_AUDIT_LOG")
check audit "audit log has $n records" ge "$n" 6

[[ $failed -eq 0 ]]
