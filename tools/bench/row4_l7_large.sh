#!/usr/bin/env bash
# row4_l7_large.sh - the L7 lane with 220 KiB prompts (loadgen's long-prompt request: the
# agent reads and parses the whole body before it picks a pod): requests/s and added p99
# through the seed's gateway vs HAProxy and nginx vs direct, the same pods as row 3.
#
# Agent CPU for ~100k-token prompts: loadgen open loop (Poisson arrivals) at AGENT_QPS (50)
# req/s for AGENT_DUR (10) s, long-prompt requests of PROMPT_BYTES (409,600: ~100k tokens,
# ~400 KB) without streaming, through the gateway, AGENT_RUNS (3) runs after the wrk rounds.
# Agent CPU = the agent's utime+stime delta (/proc/PID/stat, all threads; with tick accounting
# that includes softirq run in its context) / the wall time of the run (loadgen's start to its
# end), in cores; also the rate achieved (requests answered / loadgen's run time) and failed
# requests. The agent idle (its 50 ms pod scrapes only) is measured over 3 s beforehand for
# reference and not subtracted. Goal ≤ 0.2 core, met only with no failed request and the
# rate achieved within 20% of AGENT_QPS. No peer: HAProxy and nginx do not read the body to
# route by model, so the peer column is null.
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
b_init row4

ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 2 || echo 3)}
CONNS=${CONNS:-24}
TITLE="L7 lane, 220 KB prompts"
export POD_READ_BODY=1
AGENT_QPS=${AGENT_QPS:-50}
AGENT_DUR=${AGENT_DUR:-$([ -n "$QUICK" ] && echo 5 || echo 10)}
AGENT_RUNS=${AGENT_RUNS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
PROMPT_BYTES=${PROMPT_BYTES:-409600}
AGENT_GOAL=0.2

BODY=$B_LOG/body.json
"$BUILD/loadgen" --url "http://$GW:$GW_PORT/v1/chat/completions" --workload long-prompt --no-stream \
	--dry-run --requests 1 --dump-requests "$BODY.tmp" >/dev/null 2>&1 &&
	tr -d '\n' <"$BODY.tmp" >"$BODY" || { row_not_measured row4 "$TITLE" "loadgen could not write the request"; exit 0; }
l7_rr_setup row4 "$TITLE" "$BODY"

l7_rr_rounds "$BODY" "$CONNS"

# ---- agent CPU for ~100k-token prompts at AGENT_QPS req/s ----
# cores_since TICKS0 T0: the agent's CPU since then, in cores
cores_since() {
	awk -v a="$(proc_cpu_ticks "$PID_agent")" -v a0="$1" -v t0="$2" -v t1="$(date +%s.%N)" -v hz="$HZ" \
		'BEGIN { printf "%.4f\n", (a - a0) / hz / (t1 - t0) }'
}
a0=$(proc_cpu_ticks "$PID_agent") t0=$(date +%s.%N)
sleep 3
A_IDLE=$(cores_since "$a0" "$t0")
log "row4 agent idle: $A_IDLE cores"
A_CORES= A_RPS= A_ERRS=0 A_OK=0
for r in $(seq 1 "$AGENT_RUNS"); do
	out=$B_LOG/agent-cpu.$r.json
	rm -f "$out"
	a0=$(proc_cpu_ticks "$PID_agent") t0=$(date +%s.%N)
	taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --url "$(l7_url inferlb)" --host "$GW_HOST" --model "$MODEL" \
		--workload long-prompt --prompt-bytes "$PROMPT_BYTES" --qps "$AGENT_QPS" --duration "$AGENT_DUR" --no-stream \
		--timeout 30 --seed "$r" --quiet --json "$out" >"$B_LOG/loadgen-agent-cpu.log" 2>&1
	cores=$(cores_since "$a0" "$t0")
	ok=$(jq -r '.requests.ok // empty' "$out" 2>/dev/null) || ok=
	failed=$(jq -r '.requests.failed // empty' "$out" 2>/dev/null) || failed=
	rps=$(jq -r '.throughput.req_per_s // empty' "$out" 2>/dev/null) || rps=
	[ -z "$failed" ] && failed=$((AGENT_QPS * AGENT_DUR)) # no summary: every request counts as failed
	A_ERRS=$((A_ERRS + failed)) A_OK=$((A_OK + ${ok:-0}))
	log "row4 agent CPU run $r: $cores cores, ${rps:-?} req/s answered (${ok:-0} ok, $failed failed; offered $(jq -r '.throughput.offered_qps' "$out" 2>/dev/null) req/s)"
	[ "${ok:-0}" -gt 0 ] || continue
	A_CORES+="$cores " A_RPS+="$rps "
done
acx=$(med "$A_CORES")
arx=$(med "$A_RPS")
met_acpu=$(awk -v c="$acx" -v r="$arx" -v q="$AGENT_QPS" -v e="$A_ERRS" -v g="$AGENT_GOAL" \
	'BEGIN { print (c != "" && r != "" && e == 0 && c <= g && r >= 0.8 * q) ? "true" : "false" }')

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
	echo "**Agent CPU for ~100k-token prompts.** loadgen long-prompt requests of $(fmt "$PROMPT_BYTES") bytes (~$(fmt $((PROMPT_BYTES / 4))) tokens), not streamed, open loop"
	echo "(Poisson) at $AGENT_QPS req/s for $AGENT_DUR s through the gateway, to the same pods; agent utime+stime (/proc/PID/stat) over the run's wall time;"
	echo "$([ "$AGENT_RUNS" -eq 1 ] && echo "1 run (BENCH_QUICK: a smoke figure)" || echo "median of $AGENT_RUNS runs (min–max)"). The agent idle (pod scrapes only) is shown for reference, not subtracted."
	echo "No peer: HAProxy and nginx do not read the body to route by model."
	echo
	echo "| agent CPU, cores | req/s answered | failed requests | agent idle, cores |"
	echo "| --- | --- | --- | --- |"
	echo "| $([ -z "$A_CORES" ] && echo – || fmt3 "$(stat3 $A_CORES)") | $([ -z "$A_RPS" ] && echo – || fmt3 "$(stat3 $A_RPS)") | $A_ERRS | $(fmt "$A_IDLE") |"
	echo
	echo "Agent CPU at $AGENT_QPS req/s of ~$(fmt $((PROMPT_BYTES / 1024))) KB prompts: **$(fmt "$acx") cores** (goal ≤ $AGENT_GOAL core, with no failed request and ≥ 80% of the rate answered: **$([ "$met_acpu" = true ] && echo met || echo "not met")**)."
	echo
} >"$BENCH_RESULTS/row4.md"

