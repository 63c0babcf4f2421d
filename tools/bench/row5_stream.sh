#!/usr/bin/env bash
# row5_stream.sh - streaming cost: CPU seconds per million streamed tokens through the seed's
# gateway (responses redirected client-ward in the kernel by sk_skb_splice) vs HAProxy 2.6 and
# nginx 1.22 as plain reverse proxies, in front of the same four tools/vllm-sim pods, and vs
# the same load sent straight to the pods (the floor every path pays: the pods, loadgen, the
# node's forwarding).
#
# Load: loadgen closed loop, STREAMS concurrent SSE streams of TOKENS tokens each (ignore_eos,
# sharegpt-like prompts), WAVES x STREAMS requests per run. The pods run vllm-sim at its own
# pace (--time-scale 1): a decode step per ~20 ms at 64 sequences a pod, one `data: {...}` chunk
# per token per step, as vLLM writes them; a token is a chunk. The KV cache holds every stream.
#
# CPU per run, from the start of loadgen to its end, per 1M tokens received:
#   proc     the proxy's processes (agent, HAProxy, nginx master + worker): utime+stime from
#            /proc/PID/stat
#   kworker  the kernel's workqueue threads (utime+stime of every kworker): the sockmap's
#            redirect to a client socket's egress is sent from a kworker (sk_psock_backlog),
#            so part of the gateway's in-kernel forwarding is charged there
#   softirq  the softirq share of /proc/stat (all CPUs)
#   core     all busy time of the proxy's core (CPU_SUT's line of /proc/stat); l7_common.sh
#            has the node namespace's receive processing steered there (NODE_RPS), so the
#            kernel work a proxy causes in the node runs on that core with it
#   machine  all busy time of /proc/stat
# The direct run of each round is the floor: kworker, softirq, core and machine are reported
# above it. "proxy + kernel" = proc + kworker + softirq above the floor (the issue's method:
# the processes' CPU and the softirq share); "core added" = the proxy core's busy time above
# the floor, every cycle on it counted once. With tick-based accounting (no
# IRQ_TIME_ACCOUNTING) softirq run in a process's context is in its stime too, so "proxy +
# kernel" counts that twice, for every path alike. The goal is met only when both ratios are
# within it. "machine added" is shown too; it takes in the pods' and loadgen's variations.
#
# The gateway is measured twice in every round: on its sockmap path (the default) and on its
# splice(2) pipe path (the agent restarted with --splice pipe: every response byte goes pod
# socket -> pipe -> client socket through the agent, the path of kernels whose sockmap cannot
# be used), with the same load and the same CPU accounting, against the same round's floor.
# The agent is restarted between the two (outside any measured run); its order in a round is
# direct, gateway (sockmap), gateway (pipe), HAProxy, nginx.
#
# Time to first token added by the gateway (light load, after the streaming rounds, TTFT_ROUNDS
# rounds): loadgen closed loop at concurrency 1, TTFT_REQS streamed requests, every one the same
# short prompt (shared-prefix with one group of one prompt, 32 + 32 tokens, every pod's prefix
# cache warmed with it first, so each pod's prefill is the same few uncached tokens) and 2
# output tokens; each round straight to pod 1, through the gateway (sockmap path) and through
# HAProxy in turn. TTFT is loadgen's, to the first SSE chunk with content (one decode step of
# vllm-sim, ~10 ms, after the request arrives). Added = gateway TTFT p99 - direct TTFT p99 of
# the same round, in ms; the summary is the median over rounds (goal < 1 ms), HAProxy's added
# TTFT is the peer.
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
b_init row5

ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
NPODS=4
STREAMS=${STREAMS:-256}
TOKENS=${TOKENS:-$([ -n "$QUICK" ] && echo 300 || echo 500)}
WAVES=${WAVES:-$([ -n "$QUICK" ] && echo 1 || echo 2)}
TIME_SCALE=${TIME_SCALE:-1}
GOAL=0.2
TITLE="Streaming cost"
CONFIGS="direct inferlb inferlb_pipe haproxy nginx"
PODS=$(seq 1 $NPODS)
TTFT_ROUNDS=${TTFT_ROUNDS:-$ROUNDS}
TTFT_REQS=${TTFT_REQS:-200}
TTFT_GOAL=1

