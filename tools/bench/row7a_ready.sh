#!/usr/bin/env bash
# row7a_ready.sh - row 7 (a), pod Ready -> routable: one pod of pool qwen (no other ready
# pod; EXTRA_POOLS other pools beside it) flips NotReady -> Ready, in the manifests source
# (its YAML rewritten and renamed into place) and in the Kubernetes source (applied on
# tools/fake-apiserver, watched by the agent over HTTPS). Timed from the change to: the pod in
# the kernel's ready set (pinned maps), a fresh SYN through the L4 VIP answered, a request
# through the L7 gateway answered 200. Floor: the same change reaching an independent watcher
# (inotify / a watch stream of its own). Apart: a few samples with the pod's neighbour entry
# deleted before each Ready. `row7-probe ready` does the timing.
# SAMPLES, COLD_SAMPLES, EXTRA_POOLS override (and control_common.sh's ROUNDS, AGENT_ARGS).
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
source "$(dirname "$0")/control_common.sh"
control_init a || exit 0

SAMPLES=${SAMPLES:-$([ -n "$QUICK" ] && echo 20 || echo 60)}
COLD_SAMPLES=${COLD_SAMPLES:-$([ -n "$QUICK" ] && echo 4 || echo 10)}
EXTRA_POOLS=${EXTRA_POOLS:-3}
GOAL_MS=100

control_need inferlb-agent inferlb fake-apiserver row7-probe
topology_up 3 || part_not_measured "could not build the namespaces"
for i in 1 2 3; do nginx_pod_start "$i" || part_not_measured "pod $i did not start"; done

pool_only_manifest() { # FILE: pool qwen (L4 VIP too) with no pods; its pods come from elsewhere
	local f=$1
	pool_manifest qwen "$VIP:80" "$f"
}
# extra_pools DIR: EXTRA_POOLS other pools, two ready pods each (pods 2 and 3), as a node
# serving several models has; every membership change republishes each pool.
extra_pools() {
	local k
	for k in $(seq 1 "$EXTRA_POOLS"); do pool_manifest "model$k" "" "$1/model$k.yaml" 2 3; done
}

# A_P50/A_P99[mode.metric]: per-run p50 / p99 lists; A_ALL[mode.metric]: every sample.
declare -A A_P50 A_P99 A_ALL A_TMO A_L7ERR
a_run() { # a_run KEY SOURCE RUN SAMPLES ARGS...: one run of the probe; its lines in $B_LOG/a.KEY.RUN.jsonl
	local mode=$1 src=$2 run=$3 n=$4 out=$B_LOG/a.$1.$3.jsonl m vals tmo
	shift 4
	fgwait nn_host taskset -c "$CPU_GEN" "$PROBE" ready --mode "$src" "$@" --pin-dir "$PIN_DIR" --pool default/qwen \
		--pod qwen-1 --pod-ip 198.19.1.2 --app qwen --client-netns "/run/netns/$NS_C" \
		--vip "$VIP" --vip-port 80 --gw "$GW" --gw-port "$GW_PORT" --host "$GW_HOST" --model "$MODEL" \
		--samples "$n" --timeout 3 >"$out" 2>"$B_LOG/a.$mode.$run.err" ||
		{ log "row7 (a) $mode run $run: $(tail -2 "$B_LOG/a.$mode.$run.err")"; return 1; }
	for m in noticed kernel l4 l7 routable down; do
		# a sample that never got there counts as the timeout (3 s): p99 cannot hide it
		if [ "$m" = routable ]; then
			vals=$(jq -r 'select(.error == null) | [.kernel_ms, .l4_ms, .l7_ms] | if any(. == null) then 3000 else max end' "$out")
			tmo=$(jq -r 'select(.error == null) | select([.kernel_ms, .l4_ms, .l7_ms] | any(. == null)) | 1' "$out" | wc -l)
		else
			vals=$(jq -r "select(.error == null) | .${m}_ms // 3000" "$out")
			tmo=$(jq -r "select(.error == null and .${m}_ms == null) | 1" "$out" | wc -l)
		fi
		tmo=$((tmo + $(jq -r 'select(.error != null) | 1' "$out" | wc -l)))
		A_P50[$mode.$m]+="$(pct 50 $vals) "
		A_P99[$mode.$m]+="$(pct 99 $vals) "
		A_ALL[$mode.$m]+="$vals "
		A_TMO[$mode.$m]=$((${A_TMO[$mode.$m]:-0} + tmo))
	done
	A_L7ERR[$mode]=$((${A_L7ERR[$mode]:-0} + $(jq -r 'select(.l7_errors != null) | .l7_errors[]' "$out" | wc -l)))
	local q=""
	for m in noticed kernel l4 l7; do
		vals=$(jq -r ".${m}_ms // 3000" "$out")
		q+=" $m $(pct 50 $vals)/$(pct 99 $vals)"
	done
	log "row7 (a) $mode run $run: $(wc -l <"$out") samples; p50/p99 ms$q"
}

