#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# scripts/demo.sh BUILD_DIR: what `make demo` shows a newcomer. Builds the
# test bed (scripts/testbed.sh: a client, a gateway, three units dc-a/dc-b/
# dc-c in network namespaces), loads the steering and decap programs,
# applies a configuration, runs live traffic, evacuates dc-b while traffic
# flows (and measures the time from the command to the last packet dc-b
# served), restores it; then starts the agent, silences dc-c (a datacenter
# loss) and shows the automatic evacuation with its measured detection and
# recovery times, then the guarded restore; and removes everything again,
# pass or fail.
# All traffic stays inside the namespaces (198.18.0.0/15, 2001:db8::/32).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}

if [[ -t 1 ]]; then
	B=$'\e[1m' D=$'\e[2m' G=$'\e[32m' R=$'\e[31m' N=$'\e[0m'
else
	B='' D='' G='' R='' N=''
fi
heading() { printf '\n%s== %s ==%s\n' "$B" "$*" "$N"; }
say() { printf '%s\n' "$*"; }
die() {
	printf '%sdemo: %s%s\n' "$R" "$*" "$N" >&2
	exit 1
}

[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and BPF); try: sudo make demo"
[[ -x $build/cellgate ]] || die "$build/cellgate is not built; run make"
for t in cg-echo cg-flows; do
	[[ -x $build/tools/$t ]] || die "$build/tools/$t is not built; run make"
done
for c in jq nsenter ip; do
	command -v "$c" >/dev/null || die "$c is missing; run scripts/install-deps.sh"
done

# shellcheck source-path=SCRIPTDIR source=testbed.sh
. "$root/scripts/testbed.sh"
tb_init "$build" cgd
on_exit() {
	local rc=$?

	tb_teardown
	[[ $rc -eq 0 ]] || printf "%sdemo failed (exit %d); test bed removed%s\n" "$R" "$rc" "$N" >&2
}
trap on_exit EXIT

# cg ROLE ARGS...: show the cellgate command, then run it in ROLE's namespace
cg() {
	local role=$1

	shift
	printf '%s$ cellgate -i %s %s%s\n' "$D" "$(tb_inst "$role")" "$*" "$N"
	tb_cg "$role" "$@"
}