# base CONFIG: the configuration whose address and processes CONFIG uses (the pipe path is the
# same gateway, the agent started with --splice pipe).
base() { [ "$1" = inferlb_pipe ] && echo inferlb || echo "$1"; }

# sim_pod_start I: vllm-sim in pod I on 198.19.I.2:8000, on CPU_GEN with the load generator;
# a KV cache large enough (16,384 blocks) that every stream a pod gets decodes at once.
sim_pod_start() {
	local i=$1
	bg "sim$i" taskset -c "$CPU_GEN" ip netns exec "${B_PREFIX}p$i" "$BUILD/vllm-sim" --host "198.19.$i.2" \
		--port 8000 --model "$MODEL" --max-model-len 8192 --num-gpu-blocks 16384 --time-scale "$TIME_SCALE" --seed "$i"
	wait_for 10 np "$i" curl -sf -m 1 -o /dev/null "http://198.19.$i.2:8000/health"
}

# kworker_snap FILE: "pid ticks" (utime+stime) of every kernel workqueue thread.
# kworker_delta BEFORE AFTER: their ticks in between, per pid (a kworker that was not there
# before counts whole; one that exited meanwhile takes its ticks with it, so this is a floor).
kworker_snap() {
	cat /proc/[0-9]*/stat 2>/dev/null | awk '$2 ~ /^\(kworker\// { print $1, $14 + $15 }' >"$1"
}
kworker_delta() {
	awk 'NR == FNR { t0[$1] = $2; next } { d = $2 - ($1 in t0 ? t0[$1] : 0); t += d < 0 ? $2 : d }
		END { printf "%d\n", t }' "$1" "$2"
}

# core_ticks CPU: busy clock ticks of one CPU (user nice system irq softirq steal).
core_ticks() {
	awk -v c="cpu$1" '$1 == c { printf "%d\n", $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat
}

