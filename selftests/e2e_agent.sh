#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/e2e_agent.sh [BUILD_DIR]: the agent end to end in the test bed
# (scripts/testbed.sh: client, gateway, units dc-a/dc-b/dc-c).
#
#  1. /metrics is scraped from 127.0.0.1 in the gateway's namespace, parsed
#     as Prometheus text (a strict parser below) and its counters equal
#     `cellgate -j stats`; the control socket is 0600 and refuses non-root;
#  2. faults, each with live UDP flows across it: a silent blackhole of dc-b
#     (nftables drop in its namespace, link up), the gateway-side veth of dc-c
#     down; each is evacuated automatically (audit record with its
#     timeline), every request is answered (retries included), flows of the
#     other units never change unit; back to health, each is restored
#     automatically after the hold-down, through a fence;
#  3. an operator's evacuation is never undone (not by the agent, not by an
#     apply), and an operator's restore of a failed unit is not fought;
#  4. guards: dc-a and dc-b lost with capacity for one more unit: one is
#     evacuated, the other refused (capacity); all units lost: nothing is
#     published (fail static); a flapping unit is damped (not restored);
#  5. kill -9 of the agent under load: no request lost, no flow changes
#     unit, the generation does not change, a new agent adopts;
#  6. dc-c's namespace deleted under load: evacuated, every flow answered.
#
# Behaviour only: no check compares a duration (bench_failover.sh measures).
# One PASS/FAIL line per check; SKIP when not root or tools are missing.
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${CG_BUILD_DIR:-$root/build}}
T=e2e_agent
# shellcheck source=lib/e2e.sh
. "$root/selftests/lib/e2e.sh"
e2e_require "$build"
for c in nft curl setpriv; do
	command -v "$c" >/dev/null || { skip "" "$c is not installed (scripts/install-deps.sh)"; exit 0; }
done

# shellcheck source-path=SCRIPTDIR/.. source=scripts/testbed.sh
. "$root/scripts/testbed.sh"
TB_NO_TRAP=1 tb_init "$build" cga
out=$TB_TMP
inst=$(tb_inst gw)
sock=/run/cellgate/$inst.sock
export CELLGATE_AUDIT_LOG=$out/audit.jsonl
cleanup() {
	local u

	for u in "${TB_UNITS[@]}"; do
		tb_nsx "$u" nft delete table netdev cgbh 2>/dev/null
	done
	# CG_E2E_KEEP=DIR: keep the logs, audit records and flow results there
	[[ -n ${CG_E2E_KEEP:-} && -d ${TB_TMP:-} ]] && cp -r "$TB_TMP" "$CG_E2E_KEEP"
	tb_teardown
	rm -f "$sock"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

VIP4=$TB_VIP4 VIP6=$TB_VIP6 PORT=$TB_UDP_PORT

# ---- helpers ----

# agent config: fast probes, short hold-down; extra jq assignments as $1. The
# timeout is three intervals: a machine busy with other tests can delay an
# answer past one interval, and a false alarm would move healthy flows.
agent_config() {
	jq -n --arg v4 "$VIP4" --arg v6 "$VIP6" --argjson port "$PORT" '{
		version: 1, interval: "50ms", timeout: "150ms", fall: 3, rise: 3, max_evacuated: 2,
		capacity: {factor: 1.6},
		restore: {hold_down: "500ms", successes: 5, fence: "200ms", handover: "30s"},
		checks: [{type: "tunnel", vip: $v4, port: $port}],
		units: {"dc-c": {checks: [{type: "tunnel", vip: $v6, port: $port}, {type: "icmp"}]}}
	} | '"${1:-.}" >"$out/agent.json"
}

AG_PID=
# start_agent NAME: run the agent in the gateway's namespace, wait until it
# answers on its control socket with every unit up
start_agent() {
	local i

	(exec nsenter --net="/run/netns/$(tb_ns gw)" -- "$TB_CG" -i "$inst" agent \
		--config "$out/agent.json") </dev/null >>"$out/agent-$1.log" 2>&1 &
	AG_PID=$!
	TB_PIDS+=("$AG_PID")
	for i in $(seq 100); do
		if "$TB_CG" -i "$inst" -j agent status >"$out/ast.json" 2>/dev/null &&
			jt "$out/ast.json" '[.units[] | select(.health == "up")] | length == 3'; then
			return 0
		fi
		kill -0 "$AG_PID" 2>/dev/null || break
		sleep 0.05
	done
	return 1
}

