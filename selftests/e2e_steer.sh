#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/e2e_steer.sh [BUILD_DIR]: steering end to end in the test bed
# (scripts/testbed.sh): a client, the gateway with the steering program and
# three units dc-a/dc-b/dc-c with the decap program and cg-echo.
#
#  1. baseline: >= 3000 UDP flows over IPv4, a smaller IPv6 run and TCP
#     flows; every request answered, each unit's share of flows within
#     +-10 % (relative) of its ratio (IPv4 UDP; wider for the smaller runs);
#  2. `cellgate evacuate dc-b`: no request sent after the command returned is
#     answered by dc-b (live flows are re-steered on their next packet), every
#     flow is still answered, flows of dc-a and dc-c keep their unit;
#  3. `cellgate restore dc-b`: TCP connections opened meanwhile stay where they
#     are, new flows are all back where they were in 1;
#  and throughout, the per-unit counters of `cellgate -j stats` grow for
#  the units that serve and not for dc-b while it is evacuated.
#
# One PASS/FAIL line per check; SKIP (exit 0) when not root or the CLI is not
# built. Needs jq. All traffic stays in the namespaces of this run.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${CG_BUILD_DIR:-$root/build}}
T=e2e_steer
. "$root/selftests/lib/e2e.sh"
e2e_require "$build"

. "$root/scripts/testbed.sh"
tb_init "$build" cge
out=$TB_TMP # every command's output, for the FAIL details

# run STEP CMD...: run CMD, keep its output in $out/STEP.out; FAIL on error
run() {
	local step=$1

	shift
	if "$@" >"$out/$step.out" 2>&1; then
		pass "$step"
		return 0
	fi
	fail "$step" "'$*' failed: $(tr '\n' ' ' <"$out/$step.out" | cut -c1-400)"
	return 1
}

# flows NAME CG-FLOWS-ARGS...: summary in $out/NAME.sum, per flow in NAME.json
flows() {
	local name=$1

	shift
	tb_flows --max-ms 30000 --json "$out/$name.json" "$@" >"$out/$name.sum" 2>"$out/$name.err" ||
		{ fail "$name.run" "cg-flows failed: $(cat "$out/$name.err")"; return 1; }
}

# j FILE FILTER: one value from a JSON file

# brief FILE: the telling part of a cg-flows summary, for FAIL lines
brief() {
	jq -c '{sent, answered, lost, unsent, retransmits, errors, flows_moved, by_unit}' "$1" 2>/dev/null ||
		head -c 300 "$1"
}

# jt FILE FILTER: true if FILTER holds for the JSON in FILE

# stats SNAP: `cellgate -j stats` of the gateway into $out/SNAP.stats
stats() {
	if tb_cg gw -j stats >"$out/$1.stats" 2>"$out/$1.stats.err" &&
		jq -e . "$out/$1.stats" >/dev/null 2>&1; then
		return 0
	fi
	fail "stats.$1" "'cellgate -j stats' failed: $(cat "$out/$1.stats.err" "$out/$1.stats" | head -c 400)"
	return 1
}

# delta A B UNIT [FIELD]: growth of a unit counter between two snapshots
delta() {
	[[ -s $out/$1.stats && -s $out/$2.stats ]] || { echo "n/a"; return; }
	jq -n --slurpfile a "$out/$1.stats" --slurpfile b "$out/$2.stats" --arg u "$3" \
		--arg f "${4:-packets}" '
		def v($s): ([$s[0].units[] | select(.name == $u) | .[$f]] | first) // 0;
		v($b) - v($a)'
}