# wakeups PID...: voluntary context switches of the processes' threads (each time one slept
# and was woken again).
wakeups() {
	local t=0 pid v
	for pid in "$@"; do
		v=$(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { t += $2 } END { printf "%d", t }')
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# stream_load CONFIG JSON: the streams through CONFIG (direct: a quarter to each pod, one loadgen
# each), loadgen pinned to CPU_GEN; writes loadgen's summary to JSON (direct: the sums).
stream_load() {
	local cfg=$1 out=$2 i pids=() n=$((STREAMS * WAVES))
	local args=(--host "$GW_HOST" --model "$MODEL" --workload sharegpt-like --output-tokens "$TOKENS"
		--ignore-eos --stream --timeout 120 --quiet)
	if [ "$cfg" = direct ]; then
		for i in $PODS; do
			taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --url "http://198.19.$i.2:8000/v1/chat/completions" \
				"${args[@]}" --seed "$i" --concurrency $((STREAMS / NPODS)) --requests $((n / NPODS)) \
				--json "$out.$i" >"$B_LOG/loadgen-direct-$i.log" 2>&1 &
			pids+=($!)
		done
		wait "${pids[@]}"
		jq -sc '{tokens: {output: (map(.tokens.output) | add)}, bytes: {received: (map(.bytes.received) | add)},
			requests: {ok: (map(.requests.ok) | add), failed: (map(.requests.failed) | add)},
			duration_s: (map(.duration_s) | max), tpot_ms: {p50: (map(.tpot_ms.p50) | max), p99: (map(.tpot_ms.p99) | max)}}' \
			$(for i in $PODS; do echo "$out.$i"; done) >"$out" 2>/dev/null
	else
		taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --url "$(l7_url "$(base "$cfg")")" "${args[@]}" --seed 1 \
			--concurrency "$STREAMS" --requests "$n" --json "$out" >"$B_LOG/loadgen-$cfg.log" 2>&1
	fi
}

# agent_mode sockmap|pipe: the agent on that response path (restarted when it is on the other).
AGENT_MODE=
agent_mode() {
	[ "$AGENT_MODE" = "$1" ] && return 0
	if [ -n "${PID_agent:-}" ]; then
		agent_stop
		rm -f "$SOCK"
	fi
	AGENT_MODE=
	if [ "$1" = pipe ]; then l7_agent_start --splice pipe; else l7_agent_start; fi || return 1
	l7_ready inferlb "$BODY" || return 1
	AGENT_MODE=$1
}

# ttft_load CONFIG JSON [REQUESTS] [URL]: light streaming load for TTFT through CONFIG (direct:
# pod 1, or URL), closed loop at concurrency 1, the same short prompt every time, 2 tokens.
ttft_load() {
	local cfg=$1 out=$2 n=${3:-$TTFT_REQS} url=${4:-}
	[ -n "$url" ] || url=$(l7_url "$cfg")
	taskset -c "$CPU_GEN" "$BUILD/loadgen" --netns "$NS_C" --url "$url" --host "$GW_HOST" --model "$MODEL" \
		--workload shared-prefix --groups 1 --prompts-per-group 1 --system-tokens 32 --question-tokens 32 \
		--output-tokens 2 --ignore-eos --stream --concurrency 1 --requests "$n" --timeout 30 --seed 7 --quiet \
		--json "$out" >"$B_LOG/loadgen-ttft-$cfg.log" 2>&1
}

topology_up $NPODS || { row_not_measured row5 "$TITLE" "could not build the namespaces"; exit 0; }
for i in $PODS; do sim_pod_start "$i" || { row_not_measured row5 "$TITLE" "vllm-sim pod $i did not start"; exit 0; }; done
pool_manifest qwen "" "$MANIFESTS/pool.yaml" $PODS
BODY=$B_LOG/body.json
printf '%s' '{"model": "'"$MODEL"'", "messages": [{"role": "user", "content": "Explain Kubernetes in one sentence."}], "max_tokens": 8, "stream": true}' >"$BODY"
agent_mode sockmap || { row_not_measured row5 "$TITLE" "the agent did not start: $(tail -3 "$B_LOG/agent.log")"; exit 0; }
haproxy_start $PODS || { row_not_measured row5 "$TITLE" "HAProxy did not start: $(tail -3 "$B_LOG/haproxy.log")"; exit 0; }
nginx_proxy_start $PODS || { row_not_measured row5 "$TITLE" "nginx did not start: $(tail -3 "$B_LOG/nginxproxy.log")"; exit 0; }
for cfg in $L7_CONFIGS; do
	l7_ready "$cfg" "$BODY" || { row_not_measured row5 "$TITLE" "$cfg does not answer"; exit 0; }
done

# per SECONDS: SECONDS of CPU per 1M of the run's tokens ($toks)
per() { awk -v c="$1" -v n="$toks" 'BEGIN { printf "%.4f", c * 1e6 / n }'; }
minus() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.4f", a - b }'; }
ticks_s() { awk -v t="$1" -v hz="$HZ" 'BEGIN { printf "%.3f", (t < 0 ? 0 : t) / hz }'; }

# Per configuration, one value per round, in s per 1M tokens: P_PROC proxy processes; P_KW
# kworkers, P_SI softirq, P_CORE the proxy core's busy time, P_MACH machine busy (direct: the
# floor itself; proxies: above the floor of the same round); P_SUM proc + kworker + softirq
# above the floor. Also P_RATE tokens/s, P_TPOT50/99 ms, P_BPT bytes received per token,
# P_WAKE the proxy's wakeups per 1k tokens, ERRS failed requests.
declare -A P_PROC P_KW P_SI P_CORE P_SUM P_MACH P_TPOT50 P_TPOT99 P_BPT P_TOKS P_RATE P_WAKE ERRS
for r in $(seq 1 "$ROUNDS"); do
	floor=
	for cfg in $CONFIGS; do
		out=$B_LOG/$cfg.$r.json
		rm -f "$out"
		case $cfg in
		inferlb) agent_mode sockmap ;;
		inferlb_pipe) agent_mode pipe ;;
		*) true ;;
		esac || {
			log "row5 round $r $cfg: the agent did not start on that path: $(tail -2 "$B_LOG/agent.log" | tr '\n' ' ')"
			ERRS[$cfg]=$((${ERRS[$cfg]:-0} + STREAMS * WAVES))
			continue
		}
		w0=$(wakeups $(sut_pids "$(base "$cfg")"))
		kworker_snap "$B_LOG/kw0"
		c0=$(core_ticks "$CPU_SUT")
		cpu_begin "$(base "$cfg")"
		stream_load "$cfg" "$out"
		cpu=$(cpu_end "$(base "$cfg")")
		c1=$(core_ticks "$CPU_SUT")
		kworker_snap "$B_LOG/kw1"
		w1=$(wakeups $(sut_pids "$(base "$cfg")"))
		read -r proc si busy wall <<<"$cpu"
		kw=$(ticks_s "$(kworker_delta "$B_LOG/kw0" "$B_LOG/kw1")")
		core=$(ticks_s $((c1 - c0)))
		toks=$(jq -r '.tokens.output // 0' "$out" 2>/dev/null) || toks=0
		failed=$(jq -r '.requests.failed // 0' "$out" 2>/dev/null) || failed=
		[ -z "$failed" ] && failed=$((STREAMS * WAVES)) # no summary: every request counts as failed
		ERRS[$cfg]=$((${ERRS[$cfg]:-0} + failed))
		log "row5 round $r $cfg: ${toks:-0} tokens in ${wall}s, failed $failed; proc ${proc}s kworker ${kw}s softirq ${si}s core $CPU_SUT ${core}s machine ${busy}s; wakeups $((w1 - w0)); TPOT p50 $(jq -r '.tpot_ms.p50' "$out" 2>/dev/null) ms"
		[ "${toks:-0}" -gt 0 ] || continue
		P_TOKS[$cfg]+="$toks "
		P_RATE[$cfg]+="$(awk -v n="$toks" -v w="$wall" 'BEGIN { printf "%.0f", n / w }') "
		P_TPOT50[$cfg]+="$(jq -r '.tpot_ms.p50' "$out") "
		P_TPOT99[$cfg]+="$(jq -r '.tpot_ms.p99' "$out") "
		P_BPT[$cfg]+="$(jq -r --argjson n "$toks" '.bytes.received / $n | . * 10 | round / 10' "$out") "
		if [ "$cfg" = direct ]; then
			read -r f_kw f_si f_core f_mach <<<"$(per "$kw") $(per "$si") $(per "$core") $(per "$busy")"
			floor=1
			P_KW[$cfg]+="$f_kw " P_SI[$cfg]+="$f_si " P_CORE[$cfg]+="$f_core " P_MACH[$cfg]+="$f_mach "
			continue
		fi
		[ -n "$floor" ] || continue # no floor this round: nothing to subtract from
		P_PROC[$cfg]+="$(per "$proc") "
		P_WAKE[$cfg]+="$(awk -v w=$((w1 - w0)) -v n="$toks" 'BEGIN { printf "%.1f", w * 1000 / n }') "
		dkw=$(minus "$(per "$kw")" "$f_kw")
		dsi=$(minus "$(per "$si")" "$f_si")
		P_KW[$cfg]+="$dkw " P_SI[$cfg]+="$dsi "
		P_SUM[$cfg]+="$(awk -v a="$(per "$proc")" -v b="$dkw" -v c="$dsi" 'BEGIN { printf "%.4f", a + b + c }') "
		P_CORE[$cfg]+="$(minus "$(per "$core")" "$f_core") "
		P_MACH[$cfg]+="$(minus "$(per "$busy")" "$f_mach") "
	done
