# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# shellcheck shell=bash
#
# One chaos drill on the topology of topo.sh, with a fault of faults.sh:
#
#   cd_drill NAME KIND TARGETS [ARG]
#
# starts live traffic from every client (cg-flows: UDP and TCP, IPv4 and
# IPv6, each flow a fixed 5-tuple), injects the fault after CD_PRE_MS,
# waits until every live gateway has evacuated the failed units (or
# CD_WAIT_MS passed), lets traffic run CD_POST_MS more, stops it, heals the
# fault and waits until every unit serves again. Then it writes
# $CD_OUT/NAME.json (the report: timeline, RTO, losses, disturbed flows,
# outcome against the thresholds) and $CD_OUT/NAME.svg (the timeline
# picture), and prints one line. Raw material stays in $CD_OUT/NAME.d/.
#
# Who evacuates: on every gateway either `cellgate agent` (when the build
# has it and CD_DETECTOR is auto or agent) or the drill's own detector,
# cg-chaos-detect (CD_DETECTOR=drill): probes to every backend's health
# port and rtnetlink link events, then `cellgate evacuate`. The report
# names which one ran ("detector").
#
# Settings (variables, see cd_defaults) may be changed between drills.

CD_SCRIPTS=${CD_SCRIPTS:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}

cd_defaults() {
	CD_OUT=${CD_OUT:-$CT_TMP/reports}
	CD_PRE_MS=${CD_PRE_MS:-1000}        # traffic before the fault
	CD_POST_MS=${CD_POST_MS:-1500}      # traffic after the evacuation
	CD_WAIT_MS=${CD_WAIT_MS:-5000}      # longest wait for the evacuation
	CD_SLICE_MS=${CD_SLICE_MS:-10}
	CD_TIMEOUT_MS=${CD_TIMEOUT_MS:-25}  # client retry timer (UDP) / TCP handshake
	CD_INTERVAL_MS=${CD_INTERVAL_MS:-100} # per flow, between requests
	# flows per client, per service (7 200 requests/s with the defaults: the
	# test bed shares 2 cores with everything else on this machine)
	CD_UDP4=${CD_UDP4:-200} CD_UDP6=${CD_UDP6:-100}
	CD_TCP4=${CD_TCP4:-40} CD_TCP6=${CD_TCP6:-20}
	CD_DETECTOR=${CD_DETECTOR:-auto}    # auto | agent | drill
	# the drill detector's knobs (the agent has its own configuration)
	# (a probe may take 100 ms: this machine is shared, and a stalled probe
	# must not evacuate a healthy unit)
	CD_PROBE_MS=${CD_PROBE_MS:-10} CD_PROBE_TIMEOUT_MS=${CD_PROBE_TIMEOUT_MS:-100}
	CD_FALL=${CD_FALL:-3} CD_RISE=${CD_RISE:-10} CD_HOLD_MS=${CD_HOLD_MS:-1000}
	# thresholds (empty: not judged)
	CD_MAX_RTO_MS=${CD_MAX_RTO_MS-300}
	CD_MAX_TCP_RTO_MS=${CD_MAX_TCP_RTO_MS-}
	CD_MAX_DETECT_MS=${CD_MAX_DETECT_MS-}
	CD_MAX_LOST_FLOWS=${CD_MAX_LOST_FLOWS-}
	CD_MAX_DISTURBED=${CD_MAX_DISTURBED-0}
	CD_PLOT=${CD_PLOT:-1}
	mkdir -p "$CD_OUT"
	cd_detector_kind >/dev/null
}

_cd_now() { _cf_now; }
# tight polling loops, with builtins only (no process per turn)
_cd_sleep() {
	[[ -n ${_CD_SLEEP_FD:-} ]] || exec {_CD_SLEEP_FD}<> <(:)
	read -r -t "$1" -u "$_CD_SLEEP_FD" _ 2>/dev/null
	return 0
}
_cd_log_has() {
	local -a lines=()

	[[ -f $1 ]] && mapfile -t lines <"$1"
	[[ "${lines[*]}" == *"$2"* ]]
}
_cd_log() { [[ -n ${CD_QUIET:-} ]] || printf '  %s\n' "$*" >&2; }