# wait_until SECONDS CMD...: poll CMD every 50 ms
wait_until() {
	local end=$((SECONDS + $1))

	shift
	while ((SECONDS <= end)); do
		"$@" && return 0
		sleep 0.05
	done
	return 1
}

dp_state() { tb_cg gw -j status 2>/dev/null | jq -r --arg u "$1" '.units[] | select(.name == $u) | .state'; }
generation() { tb_cg gw -j status 2>/dev/null | jq -r .generation; }
is_state() { [[ $(dp_state "$1") == "$2" ]]; }
agent_json() { "$TB_CG" -i "$inst" -j agent status >"$out/ast.json" 2>/dev/null; }
agent_unit() { agent_json && jq -r --arg u "$1" ".units[] | select(.name == \$u) | $2" "$out/ast.json"; }
is_health() { [[ $(agent_unit "$1" .health) == "$2" ]]; }

# blackhole UNIT on|off: drop everything arriving in UNIT, link stays up
blackhole() {
	local dev

	dev=$(tb_unit_dev "$1")
	if [[ $2 == on ]]; then
		tb_nsx "$1" nft "add table netdev cgbh; add chain netdev cgbh in { type filter hook ingress device \"$dev\" priority -500; policy drop; }"
	else
		tb_nsx "$1" nft delete table netdev cgbh
	fi
}

# blackholes on|off UNIT...: all at once (in parallel), as a shared failure would
blackholes() {
	local what=$1 u
	local -a pids=()

	shift
	for u in "$@"; do
		blackhole "$u" "$what" &
		pids+=($!)
	done
	wait "${pids[@]}"
}

# jrec FILTER <<<JSON: true if FILTER holds
jrec() { jq -e "$1" >/dev/null 2>&1; }

# audit FILTER: the audit records (one JSON array) through a jq filter
audit() { jq -s "$1" "$CELLGATE_AUDIT_LOG" 2>/dev/null; }
# last automatic record of ACTION for UNIT
last_auto() {
	audit "[.[] | select(.automatic and .action == \"$1\" and .unit == \"$2\")] | last"
}

# live NAME: background UDP flows, one request per flow every 20 ms for 2.4 s
live() {
	tb_flows_bg "$out/$1.sum" --dst "$VIP4:$PORT" --flows 300 --packets 120 --interval-ms 20 \
		--src-port-base 40000 --max-ms 20000 --json "$out/$1.json"
}

# check_live NAME UNIT: the flows across a fault of UNIT
check_live() {
	local s=$out/$1.sum f=$out/$1.json n

	wait "$TB_BG_PID"
	check "$1.all_answered" "$(jq -c '{sent, answered, lost, unsent, errors, by_unit}' "$s" 2>&1) $(head -c 200 "$s.err")" \
		jt "$s" '.lost == 0 and .unsent == 0 and .answered == .sent and .sent > 0'
	n=$(jq --arg x "$2" '[.flows[] | select(.units[0] != $x and ((.units | map(select(. != null)) | unique | length) > 1))] | length' "$f" 2>/dev/null)
	check "$1.others_undisturbed" "$n flows of the other units changed unit" eq "$n" 0
	n=$(jq --arg x "$2" '[.flows[] | select(.units[0] == $x)] | length' "$f" 2>/dev/null)
	check "$1.had_flows" "$2 served $n flows before the fault" gt "$n" 0
	n=$(jq --arg x "$2" '[.flows[] | select(.units[0] == $x and (.units[-1] == $x or .units[-1] == null))] | length' "$f" 2>/dev/null)
	check "$1.moved_off" "$n flows of $2 were still on it (or unanswered) at the end" eq "$n" 0
}

# check_timeline NAME RECORD: an automatic evacuation's audit record
check_timeline() {
	check "$1.audit" "audit record: $2" jrec '.result == "ok" and .who == "agent" and
		.first_failure_ns <= .detected_ns and .detected_ns <= .decision_ns and
		.decision_ns <= .published_ns and .generation_after == .generation_before + 1' <<<"$2"
}

