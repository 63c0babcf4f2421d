#!/usr/bin/env bash
# demo.sh - the seed's scenario on the embedded default (run | up | down).
# The L7 gateway the demo drives is not in this release yet.
set -euo pipefail
case "${1:-run}" in
run | up) echo "make demo: not yet - the L7 gateway on port 8888 is not in this release; see README.md" ;;
down) echo "make demo-down: nothing to remove" ;;
*) echo "usage: $0 run|up|down" >&2; exit 2 ;;
esac