done

# ---- time to first token at light load: direct, gateway (sockmap path), HAProxy ----
# T_P50/T_P99 TTFT ms per round, T_ADD the round's p99 above direct's, T_ERRS failed requests.
declare -A T_P50 T_P99 T_ADD T_ERRS
if agent_mode sockmap; then
	# the prompt in every pod's prefix cache, and the paths' connections open, before any timing
	for i in $PODS; do ttft_load warm "$B_LOG/ttft-warm$i.json" 2 "http://198.19.$i.2:8000/v1/chat/completions"; done
	for cfg in inferlb haproxy; do ttft_load "$cfg" "$B_LOG/ttft-warm-$cfg.json" 8; done
	for r in $(seq 1 "$TTFT_ROUNDS"); do
		declare -A R99=()
		for cfg in direct inferlb haproxy; do
			out=$B_LOG/ttft-$cfg.$r.json
			rm -f "$out"
			ttft_load "$cfg" "$out"
			failed=$(jq -r '.requests.failed // empty' "$out" 2>/dev/null) || failed=
			[ -z "$failed" ] && failed=$TTFT_REQS # no summary: every request counts as failed
			T_ERRS[$cfg]=$((${T_ERRS[$cfg]:-0} + failed))
			n=$(jq -r '.ttft_ms.n // 0' "$out" 2>/dev/null) || n=0
			log "row5 TTFT round $r $cfg: $n requests timed, failed $failed; TTFT p50 $(jq -r '.ttft_ms.p50' "$out" 2>/dev/null) p99 $(jq -r '.ttft_ms.p99' "$out" 2>/dev/null) ms"
			[ "${n:-0}" -gt 0 ] || continue
			R99[$cfg]=$(jq -r '.ttft_ms.p99' "$out")
			T_P99[$cfg]+="${R99[$cfg]} "
			T_P50[$cfg]+="$(jq -r '.ttft_ms.p50' "$out") "
		done
		for cfg in inferlb haproxy; do
			[ -n "${R99[direct]:-}" ] && [ -n "${R99[$cfg]:-}" ] &&
				T_ADD[$cfg]+="$(minus "${R99[$cfg]}" "${R99[direct]}") "
		done
	done