# ---- 0. test bed, configuration, traffic ----
if ! tb_setup >"$out/setup.out" 2>&1 || ! tb_start_echo >>"$out/setup.out" 2>&1 ||
	! tb_load_decap native >>"$out/setup.out" 2>&1 || ! tb_load_gateway native >>"$out/setup.out" 2>&1; then
	fail setup "building the test bed failed: $(tr '\n' ' ' <"$out/setup.out" | cut -c1-400)"
	exit 1
fi
tb_write_config "$out/cfg.json" 34 33 33
if ! tb_cg gw apply -f "$out/cfg.json" >"$out/apply.out" 2>&1; then
	fail setup "apply: $(cat "$out/apply.out")"
	exit 1
fi
pass setup
tb_flows --dst "$VIP4:$PORT" --flows 600 --packets 2 --src-port-base 20000 >"$out/base.sum" 2>&1
check baseline "$(cat "$out/base.sum")" jt "$out/base.sum" '.lost == 0 and .answered == .sent'

# a bad configuration: refused as a whole, every error named by its path
echo '{"interval": "5ms", "restore": {"hold_down": "soon"}, "checks": [{"type": "tunnel", "port": 7000}], "bogus": 1}' >"$out/bad.json"
tb_nsx gw "$TB_CG" -i "$inst" agent --config "$out/bad.json" --metrics off >"$out/bad.out" 2>&1
rc=$?
check config.refused "exit $rc: $(head -c 400 "$out/bad.out")" eq "$rc" 1 --and \
	grep -q 'restore.hold_down: not a duration' "$out/bad.out" --and grep -q 'bogus: unknown key' "$out/bad.out" --and \
	grep -q 'checks\[0\].vip: required' "$out/bad.out" --and grep -q 'interval: 5 ms is out of range' "$out/bad.out"

agent_config
if ! start_agent a; then
	fail agent.start "the agent did not come up: $(tail -5 "$out/agent-a.log")"
	exit 1
fi
pass agent.start
check agent.adopts "generation $(generation) after the agent started, want 1" eq "$(generation)" 1

# ---- 1. /metrics and the control socket ----

# prom FILE: strict Prometheus text format 0.0.4 parser; prints "name{labels} value"
prom() {
	awk '
	function fail(m) { printf "line %d: %s: %s\n", NR, m, $0 > "/dev/stderr"; bad = 1; exit 1 }
	/^# HELP / { if ($3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/) fail("bad HELP name"); next }
	/^# TYPE / {
		if (NF != 4 || $3 !~ /^[a-zA-Z_:][a-zA-Z0-9_:]*$/ || $4 !~ /^(counter|gauge|histogram|summary|untyped)$/) fail("bad TYPE")
		if ($3 in type) fail("second TYPE for " $3)
		type[$3] = $4; next
	}
	/^#/ || /^$/ { next }
	{
		if (!match($0, /^[a-zA-Z_:][a-zA-Z0-9_:]*/)) fail("no metric name")
		name = substr($0, 1, RLENGTH); rest = substr($0, RLENGTH + 1); labels = ""
		if (substr(rest, 1, 1) == "{") {
			if (!match(rest, /^\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*"(,[a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*")*)?\}/)) fail("bad labels")
			labels = substr(rest, 1, RLENGTH); rest = substr(rest, RLENGTH + 1)
		}
		if (rest !~ /^ ([-+]?[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?|[-+]?Inf|NaN)( -?[0-9]+)?$/) fail("bad value")
		fam = name
		if (!(fam in type)) { sub(/_(bucket|sum|count)$/, "", fam); if (type[fam] != "histogram") fail("sample before its TYPE") }
		if (type[fam] == "counter" && name !~ /_total$/) fail("counter without _total")
		if ((name labels) in seen) fail("duplicate sample")
		seen[name labels] = 1
		split(rest, v, " "); print name labels, v[1]
	}' "$1"
}

scrape() { tb_nsx gw curl -sf --max-time 5 "http://127.0.0.1:9469/metrics" >"$out/$1.prom"; }
mval() { awk -v k="$1" '$1 == k { print $2 }' "$out/$2.parsed"; }