unanswered=0
# traffic LABEL CG-FLOWS-ARGS...: run cg-flows from the client, print a line per unit
# (and remember when a request went unanswered: the demo then fails at the end)
traffic() {
	local label=$1 sum

	shift
	sum=$TB_TMP/${label//\//-}.sum
	tb_flows --max-ms 10000 "$@" >"$sum"
	jq -r --arg l "$label" --argjson f "$(jq .flows "$sum")" '
		"\($l): \(.flows) \(.proto) flows to \(.dst), \(.answered)/\(.sent) requests answered" +
		" in \(.elapsed_ms | floor) ms" +
		(if .rtt_us then ", rtt p50 \(.rtt_us.p50) us" else "" end),
		(.flows_by_unit | to_entries[] |
		 "    \(.key): \(.value) flows (\(.value * 1000 / $f | floor / 10) %)")' "$sum"
	if ! jq -e '.lost == 0 and .unsent == 0' "$sum" >/dev/null; then
		say "${R}    some requests were not answered${N}"
		unanswered=1
	fi
}

heading "1. Test bed (network namespaces, names unique to this run: $TB_ID-*)"
tb_setup
tb_start_echo "${TB_UNITS[@]}"
row() { printf '  %-8s %-18s %-26s %s\n' "$@"; }
row ROLE NAMESPACE ADDRESSES "VETH (this side -> peer)"
row client "$(tb_ns cl)" "198.18.0.1 2001:db8::1" "cl-gw -> gateway gw-cl"
row gateway "$(tb_ns gw)" "198.18.0.254 2001:db8::fe" "gw-cl (steering program)"
for u in "${TB_UNITS[@]}"; do
	row "$u" "$(tb_ns "$u")" "$(tb_unit_addr4 "$u") $(tb_unit_addr6 "$u")" \
		"$(tb_unit_dev "$u") -> gateway $(tb_gw_dev "$u"), mac $(tb_unit_mac "$u")"
done
say "  Every unit has the VIPs $TB_VIP4 and $TB_VIP6 on lo and runs cg-echo on"
say "  UDP $TB_UDP_PORT and TCP $TB_TCP_PORT (it answers \"UNIT HOST request\"); replies go back"
say "  through the gateway's kernel routing, not through the steering program."

heading "2. Load the programs"
say "Decap on each unit's veth (strips the IPIP/IPv6 tunnel header the gateway adds):"
for u in "${TB_UNITS[@]}"; do
	cg "$u" decap load --dev "$(tb_unit_dev "$u")" --mode native \
		--addr "$(tb_unit_addr4 "$u")" --addr "$(tb_unit_addr6 "$u")"
	TB_LOADED+=("decap:$u")
done
say "Steering on the gateway's client-facing veth:"
cg gw load --dev gw-cl --mode native
TB_LOADED+=("steer:gw")

heading "3. Apply a configuration: UDP $TB_UDP_PORT, TCP $TB_TCP_PORT on both VIPs, 34/33/33"
tb_write_config "$TB_TMP/cellgate.json" 34 33 33
jq -r '.services[] | "  service \(.name): \(.proto) \(.vip):\(.port) \(.kind) " +
	(.ratios | to_entries | map("\(.key)=\(.value)%") | join(" "))' "$TB_TMP/cellgate.json"
cg gw apply -f "$TB_TMP/cellgate.json"
cg gw status

heading "4. Live traffic from the client"
traffic "UDP/IPv4" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 3000 --packets 2
traffic "UDP/IPv6" --dst "[$TB_VIP6]:$TB_UDP_PORT" --flows 1000 --packets 2
traffic "TCP/IPv4" --dst "$TB_VIP4:$TB_TCP_PORT" --proto tcp --flows 300 --packets 3
say
cg gw stats

heading "5. Evacuate dc-b while 200 UDP flows send a request every 5 ms each"
tb_flows_bg "$TB_TMP/live.sum" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 200 --packets 500 \
	--interval-ms 5 --max-ms 30000
live=$TB_BG_PID
sleep 1
t0=$(date +%s%N)
cg gw evacuate dc-b
t1=$(date +%s%N)
wait "$live"
jq -r '"live traffic: \(.answered)/\(.sent) requests answered, \(.lost) lost; " +
	"\(.flows_moved) flows moved to another unit"' "$TB_TMP/live.sum"
jq -e '.lost == 0 and .unsent == 0' "$TB_TMP/live.sum" >/dev/null || unanswered=1
last_b=$(jq -r '.last_sent_ns_by_unit["dc-b"] // 0' "$TB_TMP/live.sum")
say "the evacuate command took $(((t1 - t0) / 1000000)) ms"
if [[ $last_b -gt 0 ]]; then
	gap=$(((last_b - t0) / 1000))
	if [[ $gap -ge 0 ]]; then
		say "${B}command to last packet on dc-b: $((gap / 1000)).$(printf '%03d' $((gap % 1000))) ms${N}" \
			"(the last request dc-b answered was sent that long after the command started)"
	else
		say "${B}dc-b answered nothing sent after the command started${N}" \
			"(its last request was sent $((-gap)) us before)"
	fi
fi
say
traffic "UDP/IPv4" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 3000 --packets 2
say
cg gw status
cg gw stats

heading "6. Restore dc-b"
cg gw restore dc-b
traffic "UDP/IPv4" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 3000 --packets 2
say
cg gw stats

heading "7. A partial move behind a fence: one service, one bucket range"
say "Buckets 0-3399 of udp4 (dc-a's share of that service) move; dc-a keeps every other"
say "service. New flows on the moved buckets are held for 2 s (a write fence: the data may"
say "still be replicating) and counted as fenced; established ones are forwarded."
cg gw evacuate dc-a --service udp4 --buckets 0-3399 --fence 2s
tb_flows --max-ms 600 --timeout-ms 100 --retries 1 --dst "$TB_VIP4:$TB_UDP_PORT" --flows 1000 \
	--packets 1 --src-port-base 50000 >"$TB_TMP/fenced.sum" 2>/dev/null
jq -r '"during the fence: \(.answered)/\(.sent) new UDP flows answered, by unit \(.by_unit | tostring)"' \
	"$TB_TMP/fenced.sum"
tb_cg gw -j stats | jq -r '"fenced new flows counted per unit: " +
	([.units[] | "\(.name) \(.fenced)"] | join(", "))'
say "Waiting out the fence (it ends in the dataplane, no command needed)..."
sleep 2.2
traffic "UDP/IPv4" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 3000 --packets 2 --src-port-base 51000
cg gw restore dc-a --service udp4 --handover 0

heading "8. The agent: health probes, automatic evacuation, guarded restore"
# the agent's audit records go beside the demo's other files
export CELLGATE_AUDIT_LOG=$TB_TMP/audit.jsonl
jq -n --arg v4 "$TB_VIP4" --argjson port "$TB_UDP_PORT" '{
	interval: "50ms", fall: 3, rise: 5,
	restore: {hold_down: "2s", successes: 20, fence: "300ms", handover: "30s"},
	checks: [{type: "tunnel", vip: $v4, port: $port}]
}' >"$TB_TMP/agent.json"
say "Configuration ($TB_TMP/agent.json): every 50 ms, an IPIP/IPv6 frame like the"
say "dataplane's goes to each endpoint, carrying a UDP probe to $TB_VIP4:$TB_UDP_PORT that"
say "the unit's decap and cg-echo answer; 3 lost in a row = down. A unit back up is"
say "restored after 2 s healthy and 20 answers in a row, through a 300 ms fence."
printf '%s$ cellgate -i %s agent --config agent.json &%s\n' "$D" "$(tb_inst gw)" "$N"
(exec nsenter --net="/run/netns/$(tb_ns gw)" -- "$TB_CG" -i "$(tb_inst gw)" agent \
	--config "$TB_TMP/agent.json") </dev/null >"$TB_TMP/agent.log" 2>&1 &
