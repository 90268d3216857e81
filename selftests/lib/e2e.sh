# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# Shared by the selftests/e2e_*.sh scripts: PASS/FAIL lines in the format
# selftests/run.sh counts, and checks over cg-flows summaries. Set T (the
# test name) before sourcing; `failed` is 1 after any failure.

failed=0

pass() { echo "PASS: $T.$1"; }
fail() {
	echo "FAIL: $T.$1: $2"
	failed=1
}
skip() { echo "SKIP: $T${1:+.$1}: $2"; }
isnum() { [[ $1 =~ ^-?[0-9]+$ ]]; }
ge() { isnum "$1" && isnum "$2" && (( $1 >= $2 )); }
gt() { isnum "$1" && isnum "$2" && (( $1 > $2 )); }
eq() { isnum "$1" && isnum "$2" && (( $1 == $2 )); }
lt() { isnum "$1" && isnum "$2" && (( $1 < $2 )); }

# check NAME DETAIL CMD... [--and CMD...]: PASS if every command succeeds
check() {
	local name=$1 detail=$2 ok=1 a
	local -a cmd=()

	shift 2
	for a in "$@" --and; do
		if [[ $a == --and ]]; then
			"${cmd[@]}" || ok=0
			cmd=()
		else
			cmd+=("$a")
		fi
	done
	if [[ $ok == 1 ]]; then pass "$name"; else fail "$name" "$detail"; fi
}

# e2e_require BUILD: SKIP (exit 0) unless root with the build and tools
e2e_require() {
	local t c

	if [[ $(id -u) -ne 0 ]]; then
		skip "" "needs root (network namespaces, BPF)"
		exit 0
	fi
	if [[ ! -x $1/cellgate ]]; then
		skip "" "$1/cellgate is not built"
		exit 0
	fi
	for t in cg-echo cg-flows; do
		if [[ ! -x $1/tools/$t ]]; then
			echo "FAIL: $T: $1/tools/$t is not built (make all builds it)"
			exit 1
		fi
	done
	for c in jq nsenter ip; do
		command -v "$c" >/dev/null || { skip "" "$c is not installed (scripts/install-deps.sh)"; exit 0; }
	done
}

j() { jq -r "$2" "$1"; }
jt() { jq -e "$2" "$1" >/dev/null 2>&1; }