tb_flows --dst "$VIP4:$PORT" --flows 300 --packets 3 --src-port-base 21000 >/dev/null 2>&1
tb_flows --dst "[$VIP6]:$PORT" --flows 100 --packets 2 --src-port-base 21000 >/dev/null 2>&1
if scrape m1 && tb_cg gw -j stats >"$out/m1.stats" 2>&1 && scrape m1b; then
	if prom "$out/m1.prom" >"$out/m1.parsed" 2>"$out/m1.err"; then
		pass metrics.parse
	else
		fail metrics.parse "$(cat "$out/m1.err")"
	fi
	prom "$out/m1b.prom" >"$out/m1b.parsed" 2>/dev/null
	bad=
	while read -r what name; do
		for f in packets bytes new_flows resteered fenced; do
			want=$(jq -r --arg n "$name" --arg f "$f" ".${what}s[] | select(.name == \$n) | .[\$f]" "$out/m1.stats")
			got=$(mval "cellgate_${what}_${f}_total{$what=\"$name\"}" m1)
			got2=$(mval "cellgate_${what}_${f}_total{$what=\"$name\"}" m1b)
			[[ -n $got && $got == "$want" && $got2 == "$want" ]] ||
				bad+="$what $name $f: metrics $got/$got2, stats $want; "
		done
	done < <(jq -r '(.units[] | "unit \(.name)"), (.services[] | "service \(.name)")' "$out/m1.stats")
	# reasons also count what is not steered (neighbour discovery passing by):
	# the stats must lie between the two scrapes
	while read -r r p; do
		lo=$(grep -F "cellgate_reason_packets_total{reason=\"$r\"," "$out/m1.parsed" | awk '{print $2}')
		hi=$(grep -F "cellgate_reason_packets_total{reason=\"$r\"," "$out/m1b.parsed" | awk '{print $2}')
		isnum "$lo" && isnum "$hi" && ((lo <= p && p <= hi)) || bad+="reason $r: metrics $lo..$hi, stats $p; "
	done < <(jq -r '.reasons | to_entries[] | "\(.key) \(.value.packets)"' "$out/m1.stats")
	check metrics.counters_match_stats "${bad:-}" test -z "$bad"
	check metrics.nonzero "unit counters are all 0" \
		gt "$(mval 'cellgate_unit_packets_total{unit="dc-a"}' m1)" 0
	check metrics.agent "unit health / probe histogram missing" \
		eq "$(mval 'cellgate_unit_health{unit="dc-b",health="up"}' m1)" 1 --and \
		grep -q '^cellgate_probe_duration_seconds_bucket{unit="dc-c",endpoint="2001:db8:3::2",check="icmp",le="+Inf"} ' "$out/m1.parsed"
	check metrics.loopback "/metrics answers on 127.0.0.1 only" \
		test "$(tb_nsx gw curl -s --max-time 2 -o /dev/null -w '%{http_code}' http://198.18.0.254:9469/metrics)" = 000
else
	fail metrics.scrape "curl or stats failed: $(head -c 300 "$out/m1.stats")"
fi

check ctl.mode "socket mode $(stat -c %a "$sock" 2>&1), want 600" test "$(stat -c %a "$sock")" = 600
# a non-root peer: the mode keeps it out; with the mode opened up, SO_PEERCRED still does
chmod 0666 "$sock"
nonroot=$(setpriv --reuid=65534 --regid=65534 --clear-groups "$TB_CG" -i "$inst" agent status 2>&1)
chmod 0600 "$sock"
check ctl.refuses_nonroot "a non-root peer got: $(head -c 200 <<<"$nonroot")" grep -q "permission denied" <<<"$nonroot"

# ---- 2a. silent blackhole of dc-b ----
live bh
sleep 0.5
blackhole dc-b on
check bh.evacuated "dc-b is $(dp_state dc-b) 5 s after the blackhole" wait_until 5 is_state dc-b evacuated
check_live bh dc-b
rec=$(last_auto evacuate dc-b)
check_timeline bh "$rec"
check bh.cause "cause $(jq -r .cause <<<"$rec"), want probe" test "$(jq -r .cause <<<"$rec")" = probe
blackhole dc-b off
check bh.restored "dc-b is $(dp_state dc-b) after the blackhole ended" wait_until 8 is_state dc-b serving
rec=$(last_auto restore dc-b)
check bh.restore_audit "restore record: $rec" jrec '.result == "ok" and .buckets_fenced > 0 and .successes >= 5' <<<"$rec"