# cd_detector_kind: agent when the CLI has it (and it is wanted), else
# drill; decided once per run
cd_detector_kind() {
	if [[ -z ${CD_KIND:-} ]]; then
		case $CD_DETECTOR in
		drill | agent) CD_KIND=$CD_DETECTOR ;;
		*) if "$CT_CG" agent --help >/dev/null 2>&1; then CD_KIND=agent; else CD_KIND=drill; fi ;;
		esac
	fi
	echo "$CD_KIND"
}

# ---- detectors: one per gateway ----

declare -gA CD_DET_PID=()

# cd_start_detector gwG [EXTRA ARGS...]: the drill detector (or the agent)
# for that gateway, logging into $CT_TMP/detect-gwG.jsonl
cd_start_detector() {
	local g=$1 u b kind
	local -a args=()

	shift
	kind=$(cd_detector_kind)
	if [[ $kind == agent ]]; then
		cd_start_agent "$g" "$@"
		return
	fi
	for u in "${CT_UNITS[@]}"; do
		args+=(--unit "$u" --link "$(ct_short "$u")")
		for b in $(ct_backends "$u"); do
			args+=(--probe "$(ct_backend4 "$b"):$CT_HEALTH_PORT")
			args+=(--probe "[$(ct_backend6 "$b")]:$CT_HEALTH_PORT")
		done
	done
	CELLGATE_AUDIT_LOG=$CT_TMP/audit-$g.jsonl ct_bg "$g" "$CT_TMP/detect-$g.jsonl" \
		"$CT_TOOLS/cg-chaos-detect" --cellgate "$CT_CG" --instance "$(ct_inst "$g")" \
		--interval-ms "$CD_PROBE_MS" --timeout-ms "$CD_PROBE_TIMEOUT_MS" --fall "$CD_FALL" \
		--rise "$CD_RISE" --hold-down-ms "$CD_HOLD_MS" --handover 200ms "${args[@]}" "$@"
	CD_DET_PID[$g]=$CT_BG_PID
	disown "$CT_BG_PID" # it may be SIGKILLed: no job report from the shell
}

# cd_start_agent gwG [ARGS...]: `cellgate agent` for the gateway's instance,
# configured like the drill detector: probes every CD_PROBE_MS through the
# tunnel to every endpoint (the steered path), CD_FALL/CD_RISE, restore
# after CD_HOLD_MS with a short handover (the next drill starts from steady
# tables); up to two units out at once with a capacity factor of 3
# (dc-a alone may carry everything: the drills lose two units of three); a
# unit is down when none of its endpoints answers, as for the drill detector
cd_start_agent() {
	local g=$1 cfg

	cfg=$CT_TMP/agent-$g.json
	shift
	jq -n --arg i "${CD_PROBE_MS}ms" --arg t "${CD_PROBE_TIMEOUT_MS}ms" \
		--argjson f "$CD_FALL" --argjson r "$CD_RISE" --arg h "${CD_HOLD_MS}ms" \
		--arg sock "$CT_TMP/agent-$g.sock" --arg vip "$CT_VIP4" --argjson port "$CT_UDP_PORT" \
		--args '{
			version: 1, interval: $i, timeout: $t, fall: $f, rise: $r,
			metrics: "off", socket: $sock, max_evacuated: 2, capacity: {factor: 3},
			restore: {hold_down: $h, handover: "200ms"},
			checks: [{type: "tunnel", vip: $vip, port: $port}],
			units: ([$ARGS.positional[] | {key: ., value: {min_healthy_endpoints: 1}}] | from_entries)
		}' "${CT_UNITS[@]}" >"$cfg"
	CELLGATE_AUDIT_LOG=$CT_TMP/audit-$g.jsonl ct_bg "$g" "$CT_TMP/detect-$g.jsonl" \
		"$CT_CG" -i "$(ct_inst "$g")" agent --config "$cfg" "$@"
	CD_DET_PID[$g]=$CT_BG_PID
	disown "$CT_BG_PID" # it may be SIGKILLed: no job report from the shell
}

cd_start_detectors() {
	local g

	for g in $(ct_gateways); do
		[[ -e /run/netns/$(ct_ns "$g") ]] && cd_start_detector "$g"
	done
	sleep 0.3 # first probes answered: every endpoint starts up
	cd_check_detectors
}

