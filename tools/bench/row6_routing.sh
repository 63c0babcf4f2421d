#!/usr/bin/env bash
# row6_routing.sh - routing quality: the gateway's scheduler (--l7-policy sched: queue, KV
# cache, prefix cache and in-flight scorers) against the baselines the same agent runs with
# the policy switched (round-robin, random, least-request), and HAProxy's `balance leastconn`
# as an outside reference, in front of four tools/vllm-sim pods with identical settings.
#
# 1. shared-prefix (loadgen --workload shared-prefix, the GIE prefix-cache benchmark's shape:
#    150 groups x 5 questions, a 6,000-token system prompt per group, 1,200-token questions)
#    open loop at the pods' cold-prefill capacity: the rate at which the four pods would be
#    busy back to back prefilling prompts of which nothing is cached. TTFT p50 / p90.
# 2. ShareGPT-like (lognormal prompt and answer lengths, ignore_eos) open loop at 85% of the
#    pods' capacity measured first (closed loop straight to each pod, twice as many requests in
#    flight as its batch slots; completions per second in a steady window). p90 TPOT.
#
# Every run starts from cold pods (restarted) and a restarted balancer (the agent's prefix
# LRUs empty too). Policies take turns within each round; a round's runs share one seed.
# Times are wall-clock; vllm-sim runs faster than a GPU by --time-scale (SP_TS, SG_TS), so a
# simulated GPU's time is wall / time-scale (shown as "sim").
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
b_init row6

TITLE="Routing quality"
NPODS=4
PODS=$(seq 1 $NPODS)
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
POLICIES=${POLICIES:-"sched round-robin random least-request haproxy-leastconn"}
PARTS=${PARTS:-"shared-prefix sharegpt"}

