#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Next-hop MACs from the neighbour table: resolved at apply, refreshed by
# `cellgate monitor` when the kernel's entry changes, kept when it fails.
set -u
BUILD=${1:-build}
CG=$(realpath "$BUILD/cellgate")
NS=cgtn$$
INST=cgtn$$
fails=0

pass() { echo "PASS: $1"; }
fail() { echo "FAIL: $1: $2"; fails=$((fails + 1)); }
cleanup() {
	[ -d /sys/fs/bpf/cellgate/$INST ] && nsenter --net=/run/netns/$NS "$CG" -i $INST unload >/dev/null 2>&1
	ip netns del $NS 2>/dev/null
	rm -f /tmp/$INST.json
}
trap cleanup EXIT INT TERM

if [ "$(id -u)" != 0 ] || [ ! -x "$CG" ]; then
	echo "SKIP: test_neigh: needs root and $BUILD/cellgate"
	exit 0
fi
run() { nsenter --net=/run/netns/$NS "$CG" -i $INST "$@"; }
# last byte of the first IPv4 endpoint's dmac in the live bank (bpftool's BTF view)
live_dmac_last() {
	local bank
	bank=$(bpftool -j map dump pinned /sys/fs/bpf/cellgate/$INST/generation | jq '.[0].formatted.value.bank')
	bpftool -j map dump pinned /sys/fs/bpf/cellgate/$INST/cg_endpoints |
		jq -r --argjson b "$bank" '[.[].formatted | select(.key >= ($b * 4096) and .key < (($b + 1) * 4096) and .value.family == 4)][0].value.dmac[5]'
}

ip netns add $NS
ip -n $NS link add g0 type veth peer name c0
ip -n $NS link add g1 type veth peer name u1
for l in g0 c0 g1 u1; do ip -n $NS link set $l up; done
ip -n $NS addr add 198.18.1.1/24 dev g1
ip -n $NS neigh replace 198.18.1.2 lladdr 02:00:00:00:01:11 dev g1 nud reachable
cat > /tmp/$INST.json <<J
{"version":1,"encap":{"source4":"198.18.250.0/24"},
 "units":[{"name":"dc-a","endpoints":[{"address":"198.18.1.2","dev":"g1"}]}],
 "services":[{"name":"web","vip":"198.18.100.1","port":80,"proto":"tcp","ratios":{"dc-a":100}}]}
J
run load --dev g0 --mode generic >/dev/null || { fail load "cellgate load failed"; exit 1; }

if run apply -f /tmp/$INST.json >/dev/null; then pass "apply resolves the next hop"; else fail "apply resolves the next hop" "apply failed"; fi
# bpftool prints bytes in hex: 0x02,... compare on the last byte
got=$(live_dmac_last)
[ "$got" = "17" ] && pass "dmac from neighbour table" || fail "dmac from neighbour table" "got $got"

gen1=$(run -j status | jq .generation)
run monitor --once >/dev/null
gen2=$(run -j status | jq .generation)
[ "$gen1" = "$gen2" ] && pass "no change, no new generation" || fail "no change, no new generation" "$gen1 -> $gen2"

ip -n $NS neigh replace 198.18.1.2 lladdr 02:00:00:00:01:22 dev g1 nud reachable
out=$(run monitor --once)
got=$(live_dmac_last)
[ "$got" = "34" ] && pass "monitor picks up a changed MAC" || fail "monitor picks up a changed MAC" "got $got ($out)"

ip -n $NS neigh del 198.18.1.2 dev g1
run monitor --once >/dev/null
gen3=$(run -j status | jq .generation)
run monitor --once >/dev/null
gen4=$(run -j status | jq .generation)
[ "$gen3" = "$gen4" ] && pass "lost neighbour keeps the last MAC" || fail "lost neighbour keeps the last MAC" "$gen3 -> $gen4"

# without a neighbour entry and without "mac", apply is refused and names the field
ip -n $NS neigh flush dev g1
sed -i 's/198.18.1.2/198.18.1.3/' /tmp/$INST.json
err=$(run apply -f /tmp/$INST.json 2>&1)
if [ $? -ne 0 ] && echo "$err" | grep -q 'units\[0\].endpoints\[0\]: no neighbour entry'; then
	pass "unresolvable next hop refused"
else
	fail "unresolvable next hop refused" "$err"
fi
gen5=$(run -j status | jq .generation)
[ "$gen5" = "$gen4" ] && pass "refused apply changes nothing" || fail "refused apply changes nothing" "$gen4 -> $gen5"

[ -n "${DEBUG_KEEP:-}" ] && read -r
[ $fails -eq 0 ]
