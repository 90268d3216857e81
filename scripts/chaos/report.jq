# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The report of one chaos drill (drill.sh, _cd_report): every cg-flows
# result ($flows, per flow; $series, per time slice), the gateways' counters
# ($stats), the controller's events ($events: cg-chaos-detect's or the
# agent's lines) and audit logs ($audit), and the drill's own timestamps.
# Times in the report are ms from the injection of the fault ("t" fields)
# unless named *_ns (CLOCK_REALTIME). docs/chaos.md describes every field.

def num($s): if $s == "" then null else ($s | tonumber) end;
def rel($t): if $t == null or $t == 0 then null else (($t - $t_inject) / 1e4 | round) / 100 end;
def r2: if . == null then null else (. * 100 | round) / 100 end;
def pct($p): sort | if length == 0 then null
	else .[(((length * $p / 100) | ceil) - 1) | if . < 0 then 0 else . end] end;
def dist: {n: length, p50: (pct(50) | r2), p99: (pct(99) | r2), max: (max | r2)};
def minnz: map(select(. != null and . > 0)) | min;
def maxnz: map(select(. != null and . > 0)) | max;

($targets | split(",")) as $tg
| (if $kind == "gateway" then [] else $tg end) as $fault_units
| ($slice_ms * 1e6) as $sln