# forwarded A B: growth of the "forwarded" reason counter
fwd_delta() {
	[[ -s $out/$1.stats && -s $out/$2.stats ]] || { echo "n/a"; return; }
	jq -n --slurpfile a "$out/$1.stats" --slurpfile b "$out/$2.stats" '
		($b[0].reasons.forwarded.packets // 0) - ($a[0].reasons.forwarded.packets // 0)'
}

# check_answered NAME: every request of the run was answered, by one unit per flow
check_answered() {
	local s=$out/$1.sum sent ans lost un moved

	sent=$(j "$s" .sent) ans=$(j "$s" .answered) lost=$(j "$s" .lost)
	un=$(j "$s" .unsent) moved=$(j "$s" .flows_moved)
	check "$1.all_answered" "sent $sent, answered $ans, lost $lost, unsent $un ($(brief "$s"))" \
		jt "$s" '.lost == 0 and .unsent == 0 and .answered == .sent and .sent > 0'
	check "$1.stable" "$moved flows were answered by more than one unit within the run" \
		eq "$moved" 0
}

# check_shares NAME TOL_PCT UNIT=RATIO...: each unit's share of flows within
# TOL_PCT percent (relative) of its ratio
check_shares() {
	local name=$1 tol=$2 bad

	shift 2
	bad=$(jq -r --argjson tol "$tol" --arg spec "$*" '
		. as $s
		| ($spec | split(" ") | map(split("=") | {key: .[0], value: (.[1] | tonumber)})
		   | from_entries) as $want
		| ($want | [.[]] | add) as $sum
		| [$want | to_entries[]
		   | (.value / $sum * $s.flows) as $exp
		   | (($s.flows_by_unit[.key]) // 0) as $got
		   | select((($got - $exp) | fabs) > $exp * $tol / 100)
		   | "\(.key) served \($got) flows, expected \($exp | floor)+-\($exp * $tol / 100 | floor)"]
		| join("; ")' "$out/$name.sum")
	check "$name.shares" "${bad:-jq failed} (flows_by_unit $(jq -c .flows_by_unit "$out/$name.sum"))" \
		test -z "$bad"
}

# moved A B [EXCEPT_UNIT]: flows (by source port) answered by another unit in
# run B than in run A, ignoring flows that A saw on EXCEPT_UNIT
moved() {
	jq -n --slurpfile a "$out/$1.json" --slurpfile b "$out/$2.json" --arg x "${3:-}" '
		($a[0].flows | map({key: (.sport | tostring), value: .unit}) | from_entries) as $was
		| [$b[0].flows[] | ($was[.sport | tostring]) as $w
		   | select($w != null and $w != $x and $w != .unit)] | length'
}

# gate RUN: stop when fewer than half of RUN's requests were answered: the
# rest would only repeat the failure, slowly (every lost request is retried)
gate() {
	jt "$out/$1.sum" '.answered * 2 >= .sent' && return 0
	fail "$1.gate" "fewer than half of the requests were answered; stopping here \
(gateway: $(tb_cg gw stats 2>&1 | tr -s ' ' | tr '\n' ';' | cut -c1-1500))"
	exit 1
}

# unit_state UNIT: its state in `cellgate -j status`
unit_state() {
	tb_cg gw -j status 2>/dev/null | jq -r --arg u "$1" '.units[] | select(.name == $u) | .state'
}

ratios=(dc-a=34 dc-b=33 dc-c=33)
v4=$TB_VIP4:$TB_UDP_PORT
v6=[$TB_VIP6]:$TB_UDP_PORT
t4=$TB_VIP4:$TB_TCP_PORT
t6=[$TB_VIP6]:$TB_TCP_PORT
N4=3000 N6=1500 NT=400
# fixed source ports, so each run repeats the same flows (5-tuples)
U4=(--dst "$v4" --flows "$N4" --packets 2 --src-port-base 20000)
U6=(--dst "$v6" --flows "$N6" --packets 2 --src-port-base 20000)
P4=(--dst "$t4" --proto tcp --flows "$NT" --packets 3 --src-port-base 30000)
P6=(--dst "$t6" --proto tcp --flows "$NT" --packets 3 --src-port-base 30000)

# ---- test bed ----
if ! tb_setup >"$out/setup.out" 2>&1; then
	fail setup "building the test bed failed: $(tr '\n' ' ' <"$out/setup.out" | cut -c1-400)"
	exit 1
fi
pass setup
run echo tb_start_echo || exit 1

# The test bed alone: route the VIPs to dc-a with the gateway's kernel.
tb_route_plain dc-a
flows plain --dst "$v4" --flows 100 && flows plain6 --dst "$v6" --flows 100 &&
	check testbed "plain routing to dc-a: $(cat "$out/plain.sum" "$out/plain6.sum")" \
		eq "$(j "$out/plain.sum" '.by_unit["dc-a"] // 0')" 100 --and \
		eq "$(j "$out/plain6.sum" '.by_unit["dc-a"] // 0')" 100
tb_route_plain

# ---- load and apply ----
run decap_load tb_load_decap native || exit 1
run gw_load tb_load_gateway native || exit 1
tb_write_config "$out/cfg.json" 34 33 33
run apply tb_cg gw apply -f "$out/cfg.json" || exit 1
tb_cg gw -j status >"$out/status0.json" 2>&1
check status "status after apply: $(head -c 400 "$out/status0.json")" \
	jt "$out/status0.json" '(.generation >= 1) and ([.units[] | select(.state == "serving")] | length == 3)'

# ---- 1. baseline ----
stats s0 || exit 1
flows u4 "${U4[@]}"
stats s1
check_answered u4
check_shares u4 10 "${ratios[@]}"
for u in "${TB_UNITS[@]}"; do
	d=$(delta s0 s1 "$u") a=$(j "$out/u4.sum" ".by_unit[\"$u\"] // 0")
	check "u4.counters.$u" "$u packets grew by $d, but it answered $a requests" ge "$d" "$a" --and gt "$a" 0
done
d=0
for u in "${TB_UNITS[@]}"; do
	x=$(delta s0 s1 "$u")
	isnum "$x" && d=$((d + x))
done
f=$(fwd_delta s0 s1)
check u4.counters.forwarded "sum of unit packets grew by $d, reasons.forwarded by $f" eq "$d" "$f" --and gt "$f" 0

gate u4

flows u6 "${U6[@]}"
check_answered u6
check_shares u6 15 "${ratios[@]}"
flows t4 "${P4[@]}"
check_answered t4
check_shares t4 25 "${ratios[@]}"
flows t6 "${P6[@]}"
check_answered t6
check_shares t6 25 "${ratios[@]}"
stats s2

# ---- 2. evacuate dc-b, with live traffic ----
# 200 UDP flows, one request each per 10 ms for ~3 s, across the command
tb_flows_bg "$out/live.sum" --dst "$v4" --flows 200 --packets 300 --interval-ms 10 \
	--src-port-base 40000 --max-ms 10000 --json "$out/live.json"
live=$TB_BG_PID
sleep 1
run evacuate tb_cg gw evacuate dc-b
t_evac=$(date +%s%N)
wait $live
check live.all_answered "live traffic across the evacuation: $(brief "$out/live.sum") $(head -c 300 "$out/live.sum.err")" \
	jt "$out/live.sum" '.lost == 0 and .unsent == 0 and .answered == .sent'
n=$(jq '[.flows[] | select((.units | map(select(. != null)) | unique | length) > 1
	and .units[0] != "dc-b")] | length' "$out/live.json" 2>/dev/null)
check live.undisturbed "$n flows that started on dc-a/dc-c changed unit during the evacuation" eq "$n" 0
last_b=$(j "$out/live.sum" '.last_sent_ns_by_unit["dc-b"] // 0')
check live.dcb_before_evac "dc-b answered a request sent $(((last_b - t_evac) / 1000)) us after 'evacuate' returned" \
	lt "$last_b" "$t_evac"
st=$(unit_state dc-b)
check evacuate.state "dc-b state is '$st', want evacuated" test "$st" = evacuated

stats s3
flows e4 "${U4[@]}"
gate e4
flows e6 "${U6[@]}"
flows et4 "${P4[@]}"
stats s4
for r in e4 e6 et4; do
	check_answered $r
	n=$(j "$out/$r.sum" '.by_unit["dc-b"] // 0')
	check $r.no_dcb "dc-b still answered $n requests while evacuated" eq "$n" 0
done
check e4.undisturbed "$(moved u4 e4 dc-b) flows of dc-a/dc-c changed unit" eq "$(moved u4 e4 dc-b)" 0
check e6.undisturbed "$(moved u6 e6 dc-b) flows of dc-a/dc-c changed unit" eq "$(moved u6 e6 dc-b)" 0
check et4.undisturbed "$(moved t4 et4 dc-b) flows of dc-a/dc-c changed unit" eq "$(moved t4 et4 dc-b)" 0
d=$(delta s3 s4 dc-b)
check evacuated.counters.dc-b "dc-b packets grew by $d while evacuated" eq "$d" 0
for u in dc-a dc-c; do
	d=$(delta s3 s4 "$u")
	check "evacuated.counters.$u" "$u packets grew by only $d while serving dc-b's share" \
		ge "$d" "$(j "$out/e4.sum" ".by_unit[\"$u\"] // 0")" --and gt "$d" 0
done

# ---- 3. restore dc-b ----
# TCP connections opened while dc-b was out (those of its buckets are on
# dc-a/dc-c) must survive the restore: its buckets move back for new flows
# only, established ones stay with the survivor (DESIGN.md 2.4). A packet
# steered to dc-b instead would meet a RST there.
tb_flows_bg "$out/tlive.sum" --dst "$t4" --proto tcp --flows 150 --packets 40 --interval-ms 25 \
	--src-port-base 50000 --max-ms 10000
tlive=$TB_BG_PID
sleep 0.5
run restore tb_cg gw restore dc-b
wait "$tlive"
check restore.tcp_established "TCP connections across the restore: $(brief "$out/tlive.sum") $(head -c 300 "$out/tlive.sum.err")" \
	jt "$out/tlive.sum" '.lost == 0 and .unsent == 0 and .answered == .sent and .flows_moved == 0'
st=$(unit_state dc-b)
check restore.state "dc-b state is '$st', want serving" test "$st" = serving
flows r4 "${U4[@]}"
flows r6 "${U6[@]}"
flows rt4 "${P4[@]}"
stats s5
for r in r4 r6 rt4; do
	check_answered $r
done
check_shares r4 10 "${ratios[@]}"
check r4.back "$(moved u4 r4) flows are not on the unit they had before the evacuation" eq "$(moved u4 r4)" 0
check r6.back "$(moved u6 r6) flows are not on the unit they had before the evacuation" eq "$(moved u6 r6)" 0
check rt4.back "$(moved t4 rt4) flows are not on the unit they had before the evacuation" eq "$(moved t4 rt4)" 0
d=$(delta s4 s5 dc-b) a=$(j "$out/r4.sum" '.by_unit["dc-b"] // 0')
check restored.counters.dc-b "dc-b packets grew by $d after restore, it answered $a UDP requests" \
	ge "$d" "$a" --and gt "$a" 0

[[ $failed -eq 0 ]]