TB_PIDS+=($!)
agent_up() {
	"$TB_CG" -i "$(tb_inst gw)" -j agent status 2>/dev/null |
		jq -e '[.units[] | select(.health == "up" and .state == "serving")] | length == 3' >/dev/null
}
for _ in $(seq 100); do agent_up && break; sleep 0.05; done
agent_up || die "the agent did not come up: $(tail -3 "$TB_TMP/agent.log")"
cg gw agent status

heading "9. Datacenter loss: dc-c goes silent (nftables drops everything; link up)"
tb_flows_bg "$TB_TMP/loss.sum" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 300 --packets 300 \
	--interval-ms 10 --timeout-ms 20 --retries 100 --max-ms 30000 --json "$TB_TMP/loss.json"
live=$TB_BG_PID
sleep 1
printf '%s$ nft ... drop (in dc-c'"'"'s namespace)%s\n' "$D" "$N"
tb_nsx dc-c nft "add table netdev cgbh; add chain netdev cgbh in { type filter hook ingress device \"$(tb_unit_dev dc-c)\" priority -500; policy drop; }"
for _ in $(seq 100); do
	[[ $(tb_cg gw -j status | jq -r '.units[] | select(.name == "dc-c") | .state') == evacuated ]] && break
	sleep 0.05
done
wait "$live"
grep -E 'is down|evacuated' "$TB_TMP/agent.log" | tail -2 | sed 's/^/  agent: /'
rec=$(jq -c 'select(.automatic and .action == "evacuate" and .unit == "dc-c")' "$TB_TMP/audit.jsonl" | tail -1)
[[ -n $rec ]] || die "the agent did not evacuate dc-c: $(tail -3 "$TB_TMP/agent.log")"
say "audit record:"
jq -r '"  first failed probe \(.first_failure), detected \(.detected) (\(.detection_ms * 10 | floor / 10) ms later,\n  fall 3 x 50 ms), generation \(.generation_after) published \((.published_ns - .detected_ns) / 1e5 | floor / 10) ms after detection"' <<<"$rec"
# the fault took effect when dc-c answered its last request; recovery is the
# first request of one of its flows that a stand-in answered
jq -r --argjson r "$rec" '
	([.flows[] | . as $f | range(0; .units | length) | select($f.units[.] == "dc-c") | $f.t_ns[.]] | max) as $tf
	| [.flows[] | select(.units[0] == "dc-c") | . as $f
	   | [range(0; .units | length) | select($f.units[.] != null and $f.units[.] != "dc-c" and $f.t_ns[.] > $tf)
	      | $f.t_ns[.]] | min | select(. != null)] as $back
	| "\($B)loss of dc-c to detection: \(($r.detected_ns - $tf) / 1e5 | floor / 10) ms; to traffic recovered: " +
	  "\((($back | min) - $tf) / 1e5 | floor / 10) ms (first of its \($back | length) flows answered by a stand-in), " +
	  "\((($back | max) - $tf) / 1e5 | floor / 10) ms (all of them)\($N)"' --arg B "$B" --arg N "$N" \
	"$TB_TMP/loss.json"
