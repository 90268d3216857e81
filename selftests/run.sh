#!/bin/bash
# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#
# selftests/run.sh BUILD_DIR [NAME...]: the runner behind `make test`.
#
# Runs every BUILD_DIR/selftests/test_* program, then every
# selftests/e2e_*.sh and selftests/test_*.sh script (NAMEs, if given, pick
# programs whose name contains one of them). Each program prints one line
# per check, "PASS: name", "FAIL: name: detail" or "SKIP: name: why", and
# exits non-zero when something failed. The runner counts those lines over
# all programs and counts as one more failure, named after the program, a
# program that exits non-zero without a FAIL line, dies on a signal, prints
# no result line at all, or runs longer than CG_TEST_TIMEOUT seconds
# (default 300). The last line is always "N passed, N failed, N skipped";
# the exit status is 1 when anything failed.
#
# Programs run from the repository root with BUILD_DIR as their first
# argument (scripts) and in $CG_BUILD_DIR (everything).
set -uo pipefail

usage() {
	echo "usage: $0 BUILD_DIR [NAME...]" >&2
	exit 2
}

[[ $# -ge 1 ]] || usage
root=$(cd "$(dirname "$0")/.." && pwd)
build=$1
shift
[[ -d $build ]] || { echo "$0: build directory '$build' does not exist (run make)" >&2; exit 2; }
build=$(cd "$build" && pwd)
cd "$root" || exit 2
timeout_s=${CG_TEST_TIMEOUT:-300}
export CG_BUILD_DIR=$build

progs=()
for p in "$build"/selftests/test_*; do
	[[ -f $p && -x $p ]] && progs+=("$p")
done
for p in selftests/e2e_*.sh selftests/test_*.sh; do
	[[ -f $p ]] && progs+=("$p")
done
if [[ $# -gt 0 ]]; then
	sel=()
	for p in "${progs[@]}"; do
		for want in "$@"; do
			[[ $(basename "$p") == *"$want"* ]] && { sel+=("$p"); break; }
		done
	done
	progs=("${sel[@]}")
fi

if [[ -t 1 ]]; then
	red=$'\e[31m' green=$'\e[32m' bold=$'\e[1m' off=$'\e[0m'
else
	red='' green='' bold='' off=''
fi

log=$(mktemp "${TMPDIR:-/tmp}/cg-run.XXXXXX") || exit 2
trap 'rm -f "$log"' EXIT
trap 'rm -f "$log"; echo; echo "interrupted"; exit 130' INT TERM

passed=0 failed=0 skipped=0
failures=()

for p in "${progs[@]}"; do
	name=$(basename "$p")
	echo "${bold}=== $name${off}"
	start=$SECONDS
	# a script may ask for more time with a "# cg-test-timeout: SECONDS" line
	timeout_s=${CG_TEST_TIMEOUT:-300}
	if [[ $p == *.sh ]] && t=$(grep -m1 -oP '^# cg-test-timeout: \K[0-9]+' "$p") &&
		[[ -z ${CG_TEST_TIMEOUT:-} ]]; then
		timeout_s=$t
	fi
	# -k: a program ignoring TERM is killed 10 s later. The subshell reports
	# a crash ("Segmentation fault") into the log, not after our last line.
	if [[ $p == *.sh ]]; then
		(timeout -k 10 "$timeout_s" bash "$p" "$build"; exit $?) </dev/null 2>&1 | tee "$log"
	else
		(timeout -k 10 "$timeout_s" "$p"; exit $?) </dev/null 2>&1 | tee "$log"
	fi
	rc=${PIPESTATUS[0]}
	np=$(grep -c '^PASS: ' "$log")
	nf=$(grep -c '^FAIL: ' "$log")
	ns=$(grep -c '^SKIP: ' "$log")
	while IFS= read -r line; do
		failures+=("$name: ${line#FAIL: }")
	done < <(grep '^FAIL: ' "$log")

	extra=''
	if [[ $rc -eq 124 ]]; then
		extra="timed out after ${timeout_s} s"
	elif [[ $rc -eq 137 ]]; then
		extra="killed (SIGKILL) after the timeout of ${timeout_s} s"
	elif [[ $rc -gt 128 ]]; then
		extra="died on signal $((rc - 128)) ($(kill -l $((rc - 128)) 2>/dev/null || echo '?'))"
	elif [[ $rc -ne 0 && $nf -eq 0 ]]; then
		extra="exited with status $rc without a FAIL line"
	elif [[ $((np + nf + ns)) -eq 0 ]]; then
		extra="printed no PASS/FAIL/SKIP line"
	fi
	if [[ -n $extra ]]; then
		echo "FAIL: $name: $extra"
		failures+=("$name: $name: $extra")
		nf=$((nf + 1))
	fi
	passed=$((passed + np))
	failed=$((failed + nf))
	skipped=$((skipped + ns))
	if [[ $nf -gt 0 ]]; then
		color=$red
	else
		color=$green
	fi
	echo "${color}--- $name: $np passed, $nf failed, $ns skipped ($((SECONDS - start)) s)${off}"
	echo
done

if [[ ${#progs[@]} -eq 0 ]]; then
	echo "${red}no test programs found (build: $build)${off}"
	failed=$((failed + 1))
fi
if [[ ${#failures[@]} -gt 0 ]]; then
	echo "${red}${bold}Failures:${off}"
	for f in "${failures[@]}"; do
		echo "${red}  $f${off}"
	done
	echo
fi
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