certs_make
mkdir -p "$B_LOG/kube"
pool_only_manifest "$B_LOG/kube/pool.yaml"
gateway_manifest "$B_LOG/kube/gateway.yaml"
extra_pools "$B_LOG/kube"
rm -f "$MANIFESTS"/*
pool_only_manifest "$MANIFESTS/pool.yaml"
gateway_manifest "$MANIFESTS/gateway.yaml"
extra_pools "$MANIFESTS"
for r in $(seq 1 "$ROUNDS"); do
	# manifests: the agent as `make demo` and the bench's other rows run it
	rm -f "$MANIFESTS/pod.yaml"
	if l7_agent_start $AGENT_ARGS; then
		a_run manifests manifests "$r" "$SAMPLES" --file "$MANIFESTS/pod.yaml"
		# a pod whose address the node has not resolved yet (no readiness probe from
		# the node before Ready, for instance): the L4 lane needs its MAC first
		[ "$r" = 1 ] && [ "$COLD_SAMPLES" -gt 0 ] &&
			a_run cold manifests "$r" "$COLD_SAMPLES" --file "$MANIFESTS/pod.yaml" --cold-neigh pod1
	else
		log "row7 (a): the agent did not start: $(tail -3 "$B_LOG/agent.log")"
	fi
	agent_stop
	cp "$B_LOG/agent.log" "$B_LOG/agent.a.manifests.$r.log" 2>/dev/null
	# Kubernetes: the agent lists and watches fake-apiserver over HTTPS
	if fas_start "$B_LOG/kube" 5; then
		kube_agent_start
		if wait_for 10 test -S "$SOCK" && wait_for 10 bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j | jq -e '.sources[0].synced'"; then
			a_run kube kube "$r" "$SAMPLES" --admin "http://127.0.0.1:$ADMIN_PORT" --api "https://127.0.0.1:$API_PORT" \
				--token "$B_LOG/certs/token" --ca "$B_LOG/certs/ca.crt"
		else
			log "row7 (a): the agent did not sync with fake-apiserver: $(tail -3 "$B_LOG/agent.log")"
		fi
		agent_stop
		cp "$B_LOG/agent.log" "$B_LOG/agent.a.kube.$r.log" 2>/dev/null
	else
		log "row7 (a): fake-apiserver did not start: $(tail -3 "$B_LOG/fas.log")"
	fi
	stop fas
done

# ---- results ----

a_json='{}'
for mode in manifests kube cold; do
	for m in noticed kernel l4 l7 routable down; do
		[ -z "${A_P99[$mode.$m]:-}" ] && continue
		a_json=$(jq -c --arg k "$mode" --arg m "$m" --argjson p50 "$(point_json ${A_P50[$mode.$m]})" \
			--argjson p99 "$(point_json ${A_P99[$mode.$m]})" --arg a50 "$(pct 50 ${A_ALL[$mode.$m]})" \
			--arg a99 "$(pct 99 ${A_ALL[$mode.$m]})" --argjson n "$(echo ${A_ALL[$mode.$m]} | wc -w)" \
			--argjson tmo "${A_TMO[$mode.$m]:-0}" \
			'.[$k][$m] = {p50_ms: $p50, p99_ms: $p99, all_samples: {n: $n, p50_ms: ($a50 | tonumber? // null),
			  p99_ms: ($a99 | tonumber? // null)}, timeouts: $tmo}' <<<"$a_json")
	done
	[ -n "${A_L7ERR[$mode]:-}" ] && a_json=$(jq -c --arg k "$mode" --argjson e "${A_L7ERR[$mode]}" '.[$k].l7_probe_errors = $e' <<<"$a_json")
done
# the goal: the slowest of kernel, L4 and L7 per sample, p99 (median of the runs) in each source
a99m=$(med "${A_P99[manifests.routable]:-}")
a99k=$(med "${A_P99[kube.routable]:-}")
met_a=$(awk -v a="${a99m:-}" -v b="${a99k:-}" -v g=$GOAL_MS 'BEGIN { print (a != "" && b != "" && a <= g && b <= g) ? "true" : "false" }')

a_cell() { # MODE METRIC: "p50 / p99" medians of the runs, with the p99 range
	local p50 p99
	[ -z "${A_P99[$1.$2]:-}" ] && { echo "–"; return; }
	p50=$(med "${A_P50[$1.$2]}")
	read -r p99 lo hi <<<"$(stat3 ${A_P99[$1.$2]})"
	echo "$(fmt "$p50") / $(fmt "$p99") ($(fmt "$lo")–$(fmt "$hi"))"
}
{
	echo "**(a) Pod Ready → routable.** Pool qwen (L4 VIP $VIP:80 and the seed's L7 gateway) with one pod that flips NotReady → Ready,"
	echo "next to $EXTRA_POOLS other pools of two ready pods each (a node serving several models: every membership change reconciles each pool);"
	echo "$SAMPLES samples per run, $ROUNDS run(s) per source; the pool has no other ready pod, so the first SYN / request that gets through"
	echo "proves the pod routable. Timed from the change (the YAML renamed into place; the POST to fake-apiserver's admin endpoint) to:"
	echo "*noticed* — an independent watcher sees the change (inotify on the directory; a watch stream of its own on the API server), the floor;"
	echo "*kernel* — the pod in the pool's active set in the pinned maps (bpf(2) lookups every ~0.3 ms); *L4* — a fresh SYN to the VIP"
	echo "answered (one every 1 ms); *L7* — a request through the gateway answered 200 (1 ms apart); *routable* — the slowest of the three."
	echo "p50 / p99 ms (nearest rank), median of the runs (p99 min–max); a sample that never got there counts as 3,000 ms."
	echo
	echo "| source | noticed (floor) | kernel | L4 SYN | L7 request | routable | NotReady → out of the kernel |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for mode in manifests kube cold; do
		[ "$mode" = cold ] && [ -z "${A_P99[cold.kernel]:-}" ] && continue
		case $mode in
		kube) name="Kubernetes (fake-apiserver watch)" ;;
		manifests) name="manifests directory (inotify)" ;;
		cold) name="manifests, the pod's address not yet in the node's neighbour table ($COLD_SAMPLES samples, 1 run)" ;;
		esac
		echo "| $name | $(a_cell "$mode" noticed) | $(a_cell "$mode" kernel) | $(a_cell "$mode" l4) | $(a_cell "$mode" l7) | **$(a_cell "$mode" routable)** | $(a_cell "$mode" down) |"
	done
	echo
	echo "Goal p99 routable ≤ $GOAL_MS ms: manifests $(fmt "$a99m") ms, Kubernetes $(fmt "$a99k") ms — **$([ "$met_a" = true ] && echo met || echo "not met")**."
	echo "Timeouts (samples past 3 s): manifests ${A_TMO[manifests.routable]:-0}, Kubernetes ${A_TMO[kube.routable]:-0}; L7 probe connections reset or closed without an answer:"
	echo "manifests ${A_L7ERR[manifests]:-0}, Kubernetes ${A_L7ERR[kube]:-0} (the probe connects again; each sample's reasons are in its JSON line). The goal is judged on the first two rows;"
	echo "the last row (its neighbour entry deleted before each Ready: the L4 lane needs the pod's MAC, the L7 lane does not) is shown apart."
	echo "No peer measured: the Kubernetes path users run today (EndpointSlice controller → kube-proxy) needs a kube-apiserver, which cannot run here; the floor column is the same change's delivery alone."
	echo
} >"$B_LOG/row7_a.md"

part_write ready_to_routable "$B_LOG/row7_a.md" --argjson a "$a_json" --argjson meta "$met_a" \
	--arg a99m "$a99m" --arg a99k "$a99k" --arg a50m "$(med "${A_P50[manifests.routable]:-}")" \
	--arg a50k "$(med "${A_P50[kube.routable]:-}")" --arg f99k "$(med "${A_P99[kube.noticed]:-}")" \
	--argjson samples "$SAMPLES" --argjson rounds "$ROUNDS" \
	'{value: $a, config: {samples_per_run: $samples, rounds: $rounds},
	  summary: [
	   {metric: "pod Ready → routable p99 ms (Kubernetes source; manifests source)", inferlb: ($a99k | tonumber? // null),
	    inferlb_manifests: ($a99m | tonumber? // null), p50_ms: ($a50k | tonumber? // null),
	    p50_ms_manifests: ($a50m | tonumber? // null), floor_p99_ms: ($f99k | tonumber? // null),
	    peer: null, goal: "≤ 100 ms", met: $meta}]}'