else
	log "row5 TTFT: the agent did not start on its sockmap path: $(tail -2 "$B_LOG/agent.log" | tr '\n' ' ')"
fi

med_of() { stat3 ${1:-} | cut -d' ' -f1; }
# pos_ratio A B: A / B, null when B is not above 0 (a peer within the noise of the floor gives no ratio)
pos_ratio() { awk -v b="$2" 'BEGIN { exit !(b != "" && b != "null" && b + 0 > 0) }' && ratio "$1" "$2" || echo null; }
sx=$(med_of "${P_SUM[inferlb]:-}") sh=$(med_of "${P_SUM[haproxy]:-}") sn=$(med_of "${P_SUM[nginx]:-}")
cx=$(med_of "${P_CORE[inferlb]:-}") ch=$(med_of "${P_CORE[haproxy]:-}") cn=$(med_of "${P_CORE[nginx]:-}")
r_sum=$(pos_ratio "$sx" "$sh")
r_core=$(pos_ratio "$cx" "$ch")
# met only when both views agree; the gateway at or below the floor counts as within the goal
met=$(awk -v a="$r_sum" -v b="$r_core" -v g="$GOAL" 'BEGIN { print (a != "null" && b != "null" && a <= g && b <= g) ? "true" : "false" }')
# the gateway on its splice(2) pipe path, judged the same way
spx=$(med_of "${P_SUM[inferlb_pipe]:-}") cpx=$(med_of "${P_CORE[inferlb_pipe]:-}")
rp_sum=$(pos_ratio "$spx" "$sh")
rp_core=$(pos_ratio "$cpx" "$ch")
met_pipe=$(awk -v a="$rp_sum" -v b="$rp_core" -v g="$GOAL" 'BEGIN { print (a != "null" && b != "null" && a <= g && b <= g) ? "true" : "false" }')
# TTFT added at light load: median over rounds of (path p99 - direct p99); met below the goal
# with no failed request through the gateway
tx=$(med_of "${T_ADD[inferlb]:-}") th=$(med_of "${T_ADD[haproxy]:-}")
met_ttft=$(awk -v a="$tx" -v e="${T_ERRS[inferlb]:-0}" -v g="$TTFT_GOAL" 'BEGIN { print (a != "" && e == 0 && a < g) ? "true" : "false" }')
runs_note=$([ "$ROUNDS" -eq 1 ] && echo "1 run per configuration (BENCH_QUICK: a smoke figure, not a median)" ||
	echo "median of $ROUNDS runs (min–max), configurations in turn within each round")