# The pods (every policy, both workloads): a latency-minded vLLM deployment (at most 32
# sequences in a batch) with a KV cache of 24,576 blocks of 16 tokens (393k tokens: an 80 GB
# GPU serving an 8B GQA model), sized with the number of groups in quick runs so that the
# cache holds the same share of the system prompts; vllm-sim's own costs otherwise.
# Shared-prefix answers are 100 tokens: the GIE benchmark's 1,000 would stream 750,000 tokens
# a run, more than two cores stream in the time this row has; TTFT sees them only as decode load.
MAX_SEQS=32
PREFILL_US=80
SP_GROUPS=${SP_GROUPS:-$([ -n "$QUICK" ] && echo 40 || echo 150)}
SP_PER_GROUP=5
SP_SYSTEM=6000
SP_QUESTION=1200
SP_OUT=${SP_OUT:-100}
KV_BLOCKS=$((24576 * SP_GROUPS / 150))
SP_TS=${SP_TS:-0.1}
SG_TS=${SG_TS:-0.5}
SG_LOAD=0.85
SG_REQUESTS=${SG_REQUESTS:-$([ -n "$QUICK" ] && echo 120 || echo 600)}
SG_GRACE=${SG_GRACE:-$([ -n "$QUICK" ] && echo 2.5 || echo 4)}
CAP_RUNS=${CAP_RUNS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
CAP_WARM=${CAP_WARM:-$([ -n "$QUICK" ] && echo 2 || echo 3)}
CAP_END=${CAP_END:-$([ -n "$QUICK" ] && echo 6 || echo 10)}
# cold-prefill capacity in wall-clock requests/s
SP_QPS=$(awk -v n=$NPODS -v t=$((SP_SYSTEM + SP_QUESTION)) -v us=$PREFILL_US -v ts="$SP_TS" \
	'BEGIN { printf "%.2f", n / (t * us / 1e6) / ts }')

BODY=$B_LOG/body.json
printf '%s' '{"model": "'"$MODEL"'", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}' >"$BODY"

# pods_start TIMESCALE: the four pods, restarted cold.
pods_start() {
	local i
	for i in $PODS; do stop "sim$i"; done
	for i in $PODS; do
		bg "sim$i" taskset -c "$CPU_GEN" ip netns exec "${B_PREFIX}p$i" "$BUILD/vllm-sim" --host "198.19.$i.2" \
			--port 8000 --model "$MODEL" --time-scale "$1" --seed "$i" --max-model-len 16384 \
			--max-num-seqs $MAX_SEQS --num-gpu-blocks $KV_BLOCKS --prefill-us-per-token $PREFILL_US \
			--decode-step-ms 10 --decode-us-per-seq 150
	done
	for i in $PODS; do
		wait_for 10 np "$i" curl -sf -m 1 -o /dev/null "http://198.19.$i.2:8000/health" || return 1
	done
}

# lb_start POLICY: the balancer for POLICY, restarted; the other one stopped.
lb_start() {
	agent_stop
	stop haproxy
	if [ "$1" = haproxy-leastconn ]; then
		HAPROXY_BALANCE=leastconn haproxy_start $PODS || return 1
		l7_ready haproxy "$BODY"
	else
		agent_start --max-body 1000000 --l7-policy "$1" || return 1
		l7_ready inferlb "$BODY"
	fi
}

lb_url() { [ "$1" = haproxy-leastconn ] && l7_url haproxy || l7_url inferlb; }

# pod_counters: per pod "queried hit finished" prefix-cache tokens and finished requests.
pod_counters() {
	local i
	for i in $PODS; do
		np "$i" curl -sf -m 2 "http://198.19.$i.2:8000/metrics" 2>/dev/null | awk '
			/^vllm:prefix_cache_queries_total/ { q += $NF } /^vllm:prefix_cache_hits_total/ { h += $NF }
			/^vllm:request_success_total/ { r += $NF } END { printf "%d %d %d\n", q, h, r }'
	done
}

loadgen_run() { # loadgen_run NAME ARGS...: from the client namespace on CPU_GEN
	local name=$1
	shift
	taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --host "$GW_HOST" --model "$MODEL" --timeout 120 \
		--quiet --json "$B_LOG/$name.json" --records "$B_LOG/$name.records" "$@" >"$B_LOG/loadgen-$name.log" 2>&1
}

jnum() { jq -r "$2 // empty" "$1" 2>/dev/null; }

declare -A SP_T50 SP_T90 SP_TPOT90 SP_HIT SP_ERR SP_PODS SG_P90 SG_P50 SG_TTFT90 SG_TPUT SG_ENDED SG_ERR SG_PODS
CAPS=
SG_QPS=

# sp_run POLICY ROUND
sp_run() {
	local pol=$1 r=$2 name="sp.$1.$2" c
	pods_start "$SP_TS" && lb_start "$pol" || { log "row6 shared-prefix $pol: could not start"; SP_ERR[$pol]=$((${SP_ERR[$pol]:-0} + 1)); return; }
	loadgen_run "$name" --url "$(lb_url "$pol")" --workload shared-prefix --groups "$SP_GROUPS" \
		--prompts-per-group $SP_PER_GROUP --system-tokens $SP_SYSTEM --question-tokens $SP_QUESTION \
		--output-tokens "$SP_OUT" --ignore-eos --qps "$SP_QPS" --requests $((SP_GROUPS * SP_PER_GROUP)) --seed "$r"
	c=$(pod_counters)
	local f=$B_LOG/$name.json ok t50 t90 failed
	ok=$(jnum "$f" .requests.ok)
	failed=$(jnum "$f" .requests.failed)
	SP_ERR[$pol]=$((${SP_ERR[$pol]:-0} + ${failed:-$((SP_GROUPS * SP_PER_GROUP))}))
	if [ "${ok:-0}" -gt 0 ]; then
		t50=$(jnum "$f" .ttft_ms.p50) t90=$(jnum "$f" .ttft_ms.p90)
		SP_T50[$pol]+="$t50 " SP_T90[$pol]+="$t90 " SP_TPOT90[$pol]+="$(jnum "$f" .tpot_ms.p90) "
		SP_HIT[$pol]+="$(awk '{ q += $1; h += $2 } END { printf "%.1f", q ? 100 * h / q : 0 }' <<<"$c") "
	fi
	[ "$r" = 1 ] && SP_PODS[$pol]=$(awk '{ printf "%s%d", (NR > 1 ? "/" : ""), $3 }' <<<"$c")
	log "row6 shared-prefix round $r $pol: ok ${ok:-0} failed ${failed:-?}, TTFT p50 ${t50:-–} p90 ${t90:-–} ms; pods (queried hit finished): $(tr '\n' ';' <<<"$c")"
}

# capacity_run N: the pods' own capacity, without a balancer in the way: one closed-loop
# loadgen per pod with twice its batch slots in flight (every batch full, as many waiting),
# stopped at CAP_END s; completions per second between CAP_WARM and CAP_END, summed.
capacity_run() {
	local name="cap.$1" v i pids=()
	pods_start "$SG_TS" || { log "row6 capacity: the pods did not start"; return; }
	for i in $PODS; do
		timeout -s INT "$CAP_END" taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --model "$MODEL" \
			--url "http://198.19.$i.2:8000/v1/chat/completions" --timeout 120 --quiet --records "$B_LOG/$name.$i.records" \
			--workload sharegpt-like --ignore-eos --concurrency $((2 * MAX_SEQS)) --seed $((100 * $1 + i)) \
			>"$B_LOG/loadgen-$name.$i.log" 2>&1 &
		pids+=($!)
	done
	wait "${pids[@]}"
	v=$(cat "$B_LOG/$name".*.records 2>/dev/null | jq -s --argjson a "$CAP_WARM" --argjson b "$CAP_END" \
		'map(select(.status == 200 and .error == "ok") | (.t_sched_ms + .e2e_ms) / 1000 | select(. >= $a and . < $b))
		 | length / ($b - $a) | . * 100 | round / 100')
	log "row6 capacity run $1: ${v:-?} req/s (closed loop straight to the pods, $((2 * MAX_SEQS)) in flight each, ${CAP_WARM}-${CAP_END} s)"
	[ -n "$v" ] && [ "$v" != 0 ] && CAPS+="$v "
}

# sg_run POLICY ROUND: open loop at SG_QPS, SG_REQUESTS requests; stopped SG_GRACE s after the
# last arrival is due (answers still streaming then are left out: the same requests for every
# policy, since arrivals and lengths come from the round's seed).
sg_run() {
	local pol=$1 r=$2 name="sg.$1.$2" c f=$B_LOG/sg.$1.$2.json ok failed stop_at
	pods_start "$SG_TS" && lb_start "$pol" || { log "row6 sharegpt $pol: could not start"; SG_ERR[$pol]=$((${SG_ERR[$pol]:-0} + 1)); return; }
	stop_at=$(awk -v n="$SG_REQUESTS" -v q="$SG_QPS" -v g="$SG_GRACE" 'BEGIN { printf "%.1f", n / q + g }')
	timeout -s INT "$stop_at" taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --host "$GW_HOST" --model "$MODEL" \
		--url "$(lb_url "$pol")" --timeout 120 --quiet --json "$f" --records "$B_LOG/$name.records" \
		--workload sharegpt-like --ignore-eos --qps "$SG_QPS" --requests "$SG_REQUESTS" --seed "$r" \
		>"$B_LOG/loadgen-$name.log" 2>&1
	c=$(pod_counters)
	ok=$(jnum "$f" .requests.ok)
	failed=$(jnum "$f" .requests.failed)
	SG_ERR[$pol]=$((${SG_ERR[$pol]:-0} + ${failed:-$SG_REQUESTS}))
	if [ "${ok:-0}" -gt 0 ]; then
		SG_P90[$pol]+="$(jnum "$f" .tpot_ms.p90) " SG_P50[$pol]+="$(jnum "$f" .tpot_ms.p50) "
		SG_TTFT90[$pol]+="$(jnum "$f" .ttft_ms.p90) " SG_ENDED[$pol]+="$ok "
		SG_TPUT[$pol]+="$(jnum "$f" .throughput.output_tokens_per_s) "
	fi
	[ "$r" = 1 ] && SG_PODS[$pol]=$(awk '{ printf "%s%d", (NR > 1 ? "/" : ""), $3 }' <<<"$c")
	log "row6 sharegpt round $r $pol: ended ok ${ok:-0} of $SG_REQUESTS, failed ${failed:-?}, TPOT p50 $(jnum "$f" .tpot_ms.p50) p90 $(jnum "$f" .tpot_ms.p90) ms"
}

topology_up $NPODS || { row_not_measured row6 "$TITLE" "could not build the namespaces"; exit 0; }
pool_manifest qwen "" "$MANIFESTS/pool.yaml" $PODS
gateway_manifest "$MANIFESTS/gateway.yaml"
pods_start "$SP_TS" || { row_not_measured row6 "$TITLE" "vllm-sim pods did not start: $(tail -2 "$B_LOG/sim1.log")"; exit 0; }
lb_start sched || { row_not_measured row6 "$TITLE" "the agent did not start: $(tail -3 "$B_LOG/agent.log")"; exit 0; }

case " $PARTS " in *" shared-prefix "*)
	for r in $(seq 1 "$ROUNDS"); do
		for pol in $POLICIES; do sp_run "$pol" "$r"; done
	done ;;
esac
case " $PARTS " in *" sharegpt "*)
	for r in $(seq 1 "$CAP_RUNS"); do capacity_run "$r"; done
	cap=$(stat3 $CAPS | cut -d' ' -f1)
	if [ "$cap" != null ]; then
		SG_QPS=$(awk -v c="$cap" -v l=$SG_LOAD 'BEGIN { printf "%.2f", c * l }')
		for r in $(seq 1 "$ROUNDS"); do
			for pol in $POLICIES; do sg_run "$pol" "$r"; done
		done
	fi ;;