# ---- 2b. link down on the gateway side of dc-c ----
# Linux drops an interface's IPv6 addresses when it goes down, unless told to
# keep them; the tunnel probes of dc-c answer to the one on gw-dcc
tb_nsx gw sysctl -qw "net.ipv6.conf.$(tb_gw_dev dc-c).keep_addr_on_down=1"
live ld
sleep 0.5
ip -n "$(tb_ns gw)" link set "$(tb_gw_dev dc-c)" down
check ld.evacuated "dc-c is $(dp_state dc-c) 5 s after its link went down" wait_until 5 is_state dc-c evacuated
check_live ld dc-c
rec=$(last_auto evacuate dc-c)
check_timeline ld "$rec"
check ld.cause "cause $(jq -r .cause <<<"$rec"), want link" test "$(jq -r .cause <<<"$rec")" = link
ip -n "$(tb_ns gw)" link set "$(tb_gw_dev dc-c)" up
check ld.restored "dc-c is $(dp_state dc-c) after the link came back" wait_until 8 is_state dc-c serving

# ---- 3. operators win ----
tb_cg gw evacuate dc-a >"$out/man.out" 2>&1
sleep 1.2 # hold-down and successes pass twice over
check manual.kept "dc-a is $(dp_state dc-a) after a manual evacuation and the hold-down" is_state dc-a evacuated
tb_cg gw apply -f "$out/cfg.json" >>"$out/man.out" 2>&1
sleep 1.2
check manual.kept_across_apply "dc-a is $(dp_state dc-a) after an apply" is_state dc-a evacuated --and \
	jt <(tb_cg gw -j status) '.units[] | select(.name == "dc-a") | .state == "evacuated"'
check manual.metric "cellgate_unit_manual for dc-a" \
	eval "tb_nsx gw curl -s http://127.0.0.1:9469/metrics | grep -x 'cellgate_unit_manual{unit=\"dc-a\"} 1' >/dev/null"
tb_cg gw restore dc-a --handover 0 >>"$out/man.out" 2>&1
check manual.restore "dc-a is $(dp_state dc-a) after a manual restore" is_state dc-a serving

blackhole dc-b on
wait_until 5 is_state dc-b evacuated
tb_cg gw restore dc-b --handover 0 >>"$out/man.out" 2>&1
sleep 1
check manual.restore_not_fought "dc-b is $(dp_state dc-b) after an operator restored it while down" \
	is_state dc-b serving --and test "$(agent_unit dc-b .overridden)" = true
blackhole dc-b off
wait_until 5 is_health dc-b up

# ---- 4. guards ----
# dc-a and dc-b lost at once; capacity factor 1.6 = 53.3 % per unit: dc-c may
# take half of one unit's share (to about 50 %), not two units' (100 %)
g0=$(generation)
blackholes on dc-a dc-b
wait_until 5 eval '[[ $(dp_state dc-a) == evacuated || $(dp_state dc-b) == evacuated ]]'
sleep 0.5
sa=$(dp_state dc-a) sb=$(dp_state dc-b)
check capacity.one_evacuated "dc-a $sa, dc-b $sb: want exactly one evacuated" \
	eval '[[ "$sa $sb" == "evacuated serving" || "$sa $sb" == "serving evacuated" ]]'
check capacity.one_publish "generation went from $g0 to $(generation)" eq "$(generation)" $((g0 + 1))
r=$(audit '[.[] | select(.automatic and .result == "refused" and .guard == "capacity")] | length')
check capacity.refused "$r capacity refusals in the audit log" gt "$r" 0
blackholes off dc-a dc-b
check capacity.restored "dc-a $(dp_state dc-a), dc-b $(dp_state dc-b) after recovery" \
	wait_until 8 eval 'is_state dc-a serving && is_state dc-b serving'