jq -r '"live traffic: \(.answered)/\(.sent) requests answered, \(.lost) lost (requests in flight during the loss were retried)"' "$TB_TMP/loss.sum"
jq -e '.lost == 0 and .unsent == 0' "$TB_TMP/loss.sum" >/dev/null || unanswered=1
cg gw agent status

heading "10. dc-c comes back: a guarded restore"
tb_flows_bg "$TB_TMP/back.sum" --dst "$TB_VIP4:$TB_UDP_PORT" --flows 300 --packets 400 \
	--interval-ms 10 --max-ms 30000
live=$TB_BG_PID
sleep 0.5
printf '%s$ nft delete table netdev cgbh (in dc-c'"'"'s namespace)%s\n' "$D" "$N"
tb_nsx dc-c nft delete table netdev cgbh
t0=$(date +%s%N)
for _ in $(seq 200); do
	[[ $(tb_cg gw -j status | jq -r '.units[] | select(.name == "dc-c") | .state') == serving ]] && break
	sleep 0.05
done
t1=$(date +%s%N)
wait "$live"
grep -E 'is up again|restored' "$TB_TMP/agent.log" | tail -2 | sed 's/^/  agent: /'
say "restored $(((t1 - t0) / 1000000)) ms after dc-c answered again (hold-down 2 s + 20 answers in a row)"
jq -r 'select(.automatic and .action == "restore" and .unit == "dc-c") |
	"audit record: restore by \(.who), generation \(.generation_after), \(.buckets_moved) buckets back, \(.buckets_fenced // 0) fenced for \(.fence_ms) ms"' \
	"$TB_TMP/audit.jsonl" | tail -1
jq -r '"live traffic across the restore: \(.answered)/\(.sent) requests answered, \(.lost) lost (new flows of fenced buckets wait out the fence)"' "$TB_TMP/back.sum"
jq -e '.lost == 0 and .unsent == 0' "$TB_TMP/back.sum" >/dev/null || unanswered=1
say
say "Metrics (curl http://127.0.0.1:9469/metrics in the gateway's namespace), a few of them:"
tb_nsx gw curl -s http://127.0.0.1:9469/metrics |
	grep -E '^cellgate_(unit_packets_total|agent_evacuations_total\{unit="dc-c",cause="probe"|agent_restores_total|generation )' |
	sed 's/^/  /'

heading "11. Tear down"
tb_teardown
if [[ $unanswered -ne 0 ]]; then
	die "some requests went unanswered (see above): the dataplane or the test bed is broken"
fi
say "${G}namespaces, links and pins of $TB_ID removed; demo done.${N}"
