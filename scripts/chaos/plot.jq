# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# The timeline picture of a drill report (report.jq) as SVG: answered
# requests per second by unit over time, lost packets below, the fault,
# detection, publish and recovery marked. jq -r -f plot.jq REPORT > FILE.svg

def xml: tostring | gsub("&"; "&amp;") | gsub("<"; "&lt;") | gsub(">"; "&gt;");
def fmt: if . == null then "-" else (. * 10 | round / 10 | tostring) end;
# a "nice" tick step for a range (1, 2 or 5 times a power of ten)
def nice_step($range; $ticks):
	($range / $ticks) as $raw
	| (if $raw <= 0 then 1 else pow(10; ($raw | log10 | floor)) end) as $p
	| ($raw / $p) as $m
	| (if $m < 1.5 then 1 elif $m < 3.5 then 2 elif $m < 7.5 then 5 else 10 end) * $p;
def what($k; $a): {
	link: "uplinks down", blackhole: "silent blackhole", netns: "namespaces deleted",
	loss: "\($a // "?") % packet loss", flap: "flapping uplinks (\($a // "?") ms:ms:times)",
	gateway: "gateway lost", "controller-kill": "controller killed mid-evacuation"
	}[$k] // $k;
def palette: ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf"];

. as $r
| $r.series as $s
| ($s.slice_ms) as $sl
| (($s.t0_ns - $r.injected_ns) / 1e6) as $t0ms
# the picture starts at most 600 ms before the fault (the traffic's ramp-up is
# of no interest) and ends with the traffic
| ([((-600 - $t0ms) / $sl | floor), 0] | max) as $skip
| ($t0ms + $skip * $sl) as $x0ms
# rates over a sliding window of 5 slices (50 ms by default): per-slice
# counts of a few hundred requests are too noisy to read
| def smooth($a): ($a | length) as $len
	| [range(0; $len) as $i | ([$i - 2, 0] | max) as $lo | ([$i + 3, $len] | min) as $hi
	   | ($a[$lo:$hi] | add) / ($hi - $lo)];
  def cut($a): $a | .[$skip:];
  ($s.by_unit | keys) as $units