# cd_check_detectors: every live gateway's controller runs (else say why)
cd_check_detectors() {
	local g p

	for g in $(_cd_live_gateways); do
		p=${CD_DET_PID[$g]:-}
		if [[ -z $p ]] || ! _ct_running "$p"; then
			echo "the controller of $g is not running: $(tail -3 "$CT_TMP/detect-$g.jsonl" 2>/dev/null)" >&2
			return 1
		fi
	done
}

# cd_stop_detector gwG: SIGKILL (a controller may die at any moment). Only
# controllers run in a gateway's namespace: all of them go, so that two
# never compete for one instance.
cd_stop_detector() {
	local p=${CD_DET_PID[$1]:-} q

	[[ -n $p ]] && kill -KILL "$p" 2>/dev/null
	for q in $(ip netns pids "$(ct_ns "$1")" 2>/dev/null); do
		kill -KILL "$q" 2>/dev/null
	done
	[[ -n $p ]] && wait "$p" 2>/dev/null
	CD_DET_PID[$1]=''
}

# ---- traffic ----

# _cd_flows DIR CLIENT SERVICE N: one cg-flows process in the background
_cd_flows() {
	local dir=$1 c=$2 s=$3 n=$4 dst rate ns base
	local -a extra=()

	[[ $n -gt 0 ]] || return 0
	case $s in
	udp4) dst=$CT_VIP4:$CT_UDP_PORT base=20000 ;;
	udp6) dst=[$CT_VIP6]:$CT_UDP_PORT base=30000 ;;
	tcp4) dst=$CT_VIP4:$CT_TCP_PORT extra=(--proto tcp --reconnect --slow-ms 100 --tcp-timeout-ms 500) base=40000 ;;
	tcp6) dst=[$CT_VIP6]:$CT_TCP_PORT extra=(--proto tcp --reconnect --slow-ms 100 --tcp-timeout-ms 500) base=50000 ;;
	esac
	rate=$((n * 1000 / CD_INTERVAL_MS))
	ns=$(ct_ns "$c")
	# fixed source ports: every drill repeats the same 5-tuples
	(exec nsenter --net="/run/netns/$ns" -- "$CT_TOOLS/cg-flows" --dst "$dst" --flows "$n" \
		--rate "$rate" --duration-ms 120000 --max-ms 130000 --timeout-ms "$CD_TIMEOUT_MS" \
		--retries 100 --window 512 --src-port-base "$base" --slice-ms "$CD_SLICE_MS" \
		--series "$dir/$c-$s.series.json" --json "$dir/$c-$s.flows.json" --json-brief \
		--label "$c/$s" "${extra[@]}") </dev/null >"$dir/$c-$s.sum" 2>"$dir/$c-$s.err" &
	CT_PIDS+=($!)
	CD_TRAFFIC_PIDS+=($!)
}

_cd_traffic_start() {
	local dir=$1 c

	CD_TRAFFIC_PIDS=()
	for c in $(ct_clients); do
		_cd_flows "$dir" "$c" udp4 "$CD_UDP4"
		_cd_flows "$dir" "$c" udp6 "$CD_UDP6"
		_cd_flows "$dir" "$c" tcp4 "$CD_TCP4"
		_cd_flows "$dir" "$c" tcp6 "$CD_TCP6"
	done
}

# stop new requests; what is outstanding finishes (its retries included)
_cd_traffic_stop() {
	local p

	for p in "${CD_TRAFFIC_PIDS[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${CD_TRAFFIC_PIDS[@]}"; do
		for _ in $(seq 60); do
			_ct_running "$p" || break
			sleep 0.1
		done
		kill -TERM "$p" 2>/dev/null # a second TERM: stop at once
		wait "$p" 2>/dev/null
	done
}

# ---- gateway state ----

_cd_live_gateways() {
	local g

	for g in $(ct_gateways); do
		[[ -e /run/netns/$(ct_ns "$g") ]] && echo "$g"
	done
}

