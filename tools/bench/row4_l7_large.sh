#!/usr/bin/env bash
# row4_l7_large.sh - the L7 lane with 220 KiB prompts (loadgen's long-prompt request: the
# agent reads and parses the whole body before it picks a pod): requests/s and added p99
# through the seed's gateway vs HAProxy and nginx vs direct, the same pods as row 3.
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
b_init row4

ROUNDS=${ROUNDS:-3}
DUR=${DUR:-$([ -n "$QUICK" ] && echo 3 || echo 10)}
DUR_LAT=${DUR_LAT:-$([ -n "$QUICK" ] && echo 2 || echo 5)}
CONNS=${CONNS:-24}
TITLE="L7 lane, 220 KB prompts"
export POD_READ_BODY=1

BODY=$B_LOG/body.json
"$BUILD/loadgen" --url "http://$GW:$GW_PORT/v1/chat/completions" --workload long-prompt --no-stream \
	--dry-run --requests 1 --dump-requests "$BODY.tmp" >/dev/null 2>&1 &&
	tr -d '\n' <"$BODY.tmp" >"$BODY" || { row_not_measured row4 "$TITLE" "loadgen could not write the request"; exit 0; }
topology_up 3 || { row_not_measured row4 "$TITLE" "could not build the namespaces"; exit 0; }
for i in 1 2 3; do nginx_pod_start "$i" || { row_not_measured row4 "$TITLE" "pod $i did not start"; exit 0; }; done
pool_manifest qwen "" "$MANIFESTS/pool.yaml" 1 2 3
l7_agent_start || { row_not_measured row4 "$TITLE" "the agent did not start: $(tail -3 "$B_LOG/agent.log")"; exit 0; }
haproxy_start 1 2 3
nginx_proxy_start 1 2 3
for cfg in $L7_CONFIGS; do
	l7_ready "$cfg" "$BODY" || { row_not_measured row4 "$TITLE" "$cfg does not answer"; exit 0; }
done

l7_rr_rounds "$BODY" "$CONNS"

rx=$(med "${RPS[inferlb]:-}")
rh=$(med "${RPS[haproxy]:-}")
ax=$(med "${ADDED[inferlb]:-}")
met_rps=$(awk -v r="$rx" 'BEGIN { print (r != "" && r >= 1000) ? "true" : "false" }')
met_add=$(awk -v a="$ax" 'BEGIN { print (a != "" && a < 5) ? "true" : "false" }')
{
	echo "### 4. L7 lane, 220 KB prompts"
	echo
	echo "loadgen's long-prompt chat completion ($(stat -c %s "$BODY") bytes) on kept-alive connections to the same three instant pods."
	echo "Throughput: wrk 2 threads, $CONNS connections, ${DUR} s; latency: 4 connections, ${DUR_LAT} s; $ROUNDS rounds; cores as in row 3."
	echo
	l7_rr_table
	echo
	echo "Gateway: **$(fmt "$rx") req/s** (goal ≥ 1,000), added p99 **$(fmt "$ax") ms** (goal < 5); gateway / HAProxy $(fmt "$(ratio "$rx" "$rh")")×, gateway / nginx $(fmt "$(ratio "$rx" "$(med "${RPS[nginx]:-}")")")×."
	echo
} >"$BENCH_RESULTS/row4.md"

row_write --argjson points "$(l7_rr_json)" --arg rx "$rx" --arg rh "$rh" --arg ax "$ax" \
	--arg ah "$(med "${ADDED[haproxy]:-}")" --argjson mr "$met_rps" --argjson ma "$met_add" \
	--argjson dur "$DUR" --argjson rounds "$ROUNDS" --argjson conns "$CONNS" --argjson bytes "$(stat -c %s "$BODY")" \
	'{row: "row4", title: "L7 lane, 220 KB prompts", status: "measured",
	  config: {duration_s: $dur, rounds: $rounds, connections: $conns, body_bytes: $bytes},
	  points: $points,
	  summary: [
	   {metric: "L7 220 KB prompts req/s (gateway; HAProxy as peer)", inferlb: ($rx | tonumber? // null), peer: ($rh | tonumber? // null),
	    ratio: (if ($rx | tonumber? // null) != null and ($rh | tonumber? // 0) > 0 then (($rx | tonumber) / ($rh | tonumber) * 1000 | round / 1000) else null end),
	    goal: "≥ 1,000 req/s", met: $mr},
	   {metric: "L7 220 KB prompts added p99 ms (gateway; HAProxy as peer)", inferlb: ($ax | tonumber? // null),
	    peer: ($ah | tonumber? // null), goal: "< 5 ms", met: $ma}]}'