| (reduce $units[] as $u ({}; .[$u] = (cut(smooth($s.by_unit[$u])) | map(. * 1000 / $sl)))) as $rate
| (cut($s.lost) | map(. * 1000 / $sl)) as $lost
| ($lost | length) as $n
| ([ $rate[][] ] + $lost | max // 1 | if . < 1 then 1 else . end) as $ymax0
| nice_step($ymax0; 5) as $ystep
| (($ymax0 / $ystep | ceil) * $ystep) as $ymax
| 980 as $W | 470 as $H
| 78 as $L | 170 as $R | 78 as $T | 58 as $B
| ($W - $L - $R) as $pw | ($H - $T - $B) as $ph
| $x0ms as $xmin | ($x0ms + $n * $sl) as $xmax
| def X($ms): $L + ($ms - $xmin) / ($xmax - $xmin) * $pw;
  def Y($v): $T + $ph - ($v / $ymax) * $ph;
  def pt($x; $y): "\($x * 10 | round / 10),\($y * 10 | round / 10)";
  # a step line over the slices: one point at each slice's start and end
  def steps($a): [range(0; $a | length) as $i
	| pt(X($xmin + $i * $sl); Y($a[$i])), pt(X($xmin + ($i + 1) * $sl); Y($a[$i]))] | join(" ");
  # a line through the middle of every slice
  def line($a): [range(0; $a | length) as $i | pt(X($xmin + ($i + 0.5) * $sl); Y($a[$i]))] | join(" ");
  def vline($ms; $color; $text; $row):
	if $ms == null or $ms < $xmin or $ms > $xmax then "" else
	"<line x1=\"\(X($ms))\" y1=\"\($T)\" x2=\"\(X($ms))\" y2=\"\($T + $ph)\" stroke=\"\($color)\" stroke-width=\"1.5\" stroke-dasharray=\"5,3\"/>" +
	"<text x=\"\(X($ms) + 3)\" y=\"\($T + 12 + $row * 13)\" font-size=\"11\" fill=\"\($color)\" stroke=\"white\" stroke-width=\"3\" paint-order=\"stroke\">\($text | xml) \($ms | fmt) ms</text>"
	end;
  ($r.timeline_ms) as $tl
| (if $r.outcome == "SUCCEEDED" then "#1a7f37" else "#c62828" end) as $oc
| nice_step($xmax - $xmin; 10) as $xstep
| [
    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\($W)\" height=\"\($H)\" viewBox=\"0 0 \($W) \($H)\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">",
    "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>",
    # title: the drill and its outcome
    "<text x=\"\($L)\" y=\"24\" font-size=\"17\" font-weight=\"bold\">Chaos drill \($r.drill | xml): \(what($r.kind; $r.arg) | xml), \($r.targets | join(" + ") | xml)</text>",
    "<text x=\"\($W - $R + 150)\" y=\"24\" font-size=\"17\" font-weight=\"bold\" text-anchor=\"end\" fill=\"\($oc)\">\($r.outcome)</text>",
    "<text x=\"\($L)\" y=\"44\" font-size=\"12\" fill=\"#444\">RTO \($r.rto_ms.udp | fmt) ms (UDP), \($r.rto_ms.tcp | fmt) ms (TCP) · \(if $r.kind == "gateway" then "no evacuation: the edge routes around the gateway" else "detected \($tl.detected | fmt) ms · published \(($tl.published // $tl.seen_evacuated) | fmt) ms" end) · \($r.packets.lost) packets lost in \($r.flows.lost_packets) of \($r.flows.total) flows · healthy flows disturbed: \($r.flows.healthy_disturbed)</text>",
    "<text x=\"\($L)\" y=\"60\" font-size=\"11\" fill=\"#666\">controller: \(if $r.detector == "agent" then "cellgate agent" else "the drill's own detector (cg-chaos-detect)" end) · \(if ($r.reasons | length) > 0 then "failed: " + ($r.reasons[0] | .[:110] | xml) + (if ($r.reasons | length) > 1 then " (+\(($r.reasons | length) - 1) more)" else "" end) else "every threshold met" end)</text>",
    # the outage: first lost packet to the last flow answered again
    (if $tl.first_lost != null and $tl.recovered != null then
      ([$tl.first_lost, $xmin] | max) as $a | ([$tl.recovered, $xmax] | min) as $b
      | "<rect x=\"\(X($a))\" y=\"\($T)\" width=\"\([X($b) - X($a), 1] | max)\" height=\"\($ph)\" fill=\"#d62728\" fill-opacity=\"0.08\"/>"
     else "" end),
    # grid and axes
    ([range(0; $ymax + $ystep / 2; $ystep) as $v
      | "<line x1=\"\($L)\" y1=\"\(Y($v))\" x2=\"\($L + $pw)\" y2=\"\(Y($v))\" stroke=\"#e5e5e5\"/>" +
        "<text x=\"\($L - 6)\" y=\"\(Y($v) + 4)\" font-size=\"11\" text-anchor=\"end\">\($v | round)</text>"] | join("")),
    ([range((($xmin / $xstep) | ceil) * $xstep; $xmax; $xstep) as $t
      | "<line x1=\"\(X($t))\" y1=\"\($T + $ph)\" x2=\"\(X($t))\" y2=\"\($T + $ph + 5)\" stroke=\"#333\"/>" +
        "<text x=\"\(X($t))\" y=\"\($T + $ph + 18)\" font-size=\"11\" text-anchor=\"middle\">\($t | round)</text>"] | join("")),
    "<rect x=\"\($L)\" y=\"\($T)\" width=\"\($pw)\" height=\"\($ph)\" fill=\"none\" stroke=\"#333\"/>",
    "<text x=\"\($L + $pw / 2)\" y=\"\($H - 14)\" font-size=\"12\" text-anchor=\"middle\">time from the fault injection (ms); rates over 5 slices of \($sl | fmt) ms, losses per slice</text>",
    "<text transform=\"translate(18,\($T + $ph / 2)) rotate(-90)\" font-size=\"12\" text-anchor=\"middle\">requests answered per second, by unit</text>",
    # lost packets (by send time), then one line per unit
    "<polyline points=\"\(pt(X($xmin); Y(0))) \(steps($lost)) \(pt(X($xmax); Y(0)))\" fill=\"#d62728\" fill-opacity=\"0.35\" stroke=\"#d62728\" stroke-width=\"1\"/>",
    ([$units | to_entries[] | .key as $i | .value as $u
      | "<polyline points=\"\(line($rate[$u]))\" fill=\"none\" stroke=\"\(palette[$i % 7])\" stroke-width=\"2\" stroke-linejoin=\"round\"/>"] | join("")),
    # events
    vline(0; "#c62828"; "fault"; 0),
    vline($tl.detected; "#ef6c00"; "detected"; 1),
    vline($tl.published // $tl.seen_evacuated; "#1565c0"; "published"; 2),
    (if $r.rto_ms.udp != null and $r.rto_ms.tcp != null then
       vline($r.rto_ms.udp; "#1a7f37"; "UDP recovered"; 3) + vline($r.rto_ms.tcp; "#2e7d32"; "TCP recovered"; 4)
     else vline($tl.recovered; "#1a7f37"; "recovered"; 3) end),
    # legend
    ([$units | to_entries[] | .key as $i | .value as $u
      | (($T + 10 + $i * 20)) as $y
      | "<line x1=\"\($W - $R + 14)\" y1=\"\($y)\" x2=\"\($W - $R + 38)\" y2=\"\($y)\" stroke=\"\(palette[$i % 7])\" stroke-width=\"2.5\"/>" +
        "<text x=\"\($W - $R + 44)\" y=\"\($y + 4)\" font-size=\"12\">\($u | xml)\(if ($r.targets | index($u)) then " (failed)" else "" end)</text>"] | join("")),
    ((($T + 10 + ($units | length) * 20)) as $y
      | "<line x1=\"\($W - $R + 14)\" y1=\"\($y)\" x2=\"\($W - $R + 38)\" y2=\"\($y)\" stroke=\"#d62728\" stroke-width=\"1.5\"/>" +
        "<text x=\"\($W - $R + 44)\" y=\"\($y + 4)\" font-size=\"12\">packets lost</text>" +
        "<rect x=\"\($W - $R + 14)\" y=\"\($y + 14)\" width=\"24\" height=\"10\" fill=\"#d62728\" fill-opacity=\"0.15\"/>" +
        "<text x=\"\($W - $R + 44)\" y=\"\($y + 23)\" font-size=\"12\">outage</text>" +
        "<text x=\"\($W - $R + 14)\" y=\"\($y + 48)\" font-size=\"10\" fill=\"#666\">\($r.flows.total) flows, \($r.packets.sent) packets</text>" +
        "<text x=\"\($W - $R + 14)\" y=\"\($y + 61)\" font-size=\"10\" fill=\"#666\">sent after the fault</text>"),
    "</svg>"
  ]
| join("\n")