# _cd_stats DIR SNAP: `cellgate -j stats` of every live gateway, and the
# test bed's own drops: frames its veths toward the units could not take
# (XDP redirect into a full ring), which are no fault of the dataplane
_cd_stats() {
	local g u

	for g in $(_cd_live_gateways); do
		ct_cg "$g" -j stats >"$1/$g.$2.stats.json" 2>/dev/null || rm -f "$1/$g.$2.stats.json"
		for u in "${CT_UNITS[@]}"; do
			ct_nsx "$g" ethtool -S "$(ct_short "$u")" 2>/dev/null |
				awk '/xdp_xmit_errors|rx_queue_0_drops|xdp_drops/ { n += $2 } END { print n + 0 }'
		done | jq -s --arg g "$g" '{gateway: $g, veth_drops: add}' >"$1/$g.$2.tb.json"
	done
}

# _cd_all_in_state STATE UNITS...: true when every live gateway shows them so
_cd_all_in_state() {
	local want=$1 g st
	local -a us=()

	shift
	us=("$@")
	for g in $(_cd_live_gateways); do
		st=$(ct_cg "$g" -j status 2>/dev/null) || return 1
		jq -e --arg s "$want" --args '[.units[] | select(.name as $n | $ARGS.positional | index($n))
			| .state == $s] | all and length > 0' "${us[@]}" <<<"$st" >/dev/null || return 1
	done
}

