#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/bench_failover.sh [BUILD_DIR] [TRIALS]: how fast the agent
# notices a lost unit and traffic is answered again, in the test bed
# (scripts/testbed.sh). Prints figures; asserts nothing.
#
# TRIALS (default 50) of each fault, rotating over dc-a, dc-b, dc-c:
#   blackhole  nftables drops everything arriving in the unit (link stays up):
#              only the probes can tell;
#   link-down  the gateway-side veth of the unit goes down: netlink tells.
# Each trial runs 150 UDP flows (one request per flow every 5 ms, retried
# every 10 ms) from the client, injects the fault, waits for the automatic
# evacuation, ends the fault and waits for the automatic restore. Measured
# from when the fault took effect, which is when the failed unit answered
# its last request (its flows send one every 33 us together; the command
# injecting the fault starts earlier: spawning nft or ip takes milliseconds):
#   detected   the agent declared the unit down (audit: detected_ns)
#   published  the evacuation's generation was live (audit: published_ns)
#   recovered  the first request answered by a stand-in, sent by a flow that
#              was on the failed unit (cg-flows send times): "first" over the
#              affected flows, and "all" = when the last of them was answered
# Probes every 50 ms, fall 3, timeout 50 ms (the defaults but rise).
# CG_BENCH_QUICK=1: 10 trials. With CG_BENCH_OUT set (selftests/bench.sh),
# the figures also go to $CG_BENCH_OUT/bench_failover.json.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${CG_BUILD_DIR:-$root/build}}
trials=${2:-50}
[[ ${CG_BENCH_QUICK:-0} == 1 && $# -lt 2 ]] && trials=10

if [[ $(id -u) -ne 0 ]]; then
	echo "bench_failover: needs root (network namespaces, BPF); skipped"
	exit 0
fi
for c in jq nft nsenter ip; do
	command -v "$c" >/dev/null || { echo "bench_failover: $c is missing (scripts/install-deps.sh)"; exit 1; }
done
[[ -x $build/cellgate && -x $build/tools/cg-flows ]] || { echo "bench_failover: build first (make)"; exit 1; }

# shellcheck source-path=SCRIPTDIR/.. source=scripts/testbed.sh
. "$root/scripts/testbed.sh"
TB_NO_TRAP=1 tb_init "$build" cgbf
out=$TB_TMP
inst=$(tb_inst gw)
export CELLGATE_AUDIT_LOG=$out/audit.jsonl
cleanup() {
	local u

	for u in "${TB_UNITS[@]}"; do
		tb_nsx "$u" nft delete table netdev cgbh 2>/dev/null
	done
	tb_teardown
	rm -f "/run/cellgate/$inst.sock"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

tb_setup >"$out/setup.out" 2>&1 && tb_start_echo >>"$out/setup.out" 2>&1 &&
	tb_load_decap native >>"$out/setup.out" 2>&1 && tb_load_gateway native >>"$out/setup.out" 2>&1 ||
	{ echo "bench_failover: test bed failed: $(tail -5 "$out/setup.out")"; exit 1; }
for u in "${TB_UNITS[@]}"; do
	tb_nsx gw sysctl -qw "net.ipv6.conf.$(tb_gw_dev "$u").keep_addr_on_down=1"
done
tb_write_config "$out/cfg.json" 34 33 33
tb_cg gw apply -f "$out/cfg.json" >/dev/null || exit 1
# no damping (every trial fails a unit again), quick restores between trials
jq -n --arg v4 "$TB_VIP4" --argjson port "$TB_UDP_PORT" '{
	interval: "50ms", fall: 3, rise: 3,
	restore: {hold_down: "200ms", successes: 3, handover: "0s"},
	damping: {penalty: 0},
	checks: [{type: "tunnel", vip: $v4, port: $port}]
}' >"$out/agent.json"
(exec nsenter --net="/run/netns/$(tb_ns gw)" -- "$TB_CG" -i "$inst" agent --config "$out/agent.json") \
	</dev/null >"$out/agent.log" 2>&1 &
TB_PIDS+=($!)

state() { tb_cg gw -j status 2>/dev/null | jq -r --arg u "$1" '.units[] | select(.name == $u) | .state'; }
all_up() {
	"$TB_CG" -i "$inst" -j agent status 2>/dev/null |
		jq -e '[.units[] | select(.health == "up" and .state == "serving")] | length == 3' >/dev/null
}
wait_until() {
	local end=$((SECONDS + $1))

	shift
	while ((SECONDS <= end)); do
		"$@" && return 0
		sleep 0.02
	done
	return 1
}
wait_until 10 all_up || { echo "bench_failover: the agent did not come up: $(tail -3 "$out/agent.log")"; exit 1; }

fault() { # fault KIND UNIT on|off
	case $1 in
	blackhole)
		if [[ $3 == on ]]; then
			tb_nsx "$2" nft "add table netdev cgbh; add chain netdev cgbh in { type filter hook ingress device \"$(tb_unit_dev "$2")\" priority -500; policy drop; }"
		else
			tb_nsx "$2" nft delete table netdev cgbh
		fi
		;;
	link-down)
		ip -n "$(tb_ns gw)" link set "$(tb_gw_dev "$2")" "$([[ $3 == on ]] && echo down || echo up)"
		;;
	esac
}

