#!/usr/bin/env bash
# row7d_sync.sh - row 7 (d), initial sync of SYNC_PODS (10,000) pods: fake-apiserver (over
# HTTPS) holds 10,000 Ready Pods and SYNC_POOLS InferencePools. The kernel's limits
# (include/inferlb.h: backend ids 1 .. ILB_MAX_BACKENDS-1 across all pools,
# ILB_MAX_POOL_BACKENDS per pool) cap the pods a node can route to at 4,095, so each of the 8
# pools selects 511 pods (4,088 backends) and the other 5,912 pods match no pool (the agent
# still lists, decodes and stores them, and matches every one against each pool's selector).
# The 4,088 pool pods' addresses sit on one namespace's loopback behind a gateway on the node
# (one neighbour entry resolves them all) and one nginx answers their /metrics (an idle vLLM
# page), so the agent scrapes them as it would real pods. A fresh agent (new process, empty
# pin dir) is started in Kubernetes mode; `row7-probe sync` times, from the command that
# starts it: the control socket answering; `status` (what `inferlb status -j` asks) reporting
# every source synced; every pool's active ready set in the pinned `pools` map at 511 (every
# 2 ms). Sync = the later of the last two. It reads the agent's VmRSS when the sources report
# synced and at sync (and VmHWM), reads every ready set back (pool_backends -> backends:
# distinct ids, state ready, the right pool, distinct addresses), waits SYNC_SETTLE s and
# reads VmRSS again (the summary's figure: the agent holding the pods and scraping its 4,088)
# with the agent's CPU over the wait; `inferlb pools -j` and `status -j` cross-check the
# counts. Reference: the same pools and no pods. SYNC_RUNS runs each (3; 1 with BENCH_QUICK),
# median (min–max).
# SYNC_PODS, SYNC_POOLS, SYNC_POOL_PODS, SYNC_RUNS, SYNC_SETTLE override (and
# control_common.sh's ROUNDS, AGENT_ARGS).
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
source "$(dirname "$0")/control_common.sh"
control_init d || exit 0

SYNC_PODS=${SYNC_PODS:-10000}
SYNC_POOLS=${SYNC_POOLS:-8}
SYNC_RUNS=${SYNC_RUNS:-$ROUNDS}
SYNC_SETTLE=${SYNC_SETTLE:-$([ -n "$QUICK" ] && echo 2 || echo 3)}

control_need inferlb-agent inferlb fake-apiserver row7-probe

# The kernel's capacities, as include/inferlb.h sets them.
ilb_limit() { awk -v n="$1" '$1 == "#define" && $2 == n { print $3; exit }' "$B_ROOT/include/inferlb.h"; }
MAX_BACKENDS=$(ilb_limit ILB_MAX_BACKENDS)
MAX_POOL_BACKENDS=$(ilb_limit ILB_MAX_POOL_BACKENDS)
MAX_POOLS=$(ilb_limit ILB_MAX_POOLS)
# Pods per pool: as many as the backend ids allow (ids 1 .. MAX_BACKENDS-1, shared by every
# pool), at most MAX_POOL_BACKENDS, and no more than the pods there are.
if [ -z "${SYNC_POOL_PODS:-}" ]; then
	SYNC_POOL_PODS=$(((MAX_BACKENDS - 1) / SYNC_POOLS))
	[ "$SYNC_POOL_PODS" -gt "$MAX_POOL_BACKENDS" ] && SYNC_POOL_PODS=$MAX_POOL_BACKENDS
	[ $((SYNC_POOL_PODS * SYNC_POOLS)) -gt "$SYNC_PODS" ] && SYNC_POOL_PODS=$((SYNC_PODS / SYNC_POOLS))
fi
SYNC_BACKENDS=$((SYNC_POOLS * SYNC_POOL_PODS))
if [ "$SYNC_POOLS" -ge "$MAX_POOLS" ] || [ "$SYNC_POOL_PODS" -gt "$MAX_POOL_BACKENDS" ] || [ "$SYNC_BACKENDS" -ge "$MAX_BACKENDS" ]; then
	part_not_measured "$SYNC_POOLS pools of $SYNC_POOL_PODS pods exceed the kernel's limits ($((MAX_POOLS - 1)) pools, $MAX_POOL_BACKENDS per pool, $((MAX_BACKENDS - 1)) backends)"
fi

topology_up 3 || part_not_measured "could not build the namespaces"

