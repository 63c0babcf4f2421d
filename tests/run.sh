#!/usr/bin/env bash
# run.sh - runs every test of `make test` and ends with one line CI reads:
# "N passed, N failed". Each test prints TAP lines ("ok ..." / "not ok ..."); cmocka
# binaries are switched to TAP. A test that crashes or exits non-zero without a
# "not ok" line counts as one failure of its own.
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export CMOCKA_MESSAGE_OUTPUT=TAP
export INFERLB_BUILD="$PWD/$BUILD"
log_dir="$BUILD/test-logs"
mkdir -p "$log_dir"

# The agent mounts bpffs when it starts; tests that pin maps before any agent ran (test_cli)
# need it too, so a fresh machine mounts it here, as the agent would.
if [ "$(id -u)" -eq 0 ] && [ "$(stat -f -c %T /sys/fs/bpf 2>/dev/null)" != bpf_fs ]; then
	mount -t bpf bpf /sys/fs/bpf -o mode=0700 || echo "# bpffs: cannot mount /sys/fs/bpf" >&2
fi

passed=0
failed=0
failed_names=()

run_one() {
	local name=$1
	shift
	local log="$log_dir/$(echo "$name" | tr '/ ' '__').log"
	echo "# --- $name"
	local start=$SECONDS
	timeout --kill-after=10 "${TEST_TIMEOUT:-900}" "$@" >"$log" 2>&1 </dev/null
	local rc=$?
	grep -E '^(not )?ok ' "$log" | sed 's/^/  /'
	local p f
	p=$(grep -cE '^ok ' "$log")
	f=$(grep -cE '^not ok ' "$log")
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "  not ok $name exited with status $rc; last lines:"
		tail -n 15 "$log" | sed 's/^/    /'
	elif [ "$f" -gt 0 ]; then
		grep -E -A8 '^not ok ' "$log" | grep -vE '^(not )?ok ' | head -40 | sed 's/^/    /'
	fi
	[ "$p" -eq 0 ] && [ "$f" -eq 0 ] && { f=1; echo "  not ok $name ran no test"; }
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -gt 0 ] && failed_names+=("$name")
	echo "# $name: $p passed, $f failed ($((SECONDS - start))s)"
}

only=${1:-}
for t in "$BUILD"/tests/unit/test_* "$BUILD"/tests/bpf/test_*; do
	[ -x "$t" ] || continue
	[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
	run_one "${t#$BUILD/tests/}" "$t"
done
for t in tests/*/test_*.sh; do
	[ -x "$t" ] || continue
	[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
	run_one "${t#tests/}" "$t"
done

[ ${#failed_names[@]} -gt 0 ] && echo "# failed: ${failed_names[*]} (logs in $log_dir)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