# ---- per flow ----
| [ $flows[] as $f | $f.flows[] | . + {proto: $f.proto, label: $f.label} ] as $all
| [ $all[]
    | (((.changes | map(select(.[0] < $t_inject)) | last) // .changes[0]) // [0, null]) as $pre
    | (.outages | map(select(.[1] == 0 or .[1] >= $t_inject))) as $outs
    | {
        label: .label, proto, flow, sport, unit,
        pre: $pre[1],
        lost_packets, reconnects,
        first_lost: .first_lost_ns, last_lost: .last_lost_ns,
        moved_at: (.changes | map(select(.[0] >= $t_inject)) | .[0][0]),
        moves: (.changes | map(select(.[0] >= $t_inject)) | length),
        open: ($outs | any(.[1] == 0)),
        outages: $outs
      }
    | .faulty = (.pre as $u | $fault_units | index($u) != null)
  ] as $fs
| (if $kind == "gateway"
   then [$fs[] | select((.outages | length > 0) or .lost_packets > 0)]
   else [$fs[] | select(.faulty)] end) as $aff
| [$fs[] | select(.faulty | not)] as $healthy
# a healthy flow is disturbed when it changed unit, lost a packet or had its
# connection reset; behind a lost gateway its packets may be lost while the
# edge reroutes, but it must keep its unit and its connection
| [ $healthy[]
    | . as $h
    | ([ (if .moves > 0 then "moved to another unit" else empty end),
         (if .reconnects > 0 then "connection reset" else empty end),
         (if $kind != "gateway" and .lost_packets > 0 then "lost packets" else empty end) ]) as $why
    | select($why | length > 0)
    | {label: .label, flow, sport, pre, unit, lost_packets, reconnects, why: $why} ] as $disturbed

# ---- recovery ----
| [ $aff[] | .outages[] | select(.[1] != 0) ] as $closed
| [ $aff[] | select(.open) ] as $unrecovered
# an affected flow's first outage is the fault's; a later one (a stall of the
# machine, a flap) is counted apart and does not move the recovery
| def rto($p): [ $aff[] | select(.proto == $p) | .outages[0] | select(. != null and .[1] != 0)
                | .[1] ] | max;
  def outs($p): [ $aff[] | select(.proto == $p) | .outages[0] | select(. != null and .[1] != 0)
                | (.[1] - .[0]) / 1e6 ] | dist;
  ([ $fs[] | .first_lost | select(. != null and . >= $t_inject - 100e6) ] | min) as $first_lost
| ([ $fs[] | select(.last_lost != null and .last_lost >= $t_inject - 100e6) | .last_lost ] | max) as $last_lost

# ---- time series: every process's slices added up ----
| ($series | map(.t0_ns) | min) as $t0
| ([ $series[] | ((.t0_ns - $t0) / $sln | round) + .slices ] | max) as $n
| ([ $series[] | .by_unit | keys[] ] | unique) as $sunits
| def zeros: [range(0; $n) | 0];
  def merged(get):
    reduce $series[] as $s (zeros;
      (($s.t0_ns - $t0) / $sln | round) as $off
      | ($s | get) as $col
      | reduce range(0; $s.slices) as $i (.; .[$i + $off] += ($col[$i] // 0)));
  ((($t_start - $t0) / $sln) | floor | if . < 0 then 0 else . end) as $from
| ((($t_end - $t0) / $sln) | ceil) as $to
| {
    t0_ns: ($t0 + $from * $sln), slice_ms: $slice_ms,
    sent: (merged(.sent) | .[$from:$to]),
    answered: (merged(.answered) | .[$from:$to]),
    lost: (merged(.lost) | .[$from:$to]),
    moved: (merged(.moved) | .[$from:$to]),
    reconnects: (merged(.reconnects) | .[$from:$to]),
    by_unit: (reduce $sunits[] as $u ({}; .[$u] = (merged(.by_unit[$u] // []) | .[$from:$to])))
  } as $ser
| ((($t_inject - $ser.t0_ns) / $sln) | floor) as $inj_slice

# ---- the controller: its events, or the agent's audit log ----
| [ $events[] | .gateway as $g | .events[] | . + {gateway: $g} ] as $ev
| [ $audit[] | .gateway as $g | .audit[] | . + {gateway: $g} ] as $au
| def for_fault: select(.unit as $u | $fault_units | index($u) != null);
  def in_drill: select(((.published_ns // .decision_ns // .detected_ns // 0)) >= $t_inject - 1e6);
  [ $gateways[] as $g
    | [ $ev[] | select(.gateway == $g and .t_ns >= $t_inject - 1e6) ] as $e
    # every evacuation is in the audit log, whoever made it: the agent's
    # records carry its first failure, detection and decision times too
    | [ $au[] | select(.gateway == $g and .action == "evacuate" and .result == "ok") | for_fault
        | in_drill ] as $a
    | [ $au[] | select(.gateway == $g and .action == "restore" and .result == "ok") | for_fault
        | in_drill ] as $rs
    | def first_of(f): [ $e[] | select(.event == f) | for_fault ] | first;
      {
        gateway: $g,
        first_fail_ns: ((first_of("unit_down") | .first_fail_ns) // ([ $a[] | .first_failure_ns ] | minnz)),
        detected_ns: ((first_of("unit_down") | .t_ns) // ([ $a[] | .detected_ns ] | minnz)),
        decided_ns: ((first_of("evacuate_start") | .t_ns) // ([ $a[] | .decision_ns ] | minnz)),
        # every failed unit published: the last unit's first publish (the swap)
        published_ns: (if ($fault_units | length) == 0 then null else
          [ $fault_units[] as $u
            | ([ $a[] | select(.unit == $u) | .published_ns ] | minnz)
              // ([ $e[] | select(.event == "evacuate_done" and .unit == $u and .rc == 0)
                   | .publish_ns ] | min) ]
          | if any(. == null) then null else max end end),
        evacuations: ($a | length),
        restores: ($rs | length),
        crashes: ([ $e[] | select(.event == "crash") ] | length),
        restarts: ([ $e[] | select(.event == "restart") ] | length)
      }
  ] as $ctl
| [ $ctl[] | select(.gateway as $g | ($gone | split(" ")) | index($g) | not) ] as $ctl_live
| ([ $ctl_live[] | .detected_ns ] | minnz) as $detected
| ([ $ctl_live[] | .first_fail_ns ] | minnz) as $first_fail
| ([ $ctl_live[] | .decided_ns ] | minnz) as $decided
| (if ($ctl_live | length) > 0 and ($ctl_live | all(.published_ns != null))
   then [ $ctl_live[] | .published_ns ] | max else null end) as $published
| (if $published then $published elif $t_seen > 0 then $t_seen else null end) as $pub_any

# ---- the gateways' counters: nothing for an evacuated unit after publish ----
| [ $stats[] | select($t_seen > 0 and .published != null and .after != null) | . as $s
    | $fault_units[] as $u
    | {gateway: $s.gateway, unit: $u,
       packets: ((([$s.after.units[] | select(.name == $u) | .packets] | first) // 0)
                - (([$s.published.units[] | select(.name == $u) | .packets] | first) // 0))} ]
  as $after_pub
| ([ $after_pub[] | .packets ] | add // 0) as $pkts_after_pub
# the clients' view: answers from a failed unit to requests sent a slice
# after the publish
| (if $pub_any == null or $expect == 0 or $t_seen == 0 then 0 else
    ((($pub_any - $ser.t0_ns) / $sln) | floor + 1) as $ps
    | [ $fault_units[] as $u | ($ser.by_unit[$u] // []) | .[$ps:][] ] | add // 0 end) as $answers_after_pub

# ---- totals ----
| def after_inj(col): [ col | .[$inj_slice:][] ] | add // 0;
  {
    sent: after_inj($ser.sent), answered: after_inj($ser.answered), lost: after_inj($ser.lost),
    lost_before_fault: ([ $ser.lost | .[:$inj_slice][] ] | add // 0)
  } as $pk
| {
    udp: (rto("udp") | if . then rel(.) else null end),
    tcp: (rto("tcp") | if . then rel(.) else null end)
  } as $rto
| ([ $rto.udp, $rto.tcp ] | map(select(. != null)) | max) as $rto_all
| (num($max_rto)) as $th_rto | (num($max_tcp_rto)) as $th_tcp | (num($max_detect)) as $th_det
| (num($max_lost_flows)) as $th_lf | (num($max_disturbed)) as $th_dist
| (rel($detected)) as $det_ms
| ([ $aff[] | select(.lost_packets > 0) ] | length) as $lost_flows
| ($kind == "flap" and ([ $ctl_live[] | .evacuations ] | max // 0) > 1) as $undamped
| [
    (if $expect == 1 and $t_seen == 0 then
       "not evacuated: \($fault_units | join(", ")) still not evacuated on every gateway \($wait_ms) ms after the fault"
     else empty end),
    (if ($unrecovered | length) > 0 then
       "not recovered: \($unrecovered | length) flows were not answered again before the end"
     else empty end),
    (if $th_rto != null and $rto.udp != null and $rto.udp > $th_rto then
       "RTO \($rto.udp) ms (UDP) exceeds the threshold of \($th_rto) ms" else empty end),
    (if $th_tcp != null and $rto.tcp != null and $rto.tcp > $th_tcp then
       "TCP RTO \($rto.tcp) ms exceeds the threshold of \($th_tcp) ms" else empty end),
    (if $th_det != null and $expect == 1 and ($det_ms == null or $det_ms > $th_det) then
       "detection \($det_ms // "never") ms exceeds the threshold of \($th_det) ms" else empty end),
    (if $th_dist != null and ($disturbed | length) > $th_dist then
       "\($disturbed | length) flows of healthy units were disturbed (at most \($th_dist) allowed)"
     else empty end),
    (if $th_lf != null and $lost_flows > $th_lf then
       "\($lost_flows) flows lost packets (at most \($th_lf) allowed)" else empty end),
    (if $pkts_after_pub > 0 then
       "the gateways still steered \($pkts_after_pub) packets to an evacuated unit after the publish"
     else empty end),
    (if $answers_after_pub > 0 then
       "an evacuated unit still answered \($answers_after_pub) requests sent after the publish"
     else empty end),
    (if $undamped then "flapping not damped: a gateway evacuated the unit more than once" else empty end)
  ] as $reasons
| {
    drill: $name, kind: $kind, targets: $tg, arg: (if $arg == "" then null else $arg end),
    run: $id, detector: $detector,
    outcome: (if ($reasons | length) == 0 then "SUCCEEDED" else "FAILED" end),
    reasons: $reasons,
    thresholds: {max_rto_ms: $th_rto, max_tcp_rto_ms: $th_tcp, max_detect_ms: $th_det,
                 max_lost_flows: $th_lf, max_disturbed: $th_dist},
    injected_ns: $t_inject,
    timeline_ms: {
      start: rel($t_start), injected: 0, injection_done: rel($t_inject_end),
      first_failed_probe: rel($first_fail), detected: $det_ms, decided: rel($decided),
      published: rel($published), seen_evacuated: (if $t_seen > 0 then rel($t_seen) else null end),
      first_lost: rel($first_lost), last_lost: rel($last_lost),
      recovered: $rto_all, end: rel($t_end)
    },
    rto_ms: $rto,
    outage_ms: {udp: outs("udp"), tcp: outs("tcp")},
    packets: $pk,
    flows: {
      total: ($fs | length), of_failed_units: ([ $fs[] | select(.faulty) ] | length),
      affected: ($aff | length), lost_packets: $lost_flows,
      moved: ([ $aff[] | select(.moves > 0) ] | length),
      reconnected: ([ $aff[] | select(.reconnects > 0) ] | length),
      unrecovered: ($unrecovered | length),
      outages_after_recovery: ([ $aff[] | select((.outages | length) > 1) ] | length),
      healthy: ($healthy | length), healthy_disturbed: ($disturbed | length),
      by_unit_before: ([ $fs[] | .pre ] | group_by(.) | map({key: (.[0] // "none"), value: length}) | from_entries),
      by_unit_after: ([ $fs[] | .unit ] | group_by(.) | map({key: (.[0] // "none"), value: length}) | from_entries)
    },
    disturbed_examples: ($disturbed | .[:10]),
    unrecovered_examples: ($unrecovered | .[:10] | map(del(.outages))),
    # drops of the drill's traffic by reason, on every gateway: the
    # dataplane's counters, and the test bed's veths that could not take a frame
    gateway_drops: [ $stats[] | select(.before != null and .after != null) | . as $s
      | {gateway: .gateway, veth_drops: .veth_drops,
         reasons: ([ $s.after.reasons | to_entries[]
                     | select(.key != "forwarded")
                     | {key, value: (.value.packets - ($s.before.reasons[.key].packets // 0))}
                     | select(.value != 0) ] | from_entries)} ],
    evacuated_unit_after_publish: {gateway_packets: $pkts_after_pub, by_gateway: $after_pub,
                                   client_answers: $answers_after_pub},
    controller: [ $ctl[] | with_entries(if (.key | endswith("_ns")) then
                    {key: (.key | sub("_ns$"; "_ms")), value: rel(.value)} else . end) ],
    events: [ $ev[] | select(.t_ns >= $t_start) | {t: rel(.t_ns), gateway, event, unit, cause, rc}
              | with_entries(select(.value != null)) ],
    series: $ser
  }