NS_D=${B_PREFIX}d
# Pod i (0-based) has 198.18.(128 + i/250).(i%250 + 1): 198.18.128.0/17, routed from the node
# through 198.19.201.2 (NS_D), whose loopback holds the pool pods' addresses.
SYNC_ADDR_AWK='function ip(i) { return sprintf("198.18.%d.%d", 128 + int(i / 250), i % 250 + 1) }'

sync_pods_up() {
	metrics_pods_up nginxsync "$NS_D" sync0 198.19.201 198.18.128.0/17 \
		"$(awk "$SYNC_ADDR_AWK"' BEGIN { print ip('"$((SYNC_BACKENDS - 1))"') }')" 10000 8192 \
		< <(awk -v n="$SYNC_BACKENDS" "$SYNC_ADDR_AWK"' BEGIN { for (i = 0; i < n; i++) printf "addr add %s/32 dev lo\n", ip(i) }')
}

# sync_manifests DIR PODS: SYNC_POOLS InferencePools sync1.. (selector app: syncK, port 8000)
# and PODS Ready Pods shaped as the API server lists them (labels, owner, a container with
# its port, node, conditions, container status): the first SYNC_BACKENDS in the pools, the
# rest labelled for no pool.
sync_manifests() {
	local dir=$1 n=$2 k
	mkdir -p "$dir"
	rm -f "$dir"/*.yaml
	for k in $(seq 1 "$SYNC_POOLS"); do
		echo ---
		pool_yaml "sync$k"
	done >"$dir/pools.yaml"
	[ "$n" -gt 0 ] || return 0
	awk -v n="$n" -v per="$SYNC_POOL_PODS" -v inpools="$SYNC_BACKENDS" "$SYNC_ADDR_AWK"' BEGIN {
		for (i = 0; i < n; i++) {
			if (i < inpools) { app = "sync" (int(i / per) + 1); name = sprintf("%s-%04d", app, i % per); img = "vllm/vllm-openai:v0.6.3" }
			else { app = "batch" (i % 20); name = sprintf("batch-%05d", i); img = "registry.example/batch:1.4" }
			hash = sprintf("%06x", (i * 40503 + 12345) % 16777216)
			printf "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\n", name
			printf "  uid: 6f1c%04x-0d2e-4b7a-9c3d-%012d\n  resourceVersion: \"%d\"\n", i % 65536, i, 5000 + i
			printf "  creationTimestamp: \"2025-01-01T00:00:00Z\"\n  generateName: %s-%s-\n", app, hash
			printf "  labels:\n    app: %s\n    pod-template-hash: \"%s\"\n", app, hash
			printf "  ownerReferences:\n  - apiVersion: apps/v1\n    kind: ReplicaSet\n    name: %s-%s\n", app, hash
			printf "    uid: 1b2c3d4e-0000-4000-8000-%012d\n    controller: true\n    blockOwnerDeletion: true\n", i
			printf "spec:\n  nodeName: node-%03d\n  containers:\n  - name: server\n    image: %s\n", i % 500, img
			printf "    ports:\n    - containerPort: 8000\n      name: http\n      protocol: TCP\n"
			printf "    resources:\n      requests:\n        cpu: \"4\"\n        memory: 16Gi\n"
			printf "  restartPolicy: Always\n  serviceAccountName: default\n"
			printf "status:\n  phase: Running\n  hostIP: 10.0.%d.%d\n  podIP: %s\n  podIPs:\n  - ip: %s\n", int(i / 500) % 250, i % 250 + 1, ip(i), ip(i)
			printf "  startTime: \"2025-01-01T00:00:01Z\"\n  conditions:\n"
			printf "  - type: Initialized\n    status: \"True\"\n  - type: Ready\n    status: \"True\"\n"
			printf "  - type: ContainersReady\n    status: \"True\"\n  - type: PodScheduled\n    status: \"True\"\n"
			printf "  containerStatuses:\n  - name: server\n    ready: true\n    started: true\n    restartCount: 0\n"
			printf "    image: %s\n    containerID: containerd://%s%058d\n", img, hash, i
			printf "    state:\n      running:\n        startedAt: \"2025-01-01T00:00:02Z\"\n"
		}
	}' >"$dir/pods.yaml.tmp" && mv "$dir/pods.yaml.tmp" "$dir/pods.yaml"
}

# sync_fas_start DIR: fake-apiserver loaded from DIR (a 10,000-pod list takes a while).
sync_fas_start() {
	local t0=$SECONDS
	fas_start "$1" 120 || { log "row7 (d): fake-apiserver did not start: $(tail -3 "$B_LOG/fas.log")"; stop fas; return 1; }
	log "row7 (d): fake-apiserver loaded $1 in $((SECONDS - t0)) s: $(nn curl -sf "http://127.0.0.1:$ADMIN_PORT/admin/stats" | jq -c '.objects // .' 2>/dev/null | head -c 300)"
}

# D_RES[key.field]: the runs' figures; key ref (pools, no pods) or pods.
declare -A D_RES
D_FIELDS="socket_s synced_s kernel_s sync_s rss_synced_kb rss_sync_kb rss_settled_kb hwm_kb cpu_settle_pct kernel_ready kernel_distinct_addrs kernel_backends_in_use scraped_once scraped_fresh"
D_PROBLEMS=0
D_CLI=""
d_run() { # d_run KEY EXPECT RUN: a fresh agent against the running fake-apiserver
	local key=$1 expect=$2 run=$3 out=$B_LOG/d.$1.$3.json t0 f v j cli_pools cli_pods
	rm -rf "$PIN_DIR"
	rm -f "$SOCK"
	t0=$(date +%s.%N)
	kube_agent_start
	fgwait taskset -c "$CPU_GEN" "$PROBE" sync --t0 "$t0" --pid "$PID_agent" --socket "$SOCK" --pin-dir "$PIN_DIR" \
		--pool-prefix sync --pools "$SYNC_POOLS" --expect "$expect" --settle "$SYNC_SETTLE" --timeout 120 \
		>"$out" 2>"$B_LOG/d.$key.$run.err"
	j=$(tail -1 "$out")
	if [ -n "$j" ] && jq -e '.sync_s != null' >/dev/null 2>&1 <<<"$j"; then
		for f in $D_FIELDS; do
			v=$(jq -r ".$f // empty" <<<"$j")
			[ -n "$v" ] && D_RES[$key.$f]+="$v "
		done
		D_PROBLEMS=$((D_PROBLEMS + $(jq '.problems | length' <<<"$j")))
		# the CLI's view, once synced: pools and ready pods; pods the source holds
		cli_pools=$(cli pools -j 2>/dev/null | jq -c '[.[] | select(.name | test("^sync[0-9]+$"))] | {pools: length, ready: (map(.ready) | add), total: (map(.total) | add)}' 2>/dev/null)
		cli_pods=$(cli status -j 2>/dev/null | jq -c '[.sources[] | {synced, pods: ([.kinds[]? | select(.name == "pods") | .objects] | add)}]' 2>/dev/null)
		[ "$key" = pods ] && D_CLI="pools -j: ${cli_pools:-?}; status -j: ${cli_pods:-?}"
		log "row7 (d) $key run $run: socket $(jget "$j" .socket_s) s, synced $(jget "$j" .synced_s) s, kernel $(jget "$j" .kernel_s) s;" \
			"VmRSS $(jget "$j" .rss_sync_kb) -> $(jget "$j" .rss_settled_kb) kB (HWM $(jget "$j" .hwm_kb)), CPU $(jget "$j" .cpu_settle_pct)%;" \
			"kernel ready $(jget "$j" .kernel_ready), backends in use $(jget "$j" .kernel_backends_in_use), scraped $(jget "$j" .scraped_fresh);" \
			"problems $(jq -c .problems <<<"$j"); pools -j $cli_pools; status -j $cli_pods"
	else
		log "row7 (d) $key run $run: no sync: ${j:-$(tail -2 "$B_LOG/d.$key.$run.err")} / agent: $(tail -2 "$B_LOG/agent.log")"
	fi
	agent_stop
	cp "$B_LOG/agent.log" "$B_LOG/agent.d.$key.$run.log" 2>/dev/null
}

D_LIST_BYTES=""
certs_make
sync_pods_up || part_not_measured "the pool pods did not come up"
sync_manifests "$B_LOG/sync0" 0
sync_manifests "$B_LOG/sync" "$SYNC_PODS"
log "row7 (d): $SYNC_PODS pods ($SYNC_BACKENDS in $SYNC_POOLS pools of $SYNC_POOL_PODS), $(wc -c <"$B_LOG/sync/pods.yaml") bytes of YAML"
# reference: the same pools, no pods
if sync_fas_start "$B_LOG/sync0"; then
	for r in $(seq 1 "$SYNC_RUNS"); do d_run ref 0 "$r"; done
	stop fas
fi
if sync_fas_start "$B_LOG/sync"; then
	# what a full list weighs on the wire (JSON, one page)
	D_LIST_BYTES=$(nn curl -sf --cacert "$B_LOG/certs/ca.crt" -H "Authorization: Bearer $(cat "$B_LOG/certs/token")" \
		"https://127.0.0.1:$API_PORT/api/v1/pods" | wc -c)
	for r in $(seq 1 "$SYNC_RUNS"); do d_run pods "$SYNC_POOL_PODS" "$r"; done
	stop fas
fi
stop nginxsync

# ---- results ----

d_json='{}'
for key in ref pods; do
	for f in $D_FIELDS; do
		[ -z "${D_RES[$key.$f]:-}" ] && continue
		d_json=$(jq -c --arg k "$key" --arg f "$f" --argjson p "$(point_json ${D_RES[$key.$f]})" '.[$k][$f] = $p' <<<"$d_json")
	done
done
d_json=$(jq -c --argjson pods "$SYNC_PODS" --argjson pools "$SYNC_POOLS" --argjson per "$SYNC_POOL_PODS" \
	--argjson runs "$SYNC_RUNS" --argjson settle "$SYNC_SETTLE" --arg bytes "$D_LIST_BYTES" --argjson problems "$D_PROBLEMS" \
	--arg cli "$D_CLI" --argjson maxb "$MAX_BACKENDS" --argjson maxpb "$MAX_POOL_BACKENDS" \
	'. + {pods: $pods, pools: $pools, pods_per_pool: $per, pool_pods: ($pools * $per), other_pods: ($pods - $pools * $per),
	  limits: {max_backend_ids: ($maxb - 1), max_pool_backends: $maxpb}, runs: $runs, settle_s: $settle,
	  list_json_bytes: ($bytes | tonumber? // null), kernel_check_problems: $problems, cli_check: $cli}' <<<"$d_json")
read -r d_sync d_sync_lo d_sync_hi <<<"$(stat3 ${D_RES[pods.sync_s]:-})"
read -r d_rss d_rss_lo d_rss_hi <<<"$(stat3 $(kb2mb ${D_RES[pods.rss_settled_kb]:-}))"
d_rss0=$(med "$(kb2mb ${D_RES[pods.rss_sync_kb]:-})")
d_int() { # V: a whole number for the tables, thousands grouped
	local x
	x=$(printf '%.0f' "$1")
	if [ "$x" -ge 1000 ]; then fmt "$x"; else echo "$x"; fi
}
d_cell() { # KEY FIELD [mb|int]: "median (min–max)" of the runs
	local v=${D_RES[$1.$2]:-} m lo hi
	[ -z "$v" ] && { echo "–"; return; }
	[ "${3:-}" = mb ] && v=$(kb2mb $v)
	if [ "${3:-}" = int ]; then
		read -r m lo hi <<<"$(stat3 $v)"
		echo "$(d_int "$m") ($(d_int "$lo")–$(d_int "$hi"))"
		return
	fi
	fmt3 "$(stat3 $v)"
}
d_scraped=$(med "${D_RES[pods.scraped_once]:-}")

{
	echo "**(d) Initial sync of $(fmt "$SYNC_PODS") pods.** fake-apiserver (HTTPS, as in (a)) holds $(fmt "$SYNC_PODS") Ready Pods (a Deployment's pod as listed:"
	echo "labels, owner, one container with its port and requests, node, four conditions, container status; $(awk -v b="${D_LIST_BYTES:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') MB of JSON as one list, which the agent reads in pages of 500)"
	echo "and $SYNC_POOLS InferencePools. The kernel routes to at most $(fmt $((MAX_BACKENDS - 1))) backends across all pools (ILB_MAX_BACKENDS, id 0 unused) and $MAX_POOL_BACKENDS per pool"
	echo "(ILB_MAX_POOL_BACKENDS, include/inferlb.h), so each pool selects $SYNC_POOL_PODS pods — **$(fmt "$SYNC_BACKENDS") backends** — and the other $(fmt $((SYNC_PODS - SYNC_BACKENDS))) pods match no pool:"
	echo "the agent lists, decodes and stores all $(fmt "$SYNC_PODS") and matches each against every pool's selector, and the kernel gets $(fmt "$SYNC_BACKENDS")."
	echo "The pool pods' addresses sit on one namespace's loopback behind a gateway on the node (one neighbour entry) and one nginx (CPU $CPU_GEN) answers their /metrics,"
	echo "so once synced the agent scrapes $(fmt "$SYNC_BACKENDS") pods at its default 50 ms, as it would real ones. Each run starts a fresh agent (new process, empty pin dir;"
	echo "Kubernetes source, L4 and L7 lanes, as in (a)) and times from the command that starts it to: the control socket answering; *synced* — \`status\`"
	echo "(what \`inferlb status -j\` asks) reporting every source synced (polled every 10 ms); *kernel* — every pool's active ready set in the pinned \`pools\` map"
	echo "at $SYNC_POOL_PODS (bpf(2), every 2 ms); **sync** — the later of the two. VmRSS from /proc/PID/status when the sources report synced (the list held"
	echo "by the Kubernetes source, not yet reconciled), at sync, and $SYNC_SETTLE s later (the agent scraping its pods; its CPU over those seconds in % of a core);"
	echo "VmHWM is the peak. The maps' kernel memory is not in VmRSS. Reference: the same pools, no pods."
	echo "$SYNC_RUNS run(s) each, median (min–max); MB = 2^20 bytes."
	echo
	echo "| agent | control socket s | sources synced s | kernel sets complete s | **sync s** | VmRSS at sources synced MB | VmRSS at sync MB | **VmRSS ${SYNC_SETTLE} s later MB** | VmHWM MB | CPU after sync, % of a core |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
	for key in ref pods; do
		[ "$key" = ref ] && name="$SYNC_POOLS pools, no pods (reference)" || name="$(fmt "$SYNC_PODS") pods, $(fmt "$SYNC_BACKENDS") of them in $SYNC_POOLS pools"
		echo "| $name | $(d_cell $key socket_s) | $(d_cell $key synced_s) | $(d_cell $key kernel_s) | **$(d_cell $key sync_s)** | $(d_cell $key rss_synced_kb mb) | $(d_cell $key rss_sync_kb mb) |" \
			"**$(d_cell $key rss_settled_kb mb)** | $(d_cell $key hwm_kb mb) | $(d_cell $key cpu_settle_pct) |"
	done
	echo
	echo "Read back from the kernel after each sync: ready backends in the pools' active sets $(d_cell pods kernel_ready int), distinct addresses $(d_cell pods kernel_distinct_addrs int),"
	echo "\`backends\` entries in use $(d_cell pods kernel_backends_in_use int); problems found (an id twice, not ready, wrong pool, a short set): $D_PROBLEMS."
	echo "The CLI after the last run: ${D_CLI:-–}. At the end of the wait the agent (\`backends\`) had scraped $(d_cell pods scraped_once int) of its $(fmt "$SYNC_BACKENDS") pods"
	echo "at least once, $(d_cell pods scraped_fresh int) within the last second."
	if awk -v s="$d_scraped" -v n="$SYNC_BACKENDS" 'BEGIN { exit !(s != "null" && s < n / 2) }'; then
		echo "The scraper did not keep up with $(fmt "$SYNC_BACKENDS") pods at 50 ms here (see the CPU column); the sync figures do not wait for scrapes"
		echo "(a pod enters the kernel's ready set from its Ready condition and a resolved next hop), but the scraping starts in the same tick and shares the agent's core."
	fi
	echo "No peer measured: GIE's endpoint picker and kube-proxy need a kube-apiserver and a cluster, which cannot run here."
	echo
} >"$B_LOG/row7_d.md"

part_write initial_sync "$B_LOG/row7_d.md" --argjson d "$d_json" \
	--arg dsync "$d_sync" --arg dsynclo "$d_sync_lo" --arg dsynchi "$d_sync_hi" --arg drss "$d_rss" --arg drsslo "$d_rss_lo" \
	--arg drsshi "$d_rss_hi" --arg drss0 "$d_rss0" --arg dpodsf "$(fmt "$SYNC_PODS")" --argjson dback "$SYNC_BACKENDS" \
	'{value: $d, config: {},
	  summary: [
	   {metric: "initial sync of \($dpodsf) pods, s", inferlb: ($dsync | tonumber? // null),
	    min: ($dsynclo | tonumber? // null), max: ($dsynchi | tonumber? // null), pods_in_pools: $dback,
	    peer: null, ratio: null, goal: "–", met: null},
	   {metric: "agent VmRSS after syncing \($dpodsf) pods, MB", inferlb: ($drss | tonumber? // null),
	    min: ($drsslo | tonumber? // null), max: ($drsshi | tonumber? // null), at_sync: ($drss0 | tonumber? // null),
	    pods_in_pools: $dback,
	    peer: null, ratio: null, goal: "–", met: null}]}'
