# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# The summary of a repeated drill: jq -s -f repeat.jq RUN.json... (reports
# of report.jq). Percentiles are nearest-rank over the runs that have the value.
def pct($p): sort | if length == 0 then null
	else .[(((length * $p / 100) | ceil) - 1) | if . < 0 then 0 else . end] end;
def dist: map(select(. != null)) | {n: length, p50: pct(50), p90: pct(90), p99: pct(99), max: max};
{
	drill: (.[0].drill | sub("-repeat/[0-9]+$"; "")),
	kind: .[0].kind, targets: .[0].targets, detector: .[0].detector,
	thresholds: .[0].thresholds,
	runs: length,
	succeeded: (map(select(.outcome == "SUCCEEDED")) | length),
	success_rate_pct: ((map(select(.outcome == "SUCCEEDED")) | length) * 10000 / length | round / 100),
	rto_udp_ms: (map(.rto_ms.udp) | dist),
	rto_tcp_ms: (map(.rto_ms.tcp) | dist),
	detected_ms: (map(.timeline_ms.detected) | dist),
	published_ms: (map(.timeline_ms.published // .timeline_ms.seen_evacuated) | dist),
	last_lost_ms: (map(.timeline_ms.last_lost) | dist),
	packets_lost: (map(.packets.lost) | dist),
	healthy_disturbed: (map(.flows.healthy_disturbed) | add),
	failures: [.[] | select(.outcome != "SUCCEEDED") | {run: .drill, reasons}]
}