# _cd_wait_state STATE MS UNITS...: poll every 50 ms (each poll runs the CLI
# on every gateway: not too often while the drill measures); prints when it held
_cd_wait_state() {
	local want=$1 ms=$2 end

	shift 2
	end=$(($(_cd_now) + ms * 1000000))
	while (($(_cd_now) < end)); do
		if _cd_all_in_state "$want" "$@"; then
			_cd_now
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# cd_restore_all: every unit serving on every gateway (restores what is not)
cd_restore_all() {
	local g u st

	for g in $(_cd_live_gateways); do
		st=$(ct_cg "$g" -j status 2>/dev/null) || continue
		for u in "${CT_UNITS[@]}"; do
			if [[ $(jq -r --arg u "$u" '.units[] | select(.name == $u) | .state' <<<"$st") != serving ]]; then
				ct_cg "$g" restore "$u" --handover 200ms >/dev/null 2>&1
			fi
		done
	done
}

# ---- the drill ----

# cd_drill NAME KIND TARGETS [ARG]: see the top of this file. Returns 0 when
# the drill SUCCEEDED, 1 when it FAILED, 2 when it could not run.
cd_drill() {
	local name=$1 kind=$2 targets=$3 arg=${4:-}
	local dir=$CD_OUT/$name.d report=$CD_OUT/$name.json det t_start t_seen='' t_end
	local expect=1 g outcome fault=$kind
	local -a units=() gone=()

	rm -rf "$dir"
	mkdir -p "$dir"
	det=$(cd_detector_kind)
	if [[ $kind == gateway ]]; then
		expect=0 gone=("$targets")
	else
		read -ra units <<<"${targets//,/ }"
	fi
	[[ $kind == netns ]] && gone=("${units[@]}")
	# steady state: every unit serving everywhere, a detector per gateway
	cd_restore_all
	if ! _cd_wait_state serving 3000 "${CT_UNITS[@]}" >/dev/null; then
		echo "cd_drill $name: units do not all serve before the drill" >&2
		return 2
	fi
	for g in $(_cd_live_gateways); do
		if [[ -z ${CD_DET_PID[$g]:-} ]] || ! _ct_running "${CD_DET_PID[$g]}"; then
			cd_start_detector "$g"
			sleep 0.3
		fi
	done
	cd_check_detectors || { echo "cd_drill $name: no controller, not run" >&2; return 2; }

	t_start=$(_cd_now)
	_cd_traffic_start "$dir"
	sleep "$(_cf_secs "$CD_PRE_MS")"
	_cd_stats "$dir" before
	if [[ $kind == controller-kill ]]; then
		_cd_arm_crash || return 2
		fault=${CD_KILL_FAULT:-blackhole}
	fi
	cf_inject "$fault" "$targets" "$arg" >"$dir/inject.log" 2>&1 || {
		echo "cd_drill $name: injecting $fault into $targets failed: $(head -c 300 "$dir/inject.log")" >&2
		_cd_traffic_stop
		cf_heal "$fault" "$targets" >/dev/null 2>&1
		return 2
	}
	local t_inject=$CF_T0 t_inject_end=$CF_T1
	[[ $kind == controller-kill ]] && _cd_after_crash
	if [[ $expect == 1 ]]; then
		t_seen=$(_cd_wait_state evacuated "$CD_WAIT_MS" "${units[@]}") || t_seen=''
	fi
	_cd_stats "$dir" published
	sleep "$(_cf_secs "$CD_POST_MS")"
	_cd_traffic_stop
	t_end=$(_cd_now)
	_cd_stats "$dir" after
	for g in $(ct_gateways); do
		[[ -f $CT_TMP/detect-$g.jsonl ]] || continue
		# the drill detector's JSON lines (the agent's log is text: kept as is)
		jq -cR --argjson t "$t_start" 'fromjson? | select(.t_ns? >= $t)' "$CT_TMP/detect-$g.jsonl" \
			>"$dir/$g.events.jsonl" 2>/dev/null
		cp "$CT_TMP/detect-$g.jsonl" "$dir/$g.controller.log"
		[[ -f $CT_TMP/audit-$g.jsonl ]] && cp "$CT_TMP/audit-$g.jsonl" "$dir/$g.audit.jsonl"
	done

	# heal, then back to every unit serving (restored by the detector after
	# its hold-down, or here)
	if ! cf_heal "$fault" "$targets" >"$dir/heal.log" 2>&1; then
		echo "cd_drill $name: healing $fault of $targets failed: $(head -c 300 "$dir/heal.log")" >&2
	fi
	[[ $kind == gateway ]] && cd_start_detector "$targets"
	if ! _cd_wait_state serving $((CD_HOLD_MS * 4 + 3000)) "${CT_UNITS[@]}" >/dev/null; then
		cd_restore_all
		_cd_wait_state serving 2000 "${CT_UNITS[@]}" >/dev/null ||
			echo "cd_drill $name: units do not all serve again after the drill" >&2
	fi

	_cd_report "$dir" "$report" "$name" "$kind" "$targets" "$arg" "$det" "$t_start" \
		"$t_inject" "$t_inject_end" "${t_seen:-0}" "$t_end" "$expect" "${gone[*]}" || return 2
	outcome=$(jq -r .outcome "$report")
	if [[ $CD_PLOT == 1 ]]; then
		jq -r -f "$CD_SCRIPTS/plot.jq" "$report" >"$CD_OUT/$name.svg" 2>"$dir/plot.err" ||
			echo "cd_drill $name: plotting failed: $(head -c 300 "$dir/plot.err")" >&2
	fi
	jq -r -f "$CD_SCRIPTS/line.jq" "$report"
	[[ $outcome == SUCCEEDED ]]
}

# controller-kill: the controller dies in the middle of its first evacuation
_cd_arm_crash() {
	local g

	for g in $(_cd_live_gateways); do
		cd_stop_detector "$g"
		if [[ $(cd_detector_kind) == agent ]]; then
			cd_start_detector "$g"
		else
			# dies, with its cellgate, 0..4 ms into the evacuation
			cd_start_detector "$g" --crash-after-us "$((RANDOM % 4000))"
		fi
	done
	sleep 0.3
}

# after the crash (or, for the agent, as soon as it has decided that the unit
# is down: a watcher per gateway then kills it, its evacuation under way), a
# new controller starts and must finish the job
_cd_after_crash() {
	local g end p
	local -a gws=() watchers=()

	end=$(($(_cd_now) + CD_WAIT_MS * 1000000))
	mapfile -t gws < <(_cd_live_gateways)
	if [[ $(cd_detector_kind) == agent ]]; then
		for g in "${gws[@]}"; do
			_cd_kill_when "$CT_TMP/detect-$g.jsonl" "${CD_DET_PID[$g]}" "$end" &
			watchers+=($!)
			CT_PIDS+=($!)
		done
	fi
	for g in "${gws[@]}"; do
		p=${CD_DET_PID[$g]}
		while _ct_running "$p" && (($(_cd_now) < end)); do
			_cd_sleep 0.002
		done
		echo "{\"t_ns\":$(_cd_now),\"event\":\"crash\"}" >>"$CT_TMP/detect-$g.jsonl"
		cd_stop_detector "$g"
		echo "{\"t_ns\":$(_cd_now),\"event\":\"restart\"}" >>"$CT_TMP/detect-$g.jsonl"
		cd_start_detector "$g"
	done
	for p in "${watchers[@]}"; do
		wait "$p" 2>/dev/null
	done
}

# _cd_kill_when LOG PID END_NS: SIGKILL PID once LOG says a unit is down
_cd_kill_when() {
	while (($(_cd_now) < $3)) && ! _cd_log_has "$1" ' is down'; do
		_cd_sleep 0.001
	done
	kill -KILL "$2" 2>/dev/null
}

# _cd_report DIR OUT NAME KIND TARGETS ARG DETECTOR T_START T_INJECT
#            T_INJECT_END T_SEEN T_END EXPECT GONE: the report JSON
_cd_report() {
	local dir=$1 out=$2 g f
	local -a flows=() series=()

	for f in "$dir"/*.flows.json; do [[ -s $f ]] && flows+=("$f"); done
	for f in "$dir"/*.series.json; do [[ -s $f ]] && series+=("$f"); done
	[[ ${#flows[@]} -gt 0 ]] || { echo "cd_drill: no traffic results in $dir ($(cat "$dir"/*.err 2>/dev/null | head -c 300))" >&2; return 1; }
	for g in $(ct_gateways); do
		jq -n --arg g "$g" --slurpfile b <(cat "$dir/$g.before.stats.json" 2>/dev/null || echo null) \
			--slurpfile p <(cat "$dir/$g.published.stats.json" 2>/dev/null || echo null) \
			--slurpfile a <(cat "$dir/$g.after.stats.json" 2>/dev/null || echo null) \
			--slurpfile tb <(cat "$dir/$g.before.tb.json" 2>/dev/null || echo null) \
			--slurpfile ta <(cat "$dir/$g.after.tb.json" 2>/dev/null || echo null) \
			'{gateway: $g, before: $b[0], published: $p[0], after: $a[0],
			  veth_drops: (if $tb[0] and $ta[0] then $ta[0].veth_drops - $tb[0].veth_drops else null end)}' \
			>"$dir/$g.stats-all.json"
		jq -s --arg g "$g" '{gateway: $g, events: .}' "$dir/$g.events.jsonl" 2>/dev/null \
			>"$dir/$g.events-all.json" || echo "{\"gateway\":\"$g\",\"events\":[]}" >"$dir/$g.events-all.json"
		if [[ -s $dir/$g.audit.jsonl ]]; then
			jq -s --arg g "$g" '{gateway: $g, audit: .}' "$dir/$g.audit.jsonl" >"$dir/$g.audit-all.json"
		else
			echo "{\"gateway\":\"$g\",\"audit\":[]}" >"$dir/$g.audit-all.json"
		fi
	done
	jq -n \
		--arg name "$3" --arg kind "$4" --arg targets "$5" --arg arg "$6" --arg detector "$7" \
		--argjson t_start "$8" --argjson t_inject "$9" --argjson t_inject_end "${10}" \
		--argjson t_seen "${11}" --argjson t_end "${12}" --argjson expect "${13}" \
		--arg gone "${14}" --arg id "$CT_ID" \
		--argjson gateways "$(ct_gateways | jq -R . | jq -sc .)" \
		--arg max_rto "$CD_MAX_RTO_MS" --arg max_tcp_rto "$CD_MAX_TCP_RTO_MS" \
		--arg max_detect "$CD_MAX_DETECT_MS" --arg max_lost_flows "$CD_MAX_LOST_FLOWS" \
		--arg max_disturbed "$CD_MAX_DISTURBED" \
		--argjson slice_ms "$CD_SLICE_MS" --argjson interval_ms "$CD_INTERVAL_MS" \
		--argjson timeout_ms "$CD_TIMEOUT_MS" --argjson wait_ms "$CD_WAIT_MS" \
		--slurpfile flows <(cat "${flows[@]}") --slurpfile series <(cat "${series[@]}") \
		--slurpfile stats <(cat "$dir"/*.stats-all.json) \
		--slurpfile events <(cat "$dir"/*.events-all.json) \
		--slurpfile audit <(cat "$dir"/*.audit-all.json) \
		-f "$CD_SCRIPTS/report.jq" >"$out"
}