cell() { [ -z "${1:-}" ] && echo – || fmt3 "$(stat3 $1)"; }

{
	echo "### 5. Streaming cost: CPU per million streamed tokens"
	echo
	echo "$STREAMS concurrent SSE streams of $TOKENS tokens (chat completions, ignore_eos; $((STREAMS * WAVES)) requests per run, loadgen closed loop)"
	echo "from four tools/vllm-sim pods at their own pace (--time-scale $TIME_SCALE, one \`data: {...}\` chunk per token; a token is a chunk)."
	echo "Proxy on CPU $CPU_SUT (agent, HAProxy nbthread 1, nginx 1 worker)${NODE_RPS:+ with the receive processing of the node namespace (RPS)}; loadgen and pods on CPU $CPU_GEN. $runs_note."
	echo "CPU seconds per 1M tokens received over each run: the proxy's processes (/proc/PID/stat utime+stime), every kworker"
	echo "(the sockmap's redirect to a client socket is sent from a workqueue), softirq, the proxy's core and the machine (/proc/stat)."
	echo "The \"direct\" row is the floor every path pays (the same load straight to the pods: pods, loadgen, forwarding);"
	echo "the other rows' kworker, softirq, core and machine columns are what they add above it in the same round."
	echo
	echo "| path | tokens/s | proxy processes | + kworker | + softirq | **proxy + kernel** | **core $CPU_SUT added** | machine added | wakeups / 1k tok | TPOT p50 / p99 ms | bytes/token | errors |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for cfg in $CONFIGS; do
		case $cfg in
		direct) name="direct to pods (floor)" ;; inferlb) name="inferlb gateway (sockmap)" ;;
		inferlb_pipe) name="inferlb gateway (splice(2) pipe path)" ;;
		haproxy) name="HAProxy 2.6" ;; nginx) name="nginx 1.22" ;;
		esac
		echo "| $name | $(fmt "$(med_of "${P_RATE[$cfg]:-}")") | $(cell "${P_PROC[$cfg]:-}") | $(cell "${P_KW[$cfg]:-}") | $(cell "${P_SI[$cfg]:-}") | $(cell "${P_SUM[$cfg]:-}") | $(cell "${P_CORE[$cfg]:-}") | $(cell "${P_MACH[$cfg]:-}") | $(fmt "$(med_of "${P_WAKE[$cfg]:-}")") | $(fmt "$(med_of "${P_TPOT50[$cfg]:-}")") / $(fmt "$(med_of "${P_TPOT99[$cfg]:-}")") | $(fmt "$(med_of "${P_BPT[$cfg]:-}")") | ${ERRS[$cfg]:-0} |"
	done
	echo
	echo "Gateway / HAProxy: proxy + kernel **$(fmt "$r_sum")×**, core $CPU_SUT added **$(fmt "$r_core")×** (goal ≤ $GOAL× on both: **$([ "$met" = true ] && echo met || echo "not met")**);"
	echo "Gateway on its splice(2) pipe path (\`--splice pipe\`) / HAProxy: proxy + kernel **$(fmt "$rp_sum")×**, core $CPU_SUT added **$(fmt "$rp_core")×** (goal ≤ $GOAL× on both: **$([ "$met_pipe" = true ] && echo met || echo "not met")**)."
	echo "gateway / nginx: $(fmt "$(pos_ratio "$sx" "$sn")")× and $(fmt "$(pos_ratio "$cx" "$cn")")×; pipe path / nginx: $(fmt "$(pos_ratio "$spx" "$sn")")× and $(fmt "$(pos_ratio "$cpx" "$cn")")×."
	echo "Softirq run in a process's context is in its stime too (tick accounting), so \"proxy + kernel\" counts it twice for every"
	echo "path alike; the core and machine columns count every cycle once but take in whatever else ran there meanwhile (a ratio"
	echo "is given only when the peer's figure is above 0)."
	echo
	echo "**Time to first token at light load.** loadgen closed loop, concurrency 1, $TTFT_REQS streamed requests per run, the same"
	echo "64-token prompt every time (in every pod's prefix cache beforehand) and 2 output tokens; TTFT to the first content chunk"
	echo "(one ~10 ms vllm-sim decode step after arrival). Each round: straight to pod 1, through the gateway (sockmap path), through HAProxy;"
	echo "$([ "$TTFT_ROUNDS" -eq 1 ] && echo "1 round (BENCH_QUICK: a smoke figure)" || echo "median of $TTFT_ROUNDS rounds (min–max)"). Added = the path's p99 − direct p99 of the same round."
	echo
	echo "| path | TTFT p50 ms | TTFT p99 ms | added p99 ms | errors |"
	echo "| --- | --- | --- | --- | --- |"
	for cfg in direct inferlb haproxy; do
		case $cfg in
		direct) name="direct to pod 1" ;; inferlb) name="inferlb gateway (sockmap)" ;; haproxy) name="HAProxy 2.6" ;;
		esac
		echo "| $name | $(cell "${T_P50[$cfg]:-}") | $(cell "${T_P99[$cfg]:-}") | $([ "$cfg" = direct ] && echo – || cell "${T_ADD[$cfg]:-}") | ${T_ERRS[$cfg]:-0} |"
	done
	echo
	echo "TTFT added by the gateway, p99: **$(fmt "$tx") ms** (goal < $TTFT_GOAL ms: **$([ "$met_ttft" = true ] && echo met || echo "not met")**); HAProxy adds $(fmt "$th") ms."
	echo
} >"$BENCH_RESULTS/row5.md"