# trial KIND N: one fault; appends "detected published first all inject" (ms) to $out/KIND.txt
trial() {
	local kind=$1 n=$2 unit t0 t1 flows rec pid

	unit=${TB_UNITS[$((n % 3))]}
	flows=$out/flows-$kind-$n.json
	(exec nsenter --net="/run/netns/$(tb_ns cl)" -- "$TB_TOOLS/cg-flows" --dst "$TB_VIP4:$TB_UDP_PORT" \
		--flows 150 --packets 180 --interval-ms 5 --timeout-ms 10 --retries 100 \
		--src-port-base 30000 --max-ms 10000 --json "$flows") </dev/null >/dev/null 2>&1 &
	pid=$!
	sleep 0.3
	t0=$(date +%s%N)
	fault "$kind" "$unit" on
	t1=$(date +%s%N)
	wait_until 5 eval '[[ $(state '"$unit"') == evacuated ]]'
	wait "$pid"
	fault "$kind" "$unit" off
	rec=$(jq -c --arg u "$unit" --argjson t0 "$t0" 'select(.automatic and .action == "evacuate" and
		.unit == $u and .result == "ok" and .decision_ns > $t0)' "$CELLGATE_AUDIT_LOG" | tail -1)
	if [[ -z $rec ]]; then
		echo "  $kind #$n ($unit): no automatic evacuation recorded" >&2
	else
		# tf: when the fault took effect, i.e. the send time of the last request
		# the unit still answered (its flows send one every 33 us together)
		jq -r --argjson t0 "$t0" --argjson t1 "$t1" --arg u "$unit" --argjson r "$rec" '
			([.flows[] | . as $f | range(0; .units | length) | select($f.units[.] == $u)
			  | $f.t_ns[.]] | max) as $tf
			| [.flows[] | select(.units[0] == $u) | . as $f
			   | [range(0; .units | length) | select($f.units[.] != null and $f.units[.] != $u
				and $f.t_ns[.] > $tf) | $f.t_ns[.]] | min | select(. != null)] as $rec
			| if $tf == null or ($rec | length) == 0 then
				"no request of \($u) answered before the fault, or none answered again within the run" | halt_error(1)
			  else [($r.detected_ns - $tf), ($r.published_ns - $tf), ($rec | min) - $tf,
			   ($rec | max) - $tf, $t1 - $t0, $tf - $t0] | map(. / 1e6) | @tsv end' "$flows" >>"$out/$kind.txt" ||
			echo "  $kind #$n ($unit): trial not counted" >&2
	fi
	rm -f "$flows"
	wait_until 10 all_up || echo "  $kind #$n ($unit): not restored: $(tail -2 "$out/agent.log")" >&2
}

# stats FILE COLUMN: "median p99 max" of a column, ms
stats() {
	cut -f"$2" "$1" | sort -n | awk '{ v[NR] = $1 } END {
		if (!NR) { print "n/a"; exit }
		p99 = int(NR * 0.99 + 0.999); if (p99 > NR) p99 = NR
		printf "%8.1f %8.1f %8.1f", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2), v[p99], v[NR] }'
}

echo "bench_failover: $trials trials per fault, probes every 50 ms, fall 3 (test bed $TB_ID)"
for kind in blackhole link-down; do
	: >"$out/$kind.txt"
	for ((n = 0; n < trials; n++)); do
		trial "$kind" "$n"
	done
done

printf '\n%-10s %-40s %5s %8s %8s %8s\n' FAULT "FROM THE FAULT TO (ms)" N MEDIAN P99 MAX
for kind in blackhole link-down; do
	f=$out/$kind.txt
	n=$(wc -l <"$f")
	printf '%-10s %-40s %5s %s\n' "$kind" "detected (agent)" "$n" "$(stats "$f" 1)"
	printf '%-10s %-40s %5s %s\n' "" "evacuation published" "$n" "$(stats "$f" 2)"
	printf '%-10s %-40s %5s %s\n' "" "first affected flow answered again" "$n" "$(stats "$f" 3)"
	printf '%-10s %-40s %5s %s\n' "" "all affected flows answered again" "$n" "$(stats "$f" 4)"
	printf '%-10s %-40s %5s %s\n' "" "(command start to fault in effect)" "$n" "$(stats "$f" 6)"
done
if [[ -n ${CG_BENCH_OUT:-} ]]; then
	for kind in blackhole link-down; do
		jq -R -s --arg k "$kind" 'split("\n") | map(select(length > 0) | split("\t") | map(tonumber)) as $r
			| def col($i): [$r[] | .[$i]] | sort;
			  def q($a; $p): if ($a | length) == 0 then null
				else $a[([(($a | length) * $p | ceil) - 1, 0] | max)] end;
			  def fig($i): col($i) as $a | {median: q($a; 0.5), p99: q($a; 0.99), max: ($a | last)};
			{($k): {trials: ($r | length), detected_ms: fig(0), published_ms: fig(1),
				first_answered_ms: fig(2), all_answered_ms: fig(3)}}' "$out/$kind.txt"
	done | jq -s 'add' >"$CG_BENCH_OUT/bench_failover.json"
fi
echo
echo "targets (DESIGN.md section 6): silent loss recovered < 300 ms p99; link loss < 50 ms"
echo "(cg-flows retries every 10 ms, so 'answered again' carries up to 10 ms of retry timer)"