esac
agent_stop
stop haproxy

# ---- report ----
med() { stat3 ${1:-} | cut -d' ' -f1; }
cell() { [ -z "${1:-}" ] && echo – || fmt3 "$(stat3 $1)"; }
sim_ms() { awk -v v="$1" -v t="$2" 'BEGIN { if (v == "" || v == "null") print "null"; else printf "%.1f", v / t }'; }
pname() {
	case $1 in
	sched) echo "inferlb scheduler (sched)" ;; round-robin) echo "round-robin (agent)" ;;
	random) echo "random (agent)" ;; least-request) echo "least-request (agent)" ;;
	haproxy-leastconn) echo "HAProxy 2.6 leastconn" ;; *) echo "$1" ;;
	esac
}
sp_x=$(med "${SP_T90[sched]:-}")
sp_rand=$(med "${SP_T90[random]:-}")
sp_ratio=$(ratio "$sp_x" "$sp_rand")
sp_met=$(awk -v r="$sp_ratio" 'BEGIN { print (r != "null" && r <= 0.1) ? "true" : "false" }')
sg_x=$(med "${SG_P90[sched]:-}")
sg_rr=$(med "${SG_P90[round-robin]:-}")
sg_ratio=$(ratio "$sg_x" "$sg_rr")
sg_met=$(awk -v r="$sg_ratio" 'BEGIN { print (r != "null" && r <= 0.4) ? "true" : "false" }')
runs_note=$([ "$ROUNDS" -eq 1 ] && echo "1 run per policy (BENCH_QUICK: a smoke figure, not a median)" ||
	echo "median of $ROUNDS runs (min–max), policies in turn within each round")
