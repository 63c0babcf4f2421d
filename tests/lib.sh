# lib.sh - shared by the shell tests: TAP output, network namespaces, cleanup.
# Every namespace and process a test starts carries the test's own prefix, and the
# EXIT trap removes exactly those.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${INFERLB_BUILD:-$ROOT/build}
T_PREFIX=${T_PREFIX:-ilbt$$}
T_NUM=0
T_FAILED=0
T_NETNS=()
T_PIDS=()
T_CLEANUP=()

ok() {
	T_NUM=$((T_NUM + 1))
	echo "ok $T_NUM - $*"
}

not_ok() {
	T_NUM=$((T_NUM + 1))
	T_FAILED=$((T_FAILED + 1))
	echo "not ok $T_NUM - $1"
	shift
	for line in "$@"; do echo "#   $line"; done
}

# check DESC EXPECTED GOT: passes when they are equal, else prints both.
check_eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1" "expected: $2" "got:      $3"; fi
}

# check_cmd DESC CMD...: passes when the command succeeds.
check_cmd() {
	local desc=$1
	shift
	local out
	if out=$("$@" 2>&1); then ok "$desc"; else not_ok "$desc" "command failed: $*" "${out:0:600}"; fi
}

# wait_for SECONDS CMD...: retries CMD every 50 ms until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $deadline ] && return 1
		sleep 0.05
	done
}

netns_add() {
	ip netns add "$1" && T_NETNS+=("$1") && ip -n "$1" link set lo up
}

# bg NAME CMD...: starts CMD in the background and remembers its pid for cleanup.
bg() {
	local name=$1
	shift
	"$@" >>"$T_LOGDIR/$name.log" 2>&1 &
	T_PIDS+=($!)
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$!"
}

on_cleanup() { T_CLEANUP+=("$*"); }

t_cleanup() {
	local i
	for ((i = ${#T_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${T_CLEANUP[$i]}" >/dev/null 2>&1; done
	for pid in "${T_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	sleep 0.1
	for pid in "${T_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
	for ns in "${T_NETNS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${T_LOGDIR:-}" ] && [ -z "${KEEP_LOGS:-}" ] && rm -rf "$T_LOGDIR"
	return 0
}

t_init() {
	T_LOGDIR=$(mktemp -d "/tmp/$T_PREFIX.XXXX")
	trap t_cleanup EXIT
	trap 'exit 130' INT TERM
}

t_done() {
	echo "# $((T_NUM - T_FAILED)) of $T_NUM passed"
	[ "$T_FAILED" -eq 0 ]
}
