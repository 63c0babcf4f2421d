# lib.sh - shared by the shell tests: TAP output, cleanup; namespaces and processes from
# tools/lib/topology.sh.
# Every namespace and process a test starts carries the test's own prefix, and the
# EXIT trap removes exactly those.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${INFERLB_BUILD:-$ROOT/build}
T_PREFIX=${T_PREFIX:-ilbt$$}
T_NUM=0
T_FAILED=0
TOPO_PREFIX=$T_PREFIX
# namespaces, bg, wait_for, on_cleanup and the topology of the e2e tests
source "$ROOT/tools/lib/topology.sh"

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

t_cleanup() {
	topo_cleanup
	[ -n "${T_LOGDIR:-}" ] && [ -z "${KEEP_LOGS:-}" ] && rm -rf "$T_LOGDIR"
	return 0
}

t_init() {
	T_LOGDIR=$(mktemp -d "/tmp/$T_PREFIX.XXXX")
	TOPO_LOG=$T_LOGDIR
	trap t_cleanup EXIT
	trap 'exit 130' INT TERM
}

t_done() {
	echo "# $((T_NUM - T_FAILED)) of $T_NUM passed"
	[ "$T_FAILED" -eq 0 ]
}