# every unit lost: nothing to move to; keep the last good generation
wait_until 5 eval 'is_health dc-a up && is_health dc-b up'
g0=$(generation)
blackholes on dc-a dc-b dc-c
wait_until 5 eval 'is_health dc-a down && is_health dc-b down && is_health dc-c down'
sleep 0.5
check fail_static.generation "generation went from $g0 to $(generation) with every unit down" eq "$(generation)" "$g0"
check fail_static.serving "units not serving: $(tb_cg gw -j status | jq -c '[.units[] | select(.state != "serving") | .name]')" \
	jt <(tb_cg gw -j status) '[.units[] | select(.state == "serving")] | length == 3'
r=$(audit '[.[] | select(.automatic and .guard == "no_survivor")] | length')
check fail_static.audit "$r no_survivor refusals in the audit log" ge "$r" 3
blackholes off dc-a dc-b dc-c
wait_until 5 eval 'is_health dc-a up && is_health dc-b up && is_health dc-c up'
sleep 1 # two hold-downs: nothing moves as the units come back, in whatever order
check fail_static.recovery "generation went from $g0 to $(generation) as the units came back" eq "$(generation)" "$g0"

# ---- 5. kill -9 under load, a new agent adopts ----
g0=$(generation)
tb_flows_bg "$out/rs.sum" --dst "$VIP4:$PORT" --flows 300 --packets 100 --interval-ms 20 \
	--src-port-base 41000 --max-ms 20000 --json "$out/rs.json"
sleep 0.7
{ kill -9 "$AG_PID"; wait "$AG_PID"; } 2>/dev/null
sleep 0.3
check restart.start "the new agent did not come up: $(tail -3 "$out/agent-b.log" 2>/dev/null)" start_agent b
wait "$TB_BG_PID"
check restart.no_loss "$(jq -c '{sent, answered, lost, unsent}' "$out/rs.sum")" \
	jt "$out/rs.sum" '.lost == 0 and .unsent == 0 and .answered == .sent and .flows_moved == 0'
check restart.generation "generation $g0 before, $(generation) after" eq "$(generation)" "$g0"
check restart.adopted "the new agent's view: $(jq -c '[.units[] | {name, state, health}]' "$out/ast.json")" \
	jt "$out/ast.json" ".generation == $g0 and ([.units[] | select(.health == \"up\" and .state == \"serving\")] | length == 3)"
check restart.metrics "the new agent serves /metrics" scrape m2

# ---- 4c. flap damping (a fresh agent, damping that bites on the second fall) ----
kill "$AG_PID"
wait "$AG_PID" 2>/dev/null
agent_config '.damping = {penalty: 1000, suppress: 1500, reuse: 500, half_life: "10m", max: 4000}'
check flap.start "agent did not start: $(tail -3 "$out/agent-c.log" 2>/dev/null)" start_agent c
blackhole dc-b on
wait_until 5 is_state dc-b evacuated
blackhole dc-b off
check flap.first_restore "dc-b is $(dp_state dc-b) after its first fall" wait_until 8 is_state dc-b serving
blackhole dc-b on
check flap.second_evacuation "dc-b is $(dp_state dc-b) after its second fall" wait_until 5 is_state dc-b evacuated
blackhole dc-b off
wait_until 5 is_health dc-b up
sleep 1.5 # three times the hold-down
check flap.damped "dc-b is $(dp_state dc-b), suppressed=$(agent_unit dc-b .suppressed)" \
	is_state dc-b evacuated --and test "$(agent_unit dc-b .suppressed)" = true
tb_cg gw restore dc-b --handover 0 >>"$out/man.out" 2>&1
check flap.manual_restore "dc-b is $(dp_state dc-b) after a manual restore" is_state dc-b serving

# ---- 6. a unit's namespace deleted under load ----
live nd
sleep 0.5
kill "$(cat "$out/echo-dc-c.pid")" 2>/dev/null
ip netns del "$(tb_ns dc-c)"
check nd.evacuated "dc-c is $(dp_state dc-c) 10 s after its namespace was deleted" wait_until 10 is_state dc-c evacuated
check_live nd dc-c
rec=$(last_auto evacuate dc-c)
check_timeline nd "$rec"

[[ $failed -eq 0 ]]