npairs=$((SP_GROUPS * SP_PER_GROUP))

# TTFT (shared-prefix) and TPOT (ShareGPT-like) CDFs of round 1, one line per policy.
plots=
if command -v gnuplot >/dev/null; then
	plot_cdf() { # plot_cdf PREFIX FIELD TITLE FILE
		local pol dat cmd="" sep=""
		for pol in $POLICIES; do
			dat=$B_LOG/cdf.$1.$pol.dat
			[ -s "$B_LOG/$1.$pol.1.records" ] || continue
			jq -r "select(.status == 200 and .$2 != null) | .$2" "$B_LOG/$1.$pol.1.records" | sort -g |
				awk '{ v[NR] = $1 } END { for (i = 1; i <= NR; i++) print v[i], i / NR }' >"$dat"
			[ -s "$dat" ] && cmd+="$sep'$dat' using 1:2 with lines lw 2 title '$(pname "$pol")'" && sep=", "
		done
		[ -n "$cmd" ] || return 1
		gnuplot 2>/dev/null <<GP
set terminal svg size 720,420 dynamic font "sans,11"
set output "$BENCH_RESULTS/$4"
set title "$3"
set xlabel "ms (wall clock)"
set ylabel "fraction of requests"
set logscale x
set key bottom right
set grid
plot $cmd
GP
	}
	# run.sh copies them into bench/plots/, where bench/results.md links them
	rel=plots
	plot_cdf sp ttft_ms "Row 6: shared-prefix TTFT CDF (round 1)" row6_ttft_cdf.svg && plots+=" [TTFT CDF]($rel/row6_ttft_cdf.svg)"
	plot_cdf sg tpot_ms "Row 6: ShareGPT-like at ${SG_LOAD} of capacity, TPOT CDF (round 1)" row6_tpot_cdf.svg && plots+=" [TPOT CDF]($rel/row6_tpot_cdf.svg)"
