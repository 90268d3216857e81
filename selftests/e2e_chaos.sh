#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/e2e_chaos.sh [BUILD_DIR]: a short chaos drill of every fault
# type (scripts/chaos/: topo.sh, faults.sh, drill.sh) on a small version of
# the chaos test bed: one client, two gateways behind ECMP, three units of
# two backends, live UDP and TCP flows over IPv4 and IPv6, and the agent
# (or, while the build has none, the drill's own detector) evacuating.
#
# Behaviour only, never wall-clock thresholds (those belong to the drill
# reports of `make chaos`). For each drill:
#   .evacuated        every gateway evacuated the failed unit(s)
#   .recovered        every flow was answered again before the end
#   .undisturbed      no flow of a healthy unit changed unit, lost a packet
#                     or had its connection reset
#   .quiet_after_publish  no packet steered to an evacuated unit (gateway
#                     counters) and no answer from it (clients) after the
#                     publish
# plus: flapping is evacuated once (.damped); after the controller is
# killed mid-evacuation its successor finishes (.evacuated); a lost gateway
# changes no flow's unit (.undisturbed); every drill leaves a report and a
# picture (.report). One PASS/FAIL line per check; SKIP when not root.
# cg-test-timeout: 900
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${CG_BUILD_DIR:-$root/build}}
T=e2e_chaos
failed=0

pass() { echo "PASS: $T.$1"; }
fail() {
	echo "FAIL: $T.$1: $2"
	failed=1
}
skip() { echo "SKIP: $T${1:+.$1}: $2"; }

if [[ $(id -u) -ne 0 ]]; then
	skip "" "needs root (network namespaces, BPF)"
	exit 0
fi
if [[ ! -x $build/cellgate ]]; then
	skip "" "$build/cellgate is not built"
	exit 0
fi
for t in cg-echo cg-flows cg-chaos-detect; do
	if [[ ! -x $build/tools/$t ]]; then
		echo "FAIL: $T: $build/tools/$t is not built (make all builds it)"
		exit 1
	fi
done
for c in jq nsenter ip nft ethtool; do
	command -v "$c" >/dev/null || { skip "" "$c is not installed (scripts/install-deps.sh)"; exit 0; }
done

# a small test bed and short drills; no thresholds but "no healthy flow disturbed"
export CT_CLIENTS=1 CT_GATEWAYS=2 CT_BACKENDS=2
export CD_UDP4=60 CD_UDP6=30 CD_TCP4=16 CD_TCP6=8
export CD_PRE_MS=500 CD_POST_MS=800 CD_HOLD_MS=500
export CD_MAX_RTO_MS='' CD_MAX_TCP_RTO_MS='' CD_MAX_DETECT_MS='' CD_MAX_LOST_FLOWS=''
export CD_MAX_DISTURBED=0 CD_QUIET=1

# shellcheck source-path=SCRIPTDIR/.. source=scripts/chaos/topo.sh
. "$root/scripts/chaos/topo.sh"
# shellcheck source-path=SCRIPTDIR/.. source=scripts/chaos/faults.sh
. "$root/scripts/chaos/faults.sh"
# shellcheck source-path=SCRIPTDIR/.. source=scripts/chaos/drill.sh
. "$root/scripts/chaos/drill.sh"

ct_init "$build" cgk || exit 1
CD_OUT=$CT_TMP/reports
cd_defaults
if ! ct_setup >"$CT_TMP/setup.log" 2>&1 || ! ct_load_gateways >>"$CT_TMP/setup.log" 2>&1; then
	fail setup "building the chaos test bed failed: $(tail -5 "$CT_TMP/setup.log" | tr '\n' ' ' | cut -c1-400)"
	exit 1
fi
pass setup
if ! cd_start_detectors 2>"$CT_TMP/controller.err"; then
	fail controller "$(cd_detector_kind) did not start: $(head -c 400 "$CT_TMP/controller.err")"
	exit 1
fi
pass "controller.$(cd_detector_kind)"

# jt REPORT FILTER: true if FILTER holds for the report
jt() { jq -e "$2" "$1" >/dev/null 2>&1; }
# check NAME DETAIL REPORT FILTER
check() {
	if jt "$3" "$4"; then pass "$1"; else fail "$1" "$2"; fi
}

# drill NAME KIND TARGETS [ARG]: run it, then the behaviour checks
drill() {
	local name=$1 kind=$2 r=$CD_OUT/$1.json

	# not in a subshell: the drill starts processes the teardown must know
	cd_drill "$@" >"$CT_TMP/$name.line" 2>"$CT_TMP/$name.err"
	if [[ ! -s $r ]]; then
		fail "$name.report" "the drill did not run: $(head -c 400 "$CT_TMP/$name.err")"
		return
	fi
	echo "# $(head -1 "$CT_TMP/$name.line")"
	if [[ $(head -c 4 "$CD_OUT/$name.svg" 2>/dev/null) == "<svg" &&
		$(tail -c 7 "$CD_OUT/$name.svg") == *"</svg>"* ]] && jt "$r" '.series.answered | length > 0'; then
		pass "$name.report"
	else
		fail "$name.report" "no report or picture: $(head -c 300 "$CT_TMP/$name.err")"
	fi
	if [[ $kind != gateway ]]; then
		check "$name.evacuated" "$(jq -c '{reasons, controller}' "$r")" "$r" \
			'.timeline_ms.seen_evacuated != null and .flows.affected > 0'
		check "$name.quiet_after_publish" "$(jq -c '.evacuated_unit_after_publish' "$r")" "$r" \
			'.evacuated_unit_after_publish | .gateway_packets == 0 and .client_answers == 0'
	fi
	check "$name.recovered" "$(jq -c '{unrecovered: .flows.unrecovered, examples: .unrecovered_examples[0:3]}' "$r")" "$r" \
		'.flows.unrecovered == 0'
	check "$name.undisturbed" "$(jq -c '{disturbed: .flows.healthy_disturbed, examples: .disturbed_examples[0:3]}' "$r")" "$r" \
		'.flows.healthy_disturbed == 0 and .flows.healthy > 0'
}

drill link-down link dc-b
drill blackhole blackhole dc-b
drill netns-delete netns dc-b
drill partial-loss loss dc-b 60
drill flapping flap dc-b 100:100:5
check flapping.damped "$(jq -c '.controller' "$CD_OUT/flapping.json" 2>/dev/null)" "$CD_OUT/flapping.json" \
	'[.controller[] | .evacuations] | all(. <= 1)'
drill two-units blackhole dc-b,dc-c
drill controller-kill controller-kill dc-b
check controller-kill.restarted "$(jq -c '.controller' "$CD_OUT/controller-kill.json" 2>/dev/null)" \
	"$CD_OUT/controller-kill.json" '[.controller[] | .restarts] | all(. >= 1)'
drill gateway-loss gateway gw1

[[ $failed -eq 0 ]]
