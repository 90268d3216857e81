#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/bench.sh BUILD_DIR: the runner behind `make bench`.
#
# Runs every benchmark, prints one table per benchmark and a summary of the
# DESIGN §6 targets, and writes BUILD_DIR/bench/results.json: the machine
# (CPU model, nproc, kernel, clang, date) and every figure with min /
# median / max, its baseline and its ratio to that baseline. Machines here
# are shared and noisy, so every benchmark measures its baselines in the
# same rounds as its cases; compare ratios across runs, not nanoseconds.
#
#   dataplane   per-packet cost, BPF_PROG_TEST_RUN repeat=1 (bench_dataplane)
#   throughput  live-frames generator -> veth -> gateway XDP_TX -> sink, Mpps
#               against a MAC-swap program (bench_throughput, namespaces)
#   control     build / publish a generation in process (bench_control)
#   evacuate    the real CLI in a namespace, command to published (bench_control --cli)
#   memory      bytes_memlock of every map of a loaded instance (bpftool)
#   selftests/bench_*.sh  any other benchmark script, with BUILD_DIR
#
# Everything that sends packets runs in network namespaces created here
# (names unique to this run) with addresses from 198.18.0.0/15 only; the
# namespaces, their veths and the pin directories /sys/fs/bpf/cellgate/<ID>-*
# are removed on exit, pass or fail.
#
# Environment: CG_BENCH_CPU (CPU to pin to; default the last one),
# CG_BENCH_QUICK=1 (fewer rounds, for a smoke test), CG_BENCH_SCRIPT_TIMEOUT
# (seconds for each other bench_*.sh, default 300).
set -uo pipefail

usage() {
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
}

