#!/usr/bin/env bash
# row3_l7_small.sh - the L7 lane with small prompts: requests/s, added p99 and CPU per
# request through the seed's gateway (routing by Host and model; each answer, small and whole
# in one skb, sent by the agent from its end event) vs HAProxy 2.6 and nginx 1.22 as plain
# reverse proxies to the same three pods, and vs direct connections. Pods answer at once
# (nginx `return 200` with a chat completion, an idle vLLM /metrics for the agent's scraper).
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
b_init row3

# Five rounds: this VM's speed drifts by up to a quarter over minutes, and the configurations
# take turns within each round, so the median of five holds where one slow round of three moves it.
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 2 || echo 5)}
CONNS=${CONNS:-64}
TITLE="L7 lane, small prompts"

BODY=$B_LOG/body.json
printf '%s' '{"model": "'"$MODEL"'", "messages": [{"role": "user", "content": "Explain Kubernetes in one sentence."}], "max_tokens": 50}' >"$BODY"
l7_rr_setup row3 "$TITLE" "$BODY"

l7_rr_rounds "$BODY" "$CONNS"

rx=$(med "${RPS[inferlb]:-}")
rh=$(med "${RPS[haproxy]:-}")
rn=$(med "${RPS[nginx]:-}")
r_h=$(ratio "$rx" "$rh")
# each round's own ratio (the two ran within a minute of each other)
paired=$(paste -d' ' <(tr ' ' '\n' <<<"${RPS[inferlb]:-}" | sed '/^$/d') <(tr ' ' '\n' <<<"${RPS[haproxy]:-}" | sed '/^$/d') |
	awk '$2 > 0 { printf "%s%.2f", (n++ ? ", " : ""), $1 / $2 }')
# Requests per second of the proxy process's own CPU (utime+stime, softirq run in its
# context included; with --inline-max 0 the kworker that sends the sockmap's redirects is
# not the agent's and is left out here).
px=$(awk -v c="$(med "${CPUP[inferlb]:-}")" 'BEGIN { print (c > 0 ? 1e6 / c : "null") }')
ph=$(awk -v c="$(med "${CPUP[haproxy]:-}")" 'BEGIN { print (c > 0 ? 1e6 / c : "null") }')
r_core=$(ratio "$px" "$ph")
met=$(awk -v r="$r_h" 'BEGIN { print (r != "null" && r >= 1.0) ? "true" : "false" }')
{
	echo "### 3. L7 lane, small prompts: gateway vs HAProxy / nginx vs direct"
	echo
	echo "The seed's chat completion ($(stat -c %s "$BODY") bytes, Host $GW_HOST) on kept-alive connections; three pods answering at once."
	echo "Throughput: wrk 2 threads, $CONNS connections, ${DUR} s; latency: wrk 1 thread, 4 connections, ${DUR_LAT} s; $ROUNDS rounds, configurations in turn."
	echo "Proxy under test on CPU $CPU_SUT (agent, HAProxy nbthread 1, nginx 1 worker)${NODE_RPS:+ with the receive processing of the node namespace (RPS)}; wrk and pods on CPU $CPU_GEN. CPU from /proc/PID/stat"
	echo "(utime+stime), softirq from /proc/stat, machine = all busy time over the run; per request of the throughput run."
	echo
	l7_rr_table
	echo
	echo "Ratios: gateway / HAProxy req/s **$(fmt "$r_h")×** (goal ≥ 1), gateway / nginx $(fmt "$(ratio "$rx" "$rn")")×, gateway / direct $(fmt "$(ratio "$rx" "$(med "${RPS[direct]:-}")")")×."
	echo "Gateway / HAProxy in each round: $paired."
	echo "Per core of the proxy process's own CPU (1 / proxy CPU µs per request): gateway $(fmt "$px"), HAProxy $(fmt "$ph") req/s, $(fmt "$r_core")×."
	echo "The goal is judged on the first ratio: the proxy's core carries the agent and its softirq (and, for answers"
	echo "redirected in the kernel, \`--inline-max 0\` or over 4 KiB, the kworker that sends them)."
	echo
} >"$BENCH_RESULTS/row3.md"

row_write --argjson points "$(l7_rr_json)" --arg rx "$rx" --arg rh "$rh" --arg r "$r_h" --argjson met "$met" \
	--arg rn "$(ratio "$rx" "$rn")" --arg px "$px" --arg ph "$ph" --arg rc "$r_core" --arg ax "$(med "${ADDED[inferlb]:-}")" --arg ah "$(med "${ADDED[haproxy]:-}")" \
	--argjson dur "$DUR" --argjson rounds "$ROUNDS" --argjson conns "$CONNS" \
	'{row: "row3", title: "L7 lane, small prompts", status: "measured",
	  config: {duration_s: $dur, rounds: $rounds, connections: $conns},
	  points: $points,
	  summary: [
	   {metric: "L7 small prompts req/s, gateway / HAProxy", inferlb: ($rx | tonumber? // null), peer: ($rh | tonumber? // null),
	    ratio: ($r | tonumber? // null), goal: "≥ 1×", met: $met},
	   {metric: "L7 small prompts req/s per core of the proxy process (its utime+stime), gateway / HAProxy",
	    inferlb: ($px | tonumber? // null), peer: ($ph | tonumber? // null), ratio: ($rc | tonumber? // null), goal: "–", met: null},
	   {metric: "L7 small prompts added p99 ms (4 conns), gateway vs HAProxy", inferlb: ($ax | tonumber? // null),
	    peer: ($ah | tonumber? // null), goal: "–", met: null}]}'