row_write --argjson points "$(l7_rr_json)" --arg rx "$rx" --arg rh "$rh" --arg ax "$ax" \
	--arg ah "$(med "${ADDED[haproxy]:-}")" --argjson mr "$met_rps" --argjson ma "$met_add" \
	--argjson dur "$DUR" --argjson rounds "$ROUNDS" --argjson conns "$CONNS" --argjson bytes "$(stat -c %s "$BODY")" \
	--argjson acores "$(point_json $A_CORES)" --argjson arps "$(point_json $A_RPS)" --argjson aerrs "$A_ERRS" \
	--argjson aok "$A_OK" --argjson aidle "${A_IDLE:-null}" --argjson acx "${acx:-null}" --argjson macpu "$met_acpu" \
	--argjson aqps "$AGENT_QPS" --argjson adur "$AGENT_DUR" --argjson aruns "$AGENT_RUNS" --argjson pbytes "$PROMPT_BYTES" \
	'{row: "row4", title: "L7 lane, 220 KB prompts", status: "measured",
	  config: {duration_s: $dur, rounds: $rounds, connections: $conns, body_bytes: $bytes},
	  points: $points,
	  agent_cpu_long_prompt: {prompt_bytes: $pbytes, qps: $aqps, duration_s: $adur, runs: $aruns, stream: false,
	    agent_cores: (if $acores.median == null then null else $acores end),
	    req_per_s: (if $arps.median == null then null else $arps end),
	    ok: $aok, failed: $aerrs, agent_idle_cores: $aidle},
	  summary: [
	   {metric: "L7 220 KB prompts req/s (gateway; HAProxy as peer)", inferlb: ($rx | tonumber? // null), peer: ($rh | tonumber? // null),
	    ratio: (if ($rx | tonumber? // null) != null and ($rh | tonumber? // 0) > 0 then (($rx | tonumber) / ($rh | tonumber) * 1000 | round / 1000) else null end),
	    goal: "≥ 1,000 req/s", met: $mr},
	   {metric: "L7 220 KB prompts added p99 ms (gateway; HAProxy as peer)", inferlb: ($ax | tonumber? // null),
	    peer: ($ah | tonumber? // null), goal: "< 5 ms", met: $ma},
	   {metric: "Agent CPU, cores, ~100k-token (400 KB) prompts at \($aqps) req/s, not streamed (no peer routes by model)",
	    inferlb: $acx, peer: null, ratio: null, goal: "≤ 0.2 core", met: $macpu}]}'