points='{}'
for cfg in $CONFIGS; do
	[ -z "${P_TOKS[$cfg]:-}" ] && continue
	p=$(jq -nc --argjson proc "$(point_json ${P_PROC[$cfg]:-})" --argjson kw "$(point_json ${P_KW[$cfg]:-})" \
		--argjson si "$(point_json ${P_SI[$cfg]:-})" --argjson sum "$(point_json ${P_SUM[$cfg]:-})" \
		--argjson core "$(point_json ${P_CORE[$cfg]:-})" --argjson mach "$(point_json ${P_MACH[$cfg]:-})" \
		--argjson wake "$(point_json ${P_WAKE[$cfg]:-})" \
		--argjson rate "$(point_json ${P_RATE[$cfg]})" --argjson toks "$(point_json ${P_TOKS[$cfg]})" \
		--argjson t50 "$(point_json ${P_TPOT50[$cfg]})" --argjson t99 "$(point_json ${P_TPOT99[$cfg]})" \
		--argjson bpt "$(point_json ${P_BPT[$cfg]})" --argjson e "${ERRS[$cfg]:-0}" --arg cfg "$cfg" \
		'def opt: if .median == null then null else . end;
		 {tokens: $toks, tokens_per_s: $rate, tpot_p50_ms: $t50, tpot_p99_ms: $t99, bytes_per_token: $bpt, errors: $e}
		 + (if $cfg == "direct" then
		     {floor_cpu_s_per_mtok: {kworker: $kw, softirq: $si, proxy_core: $core, machine: $mach}}
		   else
		     {cpu_s_per_mtok: {proc: ($proc | opt), kworker_added: ($kw | opt), softirq_added: ($si | opt),
		                       proxy_kernel: ($sum | opt), proxy_core_added: ($core | opt), machine_added: ($mach | opt)},
		      wakeups_per_ktok: ($wake | opt)}
		   end)')
	points=$(jq -c --arg k "$cfg" --argjson p "$p" '.[$k] = $p' <<<"$points")
done
num() { if [ -z "$1" ] || [ "$1" = null ]; then echo null; else echo "$1"; fi; }
ttft='{}'
for cfg in direct inferlb haproxy; do
	p=$(jq -nc --argjson p50 "$(point_json ${T_P50[$cfg]:-})" --argjson p99 "$(point_json ${T_P99[$cfg]:-})" \
		--argjson add "$(point_json ${T_ADD[$cfg]:-})" --argjson e "${T_ERRS[$cfg]:-0}" --arg cfg "$cfg" \
		'def opt: if .median == null then null else . end;
		 {ttft_p50_ms: ($p50 | opt), ttft_p99_ms: ($p99 | opt), errors: $e}
		 + (if $cfg == "direct" then {} else {added_p99_ms: ($add | opt)} end)')
	ttft=$(jq -c --arg k "$cfg" --argjson p "$p" '.[$k] = $p' <<<"$ttft")
done
row_write --argjson points "$points" --argjson sx "$(num "$sx")" --argjson sh "$(num "$sh")" --argjson sn "$(num "$sn")" \
	--argjson cx "$(num "$cx")" --argjson ch "$(num "$ch")" --argjson rs "$(num "$r_sum")" --argjson rc "$(num "$r_core")" \
	--argjson rsn "$(num "$(pos_ratio "$sx" "$sn")")" --argjson met "$met" --argjson rounds "$ROUNDS" \
	--argjson spx "$(num "$spx")" --argjson rps "$(num "$rp_sum")" --argjson mp "$met_pipe" \
	--argjson ttft "$ttft" --argjson tx "$(num "$tx")" --argjson th "$(num "$th")" \
	--argjson rt "$(num "$(pos_ratio "$tx" "$th")")" --argjson mt "$met_ttft" \
	--argjson trounds "$TTFT_ROUNDS" --argjson treqs "$TTFT_REQS" \
	--argjson streams "$STREAMS" --argjson tokens "$TOKENS" --argjson waves "$WAVES" --arg ts "$TIME_SCALE" \
	--argjson quick "$([ -n "$QUICK" ] && echo true || echo false)" \
	--arg cores "proxy CPU $CPU_SUT${NODE_RPS:+ (and the receive processing of the node namespace, RPS)}; loadgen, pods CPU $CPU_GEN" \
	'{row: "row5", title: "Streaming cost", status: "measured",
	  config: {rounds: $rounds, quick: $quick, streams: $streams, tokens_per_stream: $tokens,
	           requests_per_run: ($streams * $waves), pods: 4, vllm_sim_time_scale: ($ts | tonumber), cores: $cores},
	  points: $points,
	  ttft: {rounds: $trounds, requests_per_run: $treqs, concurrency: 1, prompt_tokens: 64, output_tokens: 2,
	         direct: "pod 1", paths: $ttft},
	  plot: {ylabel: "CPU s / 1M tokens, proxy + kernel",
	    bars: [["inferlb", "gateway"], ["inferlb_pipe", "gateway (pipe)"], ["haproxy", "HAProxy"], ["nginx", "nginx"]]
	      | map(. as [$k, $l] | ($points[$k].cpu_s_per_mtok.proxy_kernel // null) as $p | select($p != null)
	        | {label: $l, median: $p.median, min: $p.min, max: $p.max})},
	  summary: [
	   {metric: "CPU s per 1M streamed tokens, proxy + kernel (proc + kworker + softirq above the direct floor), gateway / HAProxy",
	    inferlb: $sx, peer: $sh, ratio: $rs, goal: "≤ 0.2×", met: $met},
	   {metric: "CPU s per 1M streamed tokens, the proxy core busy above the direct floor, gateway / HAProxy",
	    inferlb: $cx, peer: $ch, ratio: $rc, goal: "≤ 0.2×", met: $met},
	   {metric: "CPU s per 1M streamed tokens, proxy + kernel, gateway / nginx", inferlb: $sx, peer: $sn,
	    ratio: $rsn, goal: "–", met: null},
	   {metric: "CPU s per 1M streamed tokens, proxy + kernel, gateway (pipe path) / HAProxy",
	    inferlb: $spx, peer: $sh, ratio: $rps, goal: "≤ 0.2×", met: $mp},
	   {metric: "TTFT added over direct, p99 ms, light load (concurrency 1, streaming; gateway; HAProxy as peer)",
	    inferlb: $tx, peer: $th, ratio: $rt, goal: "< 1 ms", met: $mt}]}'