fi

{
	echo "### 6. Routing quality on four vllm-sim pods"
	echo
	echo "Pods: tools/vllm-sim, identical for every policy and restarted cold before every run (max-num-seqs $MAX_SEQS, $KV_BLOCKS KV blocks of 16 tokens,"
	echo "prefill ${PREFILL_US} µs per uncached token, decode 10 ms + 0.15 ms per sequence a step); the balancer restarted too. $runs_note."
	echo "Policies: the agent with \`--l7-policy\` sched / round-robin / random / least-request, and HAProxy 2.6 \`balance leastconn\`."
	echo "Times are wall-clock ms; vllm-sim ran --time-scale $SP_TS (shared-prefix) and $SG_TS (ShareGPT-like): a GPU's time is wall / time-scale."
	echo
	echo "**Shared prefix**: $SP_GROUPS groups × $SP_PER_GROUP questions ($npairs requests), $SP_SYSTEM-token system prompt, $SP_QUESTION-token question,"
	echo "$SP_OUT output tokens (ignore_eos), open loop at $SP_QPS req/s — the pods' cold-prefill capacity ($NPODS pods / ($((SP_SYSTEM + SP_QUESTION)) tokens × ${PREFILL_US} µs) × 1/$SP_TS)."
	[ -n "$QUICK" ] && echo "(BENCH_QUICK: $SP_GROUPS groups instead of 150, KV cache scaled with them.)"
	echo
	echo "| policy | TTFT p50 ms | TTFT p90 ms | TTFT p90 sim ms | TPOT p90 ms | prefix-cache hit (tokens) | requests per pod (round 1) | errors |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
	for pol in $POLICIES; do
		echo "| $(pname "$pol") | $(cell "${SP_T50[$pol]:-}") | $(cell "${SP_T90[$pol]:-}") | $(fmt "$(sim_ms "$(med "${SP_T90[$pol]:-}")" "$SP_TS")") | $(fmt "$(med "${SP_TPOT90[$pol]:-}")") | $(fmt "$(med "${SP_HIT[$pol]:-}")") % | ${SP_PODS[$pol]:-–} | ${SP_ERR[$pol]:-0} |"
	done
	echo
	echo "TTFT p90, scheduler / random: **$(fmt "$sp_ratio")×** (goal ≤ 0.1×: **$([ "$sp_met" = true ] && echo met || echo "not met")**);"
	echo "scheduler / round-robin $(fmt "$(ratio "$sp_x" "$(med "${SP_T90[round-robin]:-}")")")×, / least-request $(fmt "$(ratio "$sp_x" "$(med "${SP_T90[least-request]:-}")")")×, / HAProxy leastconn $(fmt "$(ratio "$sp_x" "$(med "${SP_T90[haproxy-leastconn]:-}")")")×."
	echo
	echo "**ShareGPT-like** (lognormal lengths: prompt mean 250 tokens, answer mean 200, ignore_eos): capacity $(cell "$CAPS") req/s"
	echo "(closed loop straight to each pod, $((2 * MAX_SEQS)) in flight each, completions between ${CAP_WARM} and ${CAP_END} s; $CAP_RUNS run(s)); open loop at ${SG_LOAD} × that = ${SG_QPS:-–} req/s,"
	echo "$SG_REQUESTS requests, stopped $SG_GRACE s after the last arrival (answers still streaming then are left out, the same for every policy)."
	echo
	echo "| policy | TPOT p50 ms | TPOT p90 ms | TPOT p90 sim ms | TTFT p90 ms | output tok/s | requests ended | requests per pod (round 1) | errors |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for pol in $POLICIES; do
		echo "| $(pname "$pol") | $(cell "${SG_P50[$pol]:-}") | $(cell "${SG_P90[$pol]:-}") | $(fmt "$(sim_ms "$(med "${SG_P90[$pol]:-}")" "$SG_TS")") | $(fmt "$(med "${SG_TTFT90[$pol]:-}")") | $(fmt "$(med "${SG_TPUT[$pol]:-}")") | $(fmt "$(med "${SG_ENDED[$pol]:-}")") | ${SG_PODS[$pol]:-–} | ${SG_ERR[$pol]:-0} |"
	done
	echo
	echo "p90 TPOT, scheduler / round-robin: **$(fmt "$sg_ratio")×** (goal ≤ 0.4×: **$([ "$sg_met" = true ] && echo met || echo "not met")**);"
	echo "scheduler / random $(fmt "$(ratio "$sg_x" "$(med "${SG_P90[random]:-}")")")×, / least-request $(fmt "$(ratio "$sg_x" "$(med "${SG_P90[least-request]:-}")")")×, / HAProxy leastconn $(fmt "$(ratio "$sg_x" "$(med "${SG_P90[haproxy-leastconn]:-}")")")×."
	[ -n "$plots" ] && echo && echo "Plots:$plots"
	echo
} >"$BENCH_RESULTS/row6.md"

