#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# scripts/chaos/run.sh [BUILD_DIR] [OPTIONS]: the chaos drills (`make chaos`).
#
# Builds the chaos test bed (topo.sh: clients, an edge router, one or two
# gateways, units dc-a/dc-b/dc-c with several backends each, all in network
# namespaces of this run), runs the drills one after the other on it with
# live traffic (drill.sh) and writes a report (JSON) and a timeline picture
# (SVG) per drill into the output directory, plus summary.json. Each drill
# ends SUCCEEDED or FAILED against the thresholds below, in the manner of a
# zonal-shift practice run. Exit status 0 when every drill SUCCEEDED.
#
#   --drill NAME       run this drill (repeatable; default: all). NAME is one
#                      of --list, or KIND:TARGETS[:ARG] (faults.sh)
#   --repeat N         run the drill N times (one --drill); prints the success
#                      rate and the percentiles of RTO, detection and publish
#   --out DIR          reports here (default BUILD_DIR/chaos)
#   --max-rto-ms MS    UDP clients' RTO (default 300; "" to not judge)
#   --max-tcp-rto-ms MS   TCP clients' RTO (default: not judged)
#   --max-detect-ms MS    fault to detection (default: not judged)
#   --max-lost-flows N    flows that lost a packet (default: not judged)
#   --max-disturbed N     flows of healthy units disturbed (default 0)
#   --detector auto|agent|drill   who evacuates (default auto: the agent when
#                      `cellgate agent` exists, else the drill's own detector)
#   --gateways 1|2 --clients N --backends N   the topology (2, 2, 2)
#   --flows N          UDP IPv4 flows per client (others in proportion)
#   --pre-ms MS --post-ms MS   traffic before the fault / after the publish
#   --png              also a PNG of every picture (rsvg-convert)
#   --keep             keep the raw material of every drill (NAME.d/)
#   --list             print the drills and exit
#
# All traffic stays inside the namespaces (198.18.0.0/15, 2001:db8::/32);
# they, their links, nftables tables, processes and pins are removed at the
# end, also after a failure or an interrupt.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build
if [[ $# -gt 0 && $1 != -* ]]; then
	build=$1
	shift
fi

# name | kind | targets | arg | what it shows
DRILLS=(
	"link-down|link|dc-b||dc-b's uplinks lose their carrier: netlink sees it at once"
	"blackhole|blackhole|dc-b||every packet to and from dc-b dropped, links up: only probes tell"
	"netns-delete|netns|dc-b||dc-b's namespaces deleted: its processes, links and routes vanish"
	"partial-loss|loss|dc-b|50|half of the packets crossing dc-b's border dropped (a gray failure)"
	"flapping|flap|dc-b|150:150:8|dc-b's uplinks go down and up 8 times: one evacuation, no ping-pong"
	"two-units|blackhole|dc-b,dc-c||dc-b and dc-c lost together: dc-a takes everything"
	"controller-kill|controller-kill|dc-b||the controller is killed (SIGKILL) in the middle of evacuating a blackholed dc-b; its successor finishes"
	"gateway-loss|gateway|gw1||gw1 dies (links, then namespace): the edge routes everything through gw2, flows keep their unit"
)

usage() {
	sed -n '3,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' | sed '1{/^$/d}'
	exit "${1:-0}"
}

sel=() repeat=0 out='' png=0 keep=0
while [[ $# -gt 0 ]]; do
	case $1 in
	--drill) sel+=("$2"); shift ;;
	--repeat) repeat=$2; shift ;;
	--out) out=$2; shift ;;
	--max-rto-ms) export CD_MAX_RTO_MS=$2; shift ;;
	--max-tcp-rto-ms) export CD_MAX_TCP_RTO_MS=$2; shift ;;
	--max-detect-ms) export CD_MAX_DETECT_MS=$2; shift ;;
	--max-lost-flows) export CD_MAX_LOST_FLOWS=$2; shift ;;
	--max-disturbed) export CD_MAX_DISTURBED=$2; shift ;;
	--detector) export CD_DETECTOR=$2; shift ;;
	--gateways) export CT_GATEWAYS=$2; shift ;;
	--clients) export CT_CLIENTS=$2; shift ;;
	--backends) export CT_BACKENDS=$2; shift ;;
	--flows)
		export CD_UDP4=$2 CD_UDP6=$(($2 / 2)) CD_TCP4=$(($2 / 5)) CD_TCP6=$(($2 / 10))
		shift ;;
	--pre-ms) export CD_PRE_MS=$2; shift ;;
	--post-ms) export CD_POST_MS=$2; shift ;;
	--png) png=1 ;;
	--keep) keep=1 ;;
	--list)
		for d in "${DRILLS[@]}"; do
			IFS='|' read -r n k t a w <<<"$d"
			printf '%-16s %-16s %-10s %-12s %s\n' "$n" "$k" "$t" "${a:--}" "$w"
		done
		exit 0 ;;
	-h | --help) usage 0 ;;
	*) echo "run.sh: unknown option '$1' (--help)" >&2; exit 2 ;;
	esac
	[[ $# -gt 0 ]] && shift
done

die() { echo "run.sh: $*" >&2; exit 2; }
[[ $(id -u) -eq 0 ]] || die "must run as root (network namespaces and BPF); try: sudo make chaos"
for t in "$build/cellgate" "$build/tools/cg-echo" "$build/tools/cg-flows" "$build/tools/cg-chaos-detect"; do
	[[ -x $t ]] || die "$t is not built; run make"
done
for c in jq nsenter ip nft ethtool; do
	command -v "$c" >/dev/null || die "$c is missing; run scripts/install-deps.sh"
done
[[ $png == 0 ]] || command -v rsvg-convert >/dev/null || die "--png needs rsvg-convert (librsvg2-bin)"
[[ $repeat =~ ^[0-9]+$ ]] || die "--repeat: '$repeat' is not a number"
if [[ $repeat -gt 0 && ${#sel[@]} -ne 1 ]]; then
	die "--repeat runs one drill: give exactly one --drill"
fi

# resolve the selection into table rows
rows=()
if [[ ${#sel[@]} -eq 0 ]]; then
	rows=("${DRILLS[@]}")
else
	for s in "${sel[@]}"; do
		found=''
		for d in "${DRILLS[@]}"; do
			[[ ${d%%|*} == "$s" ]] && found=$d
		done
		if [[ -z $found && $s == *:* ]]; then
			IFS=: read -r k t a <<<"$s"
			found="$k-${t//,/+}|$k|$t|$a|a drill given on the command line"
		fi
		[[ -n $found ]] || die "unknown drill '$s' (--list)"
		rows+=("$found")
	done
fi

# shellcheck source-path=SCRIPTDIR source=topo.sh
. "$here/topo.sh"
# shellcheck source-path=SCRIPTDIR source=faults.sh
. "$here/faults.sh"
# shellcheck source-path=SCRIPTDIR source=drill.sh
. "$here/drill.sh"

ct_init "$build" cgc || exit 2
CD_OUT=${out:-$build/chaos}
mkdir -p "$CD_OUT" || exit 2
CD_OUT=$(cd "$CD_OUT" && pwd)
cd_defaults

echo "chaos test bed $CT_ID: $CT_CLIENTS clients, $CT_GATEWAYS gateway(s) ($CT_GW_MODE), 3 units x $CT_BACKENDS backends"
if ! ct_setup >"$CT_TMP/setup.log" 2>&1 || ! ct_load_gateways >>"$CT_TMP/setup.log" 2>&1; then
	echo "run.sh: building the test bed failed:" >&2
	tail -20 "$CT_TMP/setup.log" >&2
	exit 2
fi
echo "controller: $(cd_detector_kind) · reports in $CD_OUT"
cd_start_detectors || exit 2

# one drill (row) as NAME; prints its line, returns its status
run_row() {
	local row=$1 name=$2 k t a w

	IFS='|' read -r _ k t a w <<<"$row"
	if [[ $k == gateway && $CT_GATEWAYS -lt 2 ]]; then
		echo "$name: SKIPPED (needs --gateways 2)"
		return 3
	fi
	cd_drill "$name" "$k" "$t" "$a"
	local rc=$?
	[[ $png == 1 && -s $CD_OUT/$name.svg ]] && rsvg-convert -o "$CD_OUT/$name.png" "$CD_OUT/$name.svg"
	[[ $keep == 1 ]] || rm -rf "$CD_OUT/$name.d"
	return $rc
}

failed=0
if [[ $repeat -gt 0 ]]; then
	row=${rows[0]}
	base=${row%%|*}
	rdir=$base-repeat
	rm -rf "${CD_OUT:?}/$rdir"
	mkdir -p "$CD_OUT/$rdir"
	for ((i = 1; i <= repeat; i++)); do
		n=$(printf '%s/%04d' "$rdir" "$i")
		# a picture for the first run and for every failed one
		# shellcheck disable=SC2034 # read by cd_drill
		CD_PLOT=1
		# not in a pipe (a subshell): the drill starts processes the
		# teardown must know about
		CD_QUIET=1 run_row "$row" "$n" >"$CT_TMP/line"
		rc=$?
		sed "s|^$rdir/||" "$CT_TMP/line"
		if [[ $rc -eq 0 && $i -gt 1 ]]; then
			rm -f "$CD_OUT/$n.svg" "$CD_OUT/$n.png"
		fi
		[[ $rc -eq 2 ]] && echo "$n: could not run" >&2
	done
	jq -s -f "$here/repeat.jq" "$CD_OUT/$rdir"/[0-9]*.json >"$CD_OUT/$rdir.json"
	jq -r '"\n\(.drill): \(.succeeded)/\(.runs) SUCCEEDED (\(.success_rate_pct) %)",
		"  RTO udp ms      p50 \(.rto_udp_ms.p50)  p90 \(.rto_udp_ms.p90)  p99 \(.rto_udp_ms.p99)  max \(.rto_udp_ms.max)",
		"  RTO tcp ms      p50 \(.rto_tcp_ms.p50)  p90 \(.rto_tcp_ms.p90)  p99 \(.rto_tcp_ms.p99)  max \(.rto_tcp_ms.max)",
		"  detection ms    p50 \(.detected_ms.p50)  p90 \(.detected_ms.p90)  p99 \(.detected_ms.p99)  max \(.detected_ms.max)",
		"  published ms    p50 \(.published_ms.p50)  p90 \(.published_ms.p90)  p99 \(.published_ms.p99)  max \(.published_ms.max)",
		"  healthy flows disturbed: \(.healthy_disturbed) in all runs",
		(if (.failures | length) > 0 then "  failures:", (.failures[] | "    \(.run): \(.reasons | join("; "))") else empty end)' \
		"$CD_OUT/$rdir.json"
	echo "  report: $CD_OUT/$rdir.json"
	jq -e '.succeeded == .runs' "$CD_OUT/$rdir.json" >/dev/null || failed=1
else
	names=()
	for row in "${rows[@]}"; do
		name=${row%%|*}
		run_row "$row" "$name"
		rc=$?
		[[ $rc -eq 3 ]] && continue
		names+=("$name")
		[[ $rc -eq 0 ]] || failed=1
	done
	reports=()
	for n in "${names[@]}"; do
		[[ -s $CD_OUT/$n.json ]] && reports+=("$CD_OUT/$n.json")
	done
	if [[ ${#reports[@]} -gt 0 ]]; then
		jq -s '{run: (.[0].run), drills: map({drill, kind, targets, outcome, reasons, detector,
			rto_ms, timeline_ms, packets_lost: .packets.lost, flows_lost: .flows.lost_packets,
			healthy_disturbed: .flows.healthy_disturbed})}' \
			"${reports[@]}" >"$CD_OUT/summary.json" 2>/dev/null
		echo
		jq -r '.drills[] | [.drill, .outcome] | @tsv' "$CD_OUT/summary.json" |
			awk -F'\t' '{ n++; if ($2 == "SUCCEEDED") s++ } END { printf "%d of %d drills SUCCEEDED\n", s, n }'
		echo "reports: $CD_OUT/<drill>.json, pictures: $CD_OUT/<drill>.svg, summary: $CD_OUT/summary.json"
	fi
fi
exit $failed