[[ $# -eq 1 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
[[ -d $1 ]] || { echo "$0: build directory '$1' does not exist (run make)" >&2; exit 2; }
build=$(cd "$1" && pwd)
cd "$root" || exit 2
[[ $(id -u) -eq 0 ]] || { echo "$0: needs root (BPF, network namespaces)" >&2; exit 2; }
for t in jq bpftool nsenter taskset ip; do
	command -v "$t" >/dev/null || { echo "$0: $t is not installed (make deps)" >&2; exit 2; }
done

cli=$build/cellgate
sel=$build/selftests
out=$build/bench
cpu=${CG_BENCH_CPU:-$(($(nproc) - 1))}
quick=${CG_BENCH_QUICK:-0}
qflag=()
[[ $quick == 1 ]] && qflag=(--quick)
mkdir -p "$out" || exit 2
rm -f "$out"/*.json

# ---- names of this run, and their removal ----

ID=cgb$$$(printf '%04x' $((RANDOM)))
NS_GEN=$ID-gen
NS_GW=$ID-gw
NS_CTL=$ID-ctl
PIN_ROOT=/sys/fs/bpf/cellgate
tmp=$(mktemp -d "${TMPDIR:-/tmp}/$ID.XXXXXX") || exit 2
created_ns=()
loaded=() # "NAMESPACE INSTANCE"

cleanup() {
	local item ns inst

	set +e
	for item in "${loaded[@]}"; do
		read -r ns inst <<<"$item"
		nsenter --net="/run/netns/$ns" -- "$cli" -i "$inst" unload >/dev/null 2>&1
	done
	for ns in "${created_ns[@]}"; do
		ip netns del "$ns" 2>/dev/null
	done
	for inst in "$PIN_ROOT/$ID"-*; do
		[[ -e $inst ]] && rm -rf -- "$inst"
	done
	rm -rf -- "$tmp"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

newns() {
	ip netns add "$1" || return 1
	created_ns+=("$1")
	ip -n "$1" link set lo up
}

# nsx NS CMD...: run CMD in a namespace with the bpffs pins visible
nsx() {
	local ns=$1

	shift
	nsenter --net="/run/netns/$ns" -- "$@"
}

# veth A (in NS_A) <-> B (in NS_B), both up; created inside the namespaces
veth() {
	ip -n "$1" link add "$2" type veth peer name "$4" netns "$3" || return 1
	ip -n "$1" link set "$2" up && ip -n "$3" link set "$4" up
}

section() { printf '\n==== %s ====\n' "$1"; }
note() { printf '  %s\n' "$*"; }

# ---- machine ----

machine_json() {
	local model clang

	model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	clang=$(clang --version 2>/dev/null | head -n1)
	jq -n --arg cpu "$model" --argjson nproc "$(nproc)" --arg kernel "$(uname -r)" \
		--arg clang "$clang" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
		--arg host "$(uname -n)" --argjson pinned "$cpu" \
		--arg load "$(cut -d' ' -f1-3 /proc/loadavg)" --argjson quick "$quick" \
		--arg commit "$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)" \
		--arg dirty "$(git -C "$root" status --porcelain -- bpf user headers 2>/dev/null | wc -l)" \
		'{cpu_model: $cpu, nproc: $nproc, kernel: $kernel, clang: $clang, date: $date,
		  host: $host, pinned_cpu: $pinned, loadavg_at_start: $load, quick: ($quick == 1),
		  git_commit: $commit, dataplane_files_changed: ($dirty | tonumber)}'
}

t_start=$(date +%s)
machine_json >"$out/machine.json"
jq -r '"machine: \(.cpu_model), \(.nproc) CPUs, kernel \(.kernel), \(.clang)\ndate: \(.date), pinned to CPU \(.pinned_cpu), load average \(.loadavg_at_start), commit \(.git_commit)"' "$out/machine.json"

# ---- 1. per-packet cost ----

section "dataplane: per-packet cost"
taskset -c "$cpu" "$sel/bench_dataplane" "${qflag[@]}" --json "$out/dataplane.json" ||
	note "bench_dataplane failed"

# ---- 2. throughput ----

section "throughput: veth, one CPU"

# config for the gateway under test: three units, one endpoint each and no
# "dev", so packets leave by XDP_TX through the veth they came in on
thr_config() {
	local mac=$1

	jq -n --arg mac "$mac" '{
		version: 1,
		encap: {source4: "198.18.250.0/24"},
		units: [range(1; 4) as $i | {name: "u\($i)",
			endpoints: [{address: "198.18.\($i).2", mac: $mac}]}],
		services: [{name: "web", vip: "198.18.100.1", port: 80, proto: "tcp",
			ratios: {u1: 34, u2: 33, u3: 33}}]
	}'
}

throughput() {
	local inst=$ID-thr mac link prog_id

	newns "$NS_GEN" && newns "$NS_GW" || return 1
	# one veth pair per gateway program: generator side tg-*, gateway side tw-*
	veth "$NS_GEN" tg-swap "$NS_GW" tw-swap &&
		veth "$NS_GEN" tg-parse "$NS_GW" tw-parse &&
		veth "$NS_GEN" tg-cg "$NS_GW" tw-cg || return 1
	mac=$(ip -n "$NS_GEN" -j link show dev tg-cg | jq -er '.[0].address') || return 1
	thr_config "$mac" >"$tmp/thr.json"
	loaded+=("$NS_GW $inst")
	nsx "$NS_GW" "$cli" -i "$inst" load --dev tw-cg --mode native >/dev/null &&
		nsx "$NS_GW" "$cli" -i "$inst" apply -f "$tmp/thr.json" >/dev/null || return 1

	taskset -c "$cpu" "$sel/bench_throughput" --gen-ns "$NS_GEN" --gw-ns "$NS_GW" \
		--pair "MAC swap:tg-swap:tw-swap:swap" \
		--pair "parse + MAC swap:tg-parse:tw-parse:parse_tx" \
		--pair "cellgate:tg-cg:tw-cg:loaded" \
		--flows 1,4096 --rounds "$([[ $quick == 1 ]] && echo 2 || echo 5)" \
		--seconds "$([[ $quick == 1 ]] && echo 0.5 || echo 1)" --json "$out/throughput.json"
	local rc=$?
	if [[ $rc == 77 ]]; then
		note "SKIP: bench_throughput was built without bpf/bench_traffic.bpf.c (add bench_traffic to BPF_PROGS)"
		return 0
	fi
	[[ $rc == 0 ]] || return 1

	# what cellgate's counters say, and the size of the program that ran
	nsx "$NS_GW" "$cli" -i "$inst" -j stats >"$tmp/thr-stats.json" 2>/dev/null
	link=$(bpftool -j link show pinned "$PIN_ROOT/$inst/steer_link" 2>/dev/null)
	prog_id=$(jq -r '.prog_id // empty' <<<"$link")
	if [[ -n $prog_id ]]; then
		bpftool -j prog show id "$prog_id" |
			jq '{name, bytes_xlated, insns_xlated: (.bytes_xlated / 8), bytes_jited}' \
				>"$out/throughput-prog.json"
		note "$(jq -r '"cellgate program that ran: \(.name), \(.insns_xlated) BPF instructions, \(.bytes_jited) bytes JITed"' "$out/throughput-prog.json")"
	fi
	note "$(jq -r '[.reasons // {} | to_entries[] | select(.value.packets? // .value | tostring | test("^[1-9]")) | "\(.key)=\(.value.packets? // .value)"] | "cellgate reasons: " + join(" ")' "$tmp/thr-stats.json" 2>/dev/null)"
}
throughput || note "throughput: setup or run failed"

# ---- 3. control plane ----

section "control: build and publish a generation"
taskset -c "$cpu" "$sel/bench_control" "${qflag[@]}" --json "$out/control.json" ||
	note "bench_control failed"

section "control: cellgate evacuate, the CLI in a namespace"

# memory of an instance: bytes_memlock of every pinned map (what the kernel
# charges; LPM tries report 0 until they hold entries), and max_entries x
# (key + value), per CPU for per-CPU maps, as the maps were declared
memory_json() {
	local inst=$1 label=$2 f

	for f in "$PIN_ROOT/$inst"/*; do
		bpftool -j map show pinned "$f" 2>/dev/null
	done | jq -s --arg lbl "$label" --argjson ncpu "$(nproc)" '
		map(select(.name != null)) |
		{"label": $lbl,
		 maps: [.[] | {name, type, max_entries, bytes_key, bytes_value, bytes_memlock}],
		 bytes_memlock: (map(.bytes_memlock) | add),
		 bytes_declared: (map(.max_entries * (.bytes_key + .bytes_value) *
			(if (.type | startswith("percpu")) then $ncpu else 1 end)) | add)}'
}

evacuate() {
	local small=$ID-evs big=$ID-evl times

	times=$([[ $quick == 1 ]] && echo 5 || echo 20)
	newns "$NS_CTL" || return 1
	veth "$NS_CTL" ev-s0 "$NS_CTL" ev-s1 && veth "$NS_CTL" ev-l0 "$NS_CTL" ev-l1 || return 1

	"$sel/bench_control" --write-config "$tmp/small.json" --units 3 --eps 2 --services 4 \
		--modulo 10000 &&
		"$sel/bench_control" --write-config "$tmp/big.json" --units 256 --eps 16 \
			--services 100 --modulo 65536 || return 1

	note "small config: 3 units x 2 endpoints, 4 services x 10000 buckets, default load"
	note "large config: 256 units x 16 endpoints, 100 services x 65536 buckets, --buckets 6553600"
	loaded+=("$NS_CTL $small")
	nsx "$NS_CTL" "$cli" -i "$small" load --dev ev-s0 --mode native >/dev/null &&
		nsx "$NS_CTL" "$cli" -i "$small" apply -f "$tmp/small.json" >/dev/null || return 1
	nsx "$NS_CTL" taskset -c "$cpu" "$sel/bench_control" --cli "$cli" --instance "$small" \
		--unit u1 --times "$times" --label "small config" \
		--json "$out/evacuate-small.json" || return 1
	memory_json "$small" "default load (--buckets 1048576 --flows 262144), small config" \
		>"$out/memory-default.json"

	loaded+=("$NS_CTL $big")
	nsx "$NS_CTL" "$cli" -i "$big" load --dev ev-l0 --mode native --buckets $((100 * 65536)) \
		>/dev/null &&
		nsx "$NS_CTL" "$cli" -i "$big" apply -f "$tmp/big.json" >/dev/null || return 1
	nsx "$NS_CTL" taskset -c "$cpu" "$sel/bench_control" --cli "$cli" --instance "$big" \
		--unit u1 --times "$times" --label "large config" \
		--json "$out/evacuate-large.json" || return 1
	memory_json "$big" "--buckets 6553600 --flows 262144, 256 units x 16 endpoints, 100 x 65536" \
		>"$out/memory-large.json"

	printf '\nmemory of the maps of a loaded instance (bpftool map show: bytes_memlock)\n'
	for f in "$out/memory-default.json" "$out/memory-large.json"; do
		jq -r '"  \(.label)\n    \(.bytes_memlock / 1048576 * 10 | round / 10) MiB memlock over \(.maps | length) maps (declared max_entries x (key + value): \(.bytes_declared / 1048576 * 10 | round / 10) MiB); largest: " +
			([.maps | sort_by(-.bytes_memlock)[:3][] | "\(.name) \(.bytes_memlock / 1048576 * 10 | round / 10)"] | join(", "))' "$f"
	done
}
evacuate || note "evacuate: setup or run failed"

# ---- 4. other benchmark scripts ----

# selftests/bench_*.sh other than this runner (e.g. bench_failover.sh) run
# with BUILD_DIR, each within CG_BENCH_SCRIPT_TIMEOUT seconds (default 300);
# one that writes $CG_BENCH_OUT/NAME.json has it merged into results.json.
export CG_BENCH_OUT=$out
others=()
for s in selftests/bench_*.sh; do
	[[ -f $s && $(basename "$s") != bench.sh ]] && others+=("$s")
done
for s in "${others[@]}"; do
	section "$(basename "$s" .sh)"
	timeout --signal=TERM "${CG_BENCH_SCRIPT_TIMEOUT:-300}" bash "$s" "$build" ||
		note "$(basename "$s") failed or timed out (exit $?)"
done

# ---- results.json and the summary ----

t_end=$(date +%s)
jq -n --slurpfile m "$out/machine.json" --argjson secs $((t_end - t_start)) '
	{machine: $m[0], wall_seconds: $secs, benchmarks: {}}' >"$tmp/results.json"
extra=()
for s in "${others[@]}"; do
	extra+=("$(basename "$s" .sh)")
done
for b in dataplane throughput throughput-prog control evacuate-small evacuate-large \
	memory-default memory-large "${extra[@]}"; do
	[[ -s $out/$b.json ]] || continue
	jq --arg k "$b" --slurpfile v "$out/$b.json" '.benchmarks[$k] = $v[0]' "$tmp/results.json" \
		>"$tmp/r.json" && mv "$tmp/r.json" "$tmp/results.json"
done
mv "$tmp/results.json" "$out/results.json"

section "summary: DESIGN §6 targets (median of the rounds; see each table for min/max)"
jq -r '
	def fmt(x): if x == null then "-" elif (x | type) == "number" then (x * 100 | round / 100 | tostring) else x end;
	[.benchmarks.dataplane.figures[]?, .benchmarks.throughput.figures[]?,
	 (.benchmarks.control.publish[]? | .figures[]), .benchmarks["evacuate-small"].figures[]?,
	 .benchmarks["evacuate-large"].figures[]?]
	| map(select(.target != null))
	| (["figure", "median", "unit", "target", "met", "ratio"] | @tsv),
	  (.[] | [.name, fmt(if .unit == "Mpps" then .ratio * 100 else .median end),
		  (if .unit == "Mpps" then "% of base" else .unit end), .target,
		  (if .met then "yes" else "NO" end),
		  (if .ratio != null and .unit != "Mpps" then "x\(fmt(.ratio)) \(.baseline)" else "" end)] | @tsv)
' "$out/results.json" | column -t -s $'\t' | sed 's/^/  /'
jq -r '[.benchmarks.dataplane.figures[]?, .benchmarks.throughput.figures[]?,
	(.benchmarks.control.publish[]? | .figures[]), .benchmarks["evacuate-small"].figures[]?,
	.benchmarks["evacuate-large"].figures[]?] | map(select(.target != null))
	| "\n  \(map(select(.met)) | length) of \(length) targets met"' "$out/results.json"
printf '  results: %s (%d s)\n' "$out/results.json" $((t_end - t_start))