points_sp='{}' points_sg='{}'
for pol in $POLICIES; do
	if [ -n "${SP_T90[$pol]:-}" ]; then
		p=$(jq -nc --argjson t50 "$(point_json ${SP_T50[$pol]})" --argjson t90 "$(point_json ${SP_T90[$pol]})" \
			--argjson tp "$(point_json ${SP_TPOT90[$pol]})" --argjson hit "$(point_json ${SP_HIT[$pol]})" \
			--arg pods "${SP_PODS[$pol]:-}" --argjson e "${SP_ERR[$pol]:-0}" \
			'{ttft_p50_ms: $t50, ttft_p90_ms: $t90, tpot_p90_ms: $tp, prefix_cache_hit_pct: $hit,
			  requests_per_pod_round1: ($pods | split("/") | map(select(. != "") | tonumber)), errors: $e}')
		points_sp=$(jq -c --arg k "$pol" --argjson p "$p" '.[$k] = $p' <<<"$points_sp")
	fi
	if [ -n "${SG_P90[$pol]:-}" ]; then
		p=$(jq -nc --argjson p50 "$(point_json ${SG_P50[$pol]})" --argjson p90 "$(point_json ${SG_P90[$pol]})" \
			--argjson t90 "$(point_json ${SG_TTFT90[$pol]})" --argjson tput "$(point_json ${SG_TPUT[$pol]})" \
			--argjson ended "$(point_json ${SG_ENDED[$pol]})" --arg pods "${SG_PODS[$pol]:-}" --argjson e "${SG_ERR[$pol]:-0}" \
			'{tpot_p50_ms: $p50, tpot_p90_ms: $p90, ttft_p90_ms: $t90, output_tokens_per_s: $tput, requests_ended: $ended,
			  requests_per_pod_round1: ($pods | split("/") | map(select(. != "") | tonumber)), errors: $e}')
		points_sg=$(jq -c --arg k "$pol" --argjson p "$p" '.[$k] = $p' <<<"$points_sg")
	fi
