# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# One line about a drill report (report.jq), for the terminal.
def f: if . == null then "-" else tostring end;
"\(.drill): \(.outcome)  detect \(.timeline_ms.detected | f) ms, publish \(.timeline_ms.published // .timeline_ms.seen_evacuated | f) ms, RTO udp \(.rto_ms.udp | f) ms tcp \(.rto_ms.tcp | f) ms; lost \(.packets.lost) packets in \(.flows.lost_packets) flows, healthy flows disturbed \(.flows.healthy_disturbed) [\(.detector)]"
+ (if (.reasons | length) > 0 then "\n    " + (.reasons | join("\n    ")) else "" end)