done
num() { if [ -z "$1" ] || [ "$1" = null ]; then echo null; else echo "$1"; fi; }
row_write --argjson sp "$points_sp" --argjson sg "$points_sg" --argjson cap "$(point_json $CAPS)" \
	--argjson spx "$(num "$sp_x")" --argjson spr "$(num "$sp_rand")" --argjson spratio "$(num "$sp_ratio")" --argjson spmet "$sp_met" \
	--argjson sgx "$(num "$sg_x")" --argjson sgr "$(num "$sg_rr")" --argjson sgratio "$(num "$sg_ratio")" --argjson sgmet "$sg_met" \
	--argjson rounds "$ROUNDS" --argjson quick "$([ -n "$QUICK" ] && echo true || echo false)" \
	--argjson groups "$SP_GROUPS" --argjson spq "$SP_QPS" --argjson sgq "$(num "$SG_QPS")" --argjson sgn "$SG_REQUESTS" \
	--argjson spts "$SP_TS" --argjson sgts "$SG_TS" --argjson kv "$KV_BLOCKS" --argjson seqs "$MAX_SEQS" \
	--argjson spout "$SP_OUT" --arg policies "$POLICIES" \
	'{row: "row6", title: "Routing quality", status: "measured",
	  config: {rounds: $rounds, quick: $quick, pods: 4, policies: ($policies | split(" ")),
	           vllm_sim: {max_num_seqs: $seqs, num_gpu_blocks: $kv, block_size: 16, max_model_len: 16384,
	                      prefill_us_per_token: 80, time_scale_shared_prefix: $spts, time_scale_sharegpt: $sgts},
	           shared_prefix: {groups: $groups, prompts_per_group: 5, system_tokens: 6000, question_tokens: 1200,
	                           output_tokens: $spout, qps: $spq},
	           sharegpt: {load: 0.85, qps: $sgq, requests: $sgn}},
	  points: {shared_prefix: $sp, sharegpt: ({capacity_rps: $cap} + $sg)},
	  plot: {ylabel: "shared-prefix TTFT p90 ms (median, min–max)",
	    bars: [$sp | to_entries[] | {label: .key, median: .value.ttft_p90_ms.median, min: .value.ttft_p90_ms.min,
	                                 max: .value.ttft_p90_ms.max}]},
	  summary: [
	   {metric: "shared-prefix TTFT p90 ms, scheduler / random", inferlb: $spx, peer: $spr, ratio: $spratio,
	    goal: "≤ 0.1×", met: $spmet},
	   {metric: "ShareGPT-like at 85% capacity p90 TPOT ms, scheduler / round-robin", inferlb: $sgx, peer: $sgr,
	    ratio: $sgratio, goal: "≤ 0.4×", met: $sgmet}]}'
