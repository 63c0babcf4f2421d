#!/usr/bin/env bash
# demo.sh - the deployment guide's scenario (a Knative Service "qwen" running vLLM behind the
# inference gateway on port 8888) on the embedded default: the agent in manifests mode reading
# examples/seed, vllm-sim pods, all in network namespaces on this machine, no cluster needed.
#
#   demo.sh run    build the topology, send the guide's curl, a LoRA request, a shared-prefix
#                  load through inferlb and then through round-robin, print a table, then a
#                  request to a Service scaled to zero, answered once a scaler starts its pod;
#                  remove all
#   demo.sh up     build the same topology and leave it running; writes build/demo.env
#   demo.sh down   remove what `up` (or an interrupted `run`) created, by the names it recorded
#
#   client ns (198.18.0.2) --veth-- node ns (198.18.0.1, agent: XDP on "uplink", L7 gateway
#   GATEWAY_HOST:8888) --veth-- one ns per pod (10.244.N.2, tools/vllm-sim)
#
# Everything carries the prefix $DEMO_PREFIX (default ilbdemo): namespaces ilbdemo-client,
# ilbdemo-node, ilbdemo-qwen-1..3, ilbdemo-llama-1 (and, made by the scaler of `run`,
# ilbdemo-smollm-1), pins in /sys/fs/bpf/ilbdemo. What was made is recorded in $STATE_DIR/state
# as it is made, and removal reads that record.
#
# Environment: DEMO_QUICK=1 for a small, fast load (tests: 32 requests, vllm-sim's clock x0.1),
# DEMO_TIME_SCALE (vllm-sim's --time-scale: 1, the default, is the simulated GPU's own pace),
# DEMO_PREFIX (names), INFERLB_BUILD (default build/), DEMO_COLD_START (seconds the scaler's
# pod takes to start, standing in for a model server's weights load; default 2).
set -euo pipefail
export LC_ALL=C

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${INFERLB_BUILD:-$ROOT/build}
P=${DEMO_PREFIX:-ilbdemo}
STATE_DIR=/run/inferlb-demo
[ "$P" != ilbdemo ] && STATE_DIR=/run/inferlb-demo-$P
STATE=$STATE_DIR/state
CONTROL_SOCKET=$STATE_DIR/agent.sock
PIN_DIR=/sys/fs/bpf/$P
WORK=$BUILD/demo
LOGS=$WORK/logs
MANIFESTS=$WORK/manifests
ENV_FILE=$BUILD/demo.env

CLIENT_NS=$P-client
NODE_NS=$P-node
SEED_HOST=qwen.default.example.com
LLAMA_HOST=llama.default.example.com
LLAMA_MODEL=meta-llama/Llama-3.1-8B-Instruct
N_QWEN=3
N_LLAMA=1
# The Knative Service at min-scale 0 (examples/seed/smollm-service.yaml): no pod until the scaler
# of `run` starts one, in namespace $P-smollm-1 at 10.244.SMOL_IDX.2.
SMOL_HOST=smollm.default.example.com
SMOL_MODEL=HuggingFaceTB/SmolLM2-360M-Instruct
SMOL_IDX=$((N_QWEN + N_LLAMA + 1))
COLD_START=${DEMO_COLD_START:-2}
TIME_SCALE=${DEMO_TIME_SCALE:-1}

# The topology (tools/lib/topology.sh) under the demo's names: pods at 10.244.INDEX.2, qwen
# 1..N_QWEN, llama after them, smollm at SMOL_IDX; every namespace recorded before it is made.
source "$ROOT/tools/lib/topology.sh"
TOPO_PREFIX=$P
NS_CLIENT=$CLIENT_NS
NS_NODE=$NODE_NS
POD_NET=10.244
TOPO_ON_NETNS=record_ns
SOCK=$CONTROL_SOCKET
GATEWAY_HOST=$GW
GATEWAY_PORT=$GW_PORT
for i in $(seq 1 "$N_QWEN"); do TOPO_POD_NS[$i]=$P-qwen-$i; done
for i in $(seq 1 "$N_LLAMA"); do TOPO_POD_NS[$((N_QWEN + i))]=$P-llama-$i; done
TOPO_POD_NS[$SMOL_IDX]=$P-smollm-1

STEP="start"
MODE=""
INTERACTIVE=""
[ -t 0 ] && [ -t 1 ] && INTERACTIVE=1

say() { printf '%s\n' "$*"; }
step() {
	STEP=$1
	# for the shell that waits on `run`'s steps (cmd_run): it names the step that failed
	[ -d "$STATE_DIR" ] && printf '%s\n' "$1" >"$STATE_DIR/step"
	printf '\n==> %s\n' "$1"
}
die() {
	echo "demo: $*" >&2
	exit 1
}

# ---------------------------------------------------------------------------------------------
# The record of what exists: one line per object ("ns NAME", "pid PID START NAME", "pin DIR").

record() { echo "$*" >>"$STATE"; }
record_ns() { record "ns $1"; }

# starttime of PID (field 22 of /proc/PID/stat): a pid is ours only if this still matches.
pid_start() {
	local stat
	stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
	stat=${stat##*) }
	# shellcheck disable=SC2086
	set -- $stat
	echo "${20}"
}

# spawn NAME NS CMD...: CMD in namespace NS (by name), its own session, logged and recorded.
# `ip netns exec` and setsid exec the command: the recorded pid is the program's own.
spawn() {
	local name=$1 ns=$2 pid
	shift 2
	setsid ip netns exec "$ns" "$@" >"$LOGS/$name.log" 2>&1 </dev/null &
	pid=$!
	record "pid $pid $(pid_start "$pid" || echo 0) $name"
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$pid"
}

# kill_recorded [NAME-PATTERN]: SIGTERM then SIGKILL the recorded pids whose start time matches.
kill_recorded() {
	local pattern=${1:-*} kind pid start name pids=() i
	[ -f "$STATE" ] || return 0
	while read -r kind pid start name; do
		[ "$kind" == pid ] || continue
		# shellcheck disable=SC2053
		[[ $name == $pattern ]] || continue
		if [ "$(pid_start "$pid" 2>/dev/null)" == "$start" ]; then pids+=("$pid"); fi
	done <"$STATE"
	[ ${#pids[@]} -eq 0 ] && return 0
	kill -TERM "${pids[@]}" 2>/dev/null || true
	for i in $(seq 1 40); do
		kill -0 "${pids[@]}" 2>/dev/null || return 0
		sleep 0.05
	done
	kill -KILL "${pids[@]}" 2>/dev/null || true
}

recorded() { [ -f "$STATE" ] && awk -v k="$1" '$1 == k { print $2 }' "$STATE"; }

# teardown: everything the record names, in reverse order of creation where it matters.
teardown() {
	local ns pin
	[ -f "$STATE" ] || { rm -rf "$STATE_DIR"; return 0; }
	# The agent first (it was started with --keep: the data path stays until --cleanup).
	kill_recorded 'agent*'
	kill_recorded
	for pin in $(recorded pin); do
		if [ "$pin" == "$PIN_DIR" ]; then agent_cleanup; fi
	done
	for ns in $(recorded ns | tac); do
		[[ $ns == "$P"-* ]] || continue
		[ -e "/run/netns/$ns" ] || continue
		# Anything still running inside a namespace this demo made is the demo's.
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
		ip netns del "$ns" 2>/dev/null || true
	done
	rm -f "$ENV_FILE"
	rm -rf "$STATE_DIR"
}

# ---------------------------------------------------------------------------------------------
# The pods: the qwen Service's revision (vLLM's port 8080, as in the Service) and the llama
# pool's pod with two LoRA adapters (port 8000), as examples/seed/pods-demo.yaml describes them.
sims_start() {
	local i idx=0
	for i in $(seq 1 "$N_QWEN"); do
		idx=$((idx + 1))
		spawn "qwen-$i" "$(pod_ns "$idx")" "$BUILD/vllm-sim" --host "$(pod_ip "$idx")" --port 8080 \
			--model "$SEED_MODEL" --max-model-len 8192 --time-scale "$TIME_SCALE" --seed "$i"
	done
	for i in $(seq 1 "$N_LLAMA"); do
		idx=$((idx + 1))
		spawn "llama-$i" "$(pod_ns "$idx")" "$BUILD/vllm-sim" --host "$(pod_ip "$idx")" --port 8000 \
			--model "$LLAMA_MODEL" --max-loras 1 --lora-modules sql-lora=/adapters/sql-lora \
			--lora-modules sql-lora-v2=/adapters/sql-lora-v2 --time-scale "$TIME_SCALE" --seed "$idx"
	done
	idx=0
	for i in $(seq 1 "$N_QWEN"); do
		idx=$((idx + 1))
		wait_up "qwen-$i" "$(pod_ns "$idx")" "http://$(pod_ip "$idx"):8080/health"
	done
	for i in $(seq 1 "$N_LLAMA"); do
		idx=$((idx + 1))
		wait_up "llama-$i" "$(pod_ns "$idx")" "http://$(pod_ip "$idx"):8000/health"
	done
}

# wait_up NAME NS URL [SECONDS]: the spawned NAME answers URL within SECONDS (10), or the demo
# stops there.
wait_up() {
	local pid_var="PID_${1//[^a-zA-Z0-9_]/_}" deadline=$((SECONDS + ${4:-10}))
	until in_ns "$2" curl -sf -m 1 -o /dev/null "$3" 2>/dev/null; do
		kill -0 "${!pid_var}" 2>/dev/null || die "$1 exited: $(tail -n 1 "$LOGS/$1.log")"
		[ $SECONDS -ge $deadline ] && die "$1 does not answer $3 (see $LOGS/$1.log)"
		sleep 0.1
	done
}

# The manifests: a copy of examples/seed, with pods-demo.yaml's placeholder pods given the
# addresses above: as many qwen pods as N_QWEN (the Service's max-scale is 3) and N_LLAMA llama.
write_manifests() {
	local src=$ROOT/examples/seed dir=$WORK/split i n f out
	rm -rf "$MANIFESTS" "$dir"
	mkdir -p "$MANIFESTS" "$dir"
	for f in "$src"/*.yaml; do
		[ "$(basename "$f")" == pods-demo.yaml ] || cp "$f" "$MANIFESTS/"
	done
	# One file per YAML document of pods-demo.yaml.
	awk -v dir="$dir" 'BEGIN { n = 1 } /^---[[:space:]]*$/ { n++; next } { print > (dir "/" n ".yaml") }' \
		"$src/pods-demo.yaml"
	local qwen=() llama=()
	for f in $(printf '%s\n' "$dir"/*.yaml | sort -V); do
		grep -q '^kind: Pod' "$f" || continue
		if grep -q 'serving.knative.dev/service: qwen' "$f"; then qwen+=("$f"); elif grep -q 'app: vllm-llama' "$f"; then llama+=("$f"); fi
	done
	if [ ${#qwen[@]} -eq 0 ] || [ ${#llama[@]} -eq 0 ]; then die "examples/seed/pods-demo.yaml: no qwen or llama pod"; fi
	out=$MANIFESTS/pods-demo.yaml
	echo "# Written by tools/demo/demo.sh from examples/seed/pods-demo.yaml: the demo's pod addresses." >"$out"
	n=0
	for i in $(seq 1 "$N_QWEN"); do
		n=$((n + 1))
		f=${qwen[$(((i - 1) % ${#qwen[@]}))]}
		[ "$n" -gt 1 ] && echo "---" >>"$out"
		# A pod beyond the file's own is a copy under another name.
		if [ "$i" -gt ${#qwen[@]} ]; then
			sed -E -e "s/^(  name: qwen-[a-z0-9-]*-)[a-z0-9]+$/\1demo$i/" "$f"
		else
			cat "$f"
		fi | sed -E -e '/^#/d' -e "s/198\.19\.[0-9]+\.2/$(pod_ip "$n")/g" -e "s/nodeName: .*/nodeName: $NODE_NS/" >>"$out"
	done
	for i in $(seq 1 "$N_LLAMA"); do
		n=$((n + 1))
		f=${llama[$(((i - 1) % ${#llama[@]}))]}
		echo "---" >>"$out"
		sed -E -e '/^#/d' -e "s/198\.19\.[0-9]+\.2/$(pod_ip "$n")/g" -e "s/nodeName: .*/nodeName: $NODE_NS/" "$f" >>"$out"
	done
	rm -rf "$dir"
}

agent_start() {
	local policy=$1 name="agent-$1"
	# nsenter joins only the network namespace: the agent keeps this machine's bpffs for its pins.
	record "pin $PIN_DIR"
	agent_argv
	setsid "${AGENT_ARGV[@]}" --vip "$GATEWAY_HOST" --metrics-addr "$(node_metrics_addr)" \
		--l7-policy "$policy" --keep -v >"$LOGS/$name.log" 2>&1 </dev/null &
	AGENT_PID=$!
	record "pid $AGENT_PID $(pid_start "$AGENT_PID" || echo 0) $name"
	local deadline=$((SECONDS + 20))
	until [ -S "$CONTROL_SOCKET" ] && pools_ready 2>/dev/null; do
		kill -0 "$AGENT_PID" 2>/dev/null || die "the agent exited: $(tail -n 1 "$LOGS/$name.log")"
		[ $SECONDS -ge $deadline ] && die "the agent does not see every pod ready (see $LOGS/$name.log)"
		sleep 0.1
	done
	# Ready when the guide's request is answered through the gateway.
	wait_for 15 seed_curl -f -o /dev/null ||
		die "the gateway at $GATEWAY_HOST:$GATEWAY_PORT does not answer (see $LOGS/$name.log)"
}

# pools_ready: every pool the agent knows has all its pods ready (fresh metrics), and at least
# two pools (qwen, llama) have pods; smollm, scaled to zero, has none.
pools_ready() {
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools -j |
		jq -e 'all(.[]; .ready == .total) and ([.[] | select(.total > 0)] | length >= 2)' >/dev/null
}

agent_stop() {
	kill_recorded 'agent*'
	rm -f "$CONTROL_SOCKET"
}

# seed_curl (tools/lib/topology.sh): the guide's step 5, word for word, from the client namespace.

# ---------------------------------------------------------------------------------------------
# The load.

LG_ARGS=()
LOAD_SECONDS=0
load_config() {
	if [ -n "${DEMO_QUICK:-}" ]; then
		TIME_SCALE=${DEMO_TIME_SCALE:-0.1}
		LG_ARGS=(--groups 8 --prompts-per-group 4 --system-tokens 1500 --question-tokens 100
			--output-tokens 24 --qps 12 --concurrency 16 --requests 32)
		LOAD_SECONDS=3
	else
		# Twelve system prompts of 4,000 tokens (250 KV blocks each), eight questions on each, at
		# 3 requests/s: one pod's KV cache (2,048 blocks) holds about eight of the prompts, so
		# round-robin, which shows every pod every prompt, evicts what it will need again.
		LG_ARGS=(--groups 12 --prompts-per-group 8 --system-tokens 4000 --question-tokens 200
			--output-tokens 32 --qps 3 --concurrency 32 --requests 96)
		LOAD_SECONDS=32
	fi
}

# loadgen_run NAME: the shared-prefix workload through the gateway, from the client namespace.
loadgen_run() {
	local name=$1
	"$BUILD/loadgen" --netns "$CLIENT_NS" --url "http://$GATEWAY_HOST:$GATEWAY_PORT/v1/chat/completions" \
		--host "$SEED_HOST" --model "$SEED_MODEL" --workload shared-prefix "${LG_ARGS[@]}" --seed 7 \
		--timeout 60 --json "$WORK/$name.json" --records "$WORK/$name.records.jsonl" >"$LOGS/loadgen-$name.log" 2>&1 </dev/null &
	LOADGEN_PID=$!
	record "pid $LOADGEN_PID $(pid_start "$LOADGEN_PID" || echo 0) loadgen-$name"
}

# json_stat FILE SECTION KEY: a number from loadgen's summary, over all its requests.
json_stat() { jq -r --arg s "$2" --arg k "$3" '.[$s][$k] // empty' "$1"; }

# qwen_counters: "QUERIES HITS R1 R2 R3": prefix-cache tokens queried and hit over the qwen pods
# (vLLM's vllm:prefix_cache_*_total) and the requests each pod finished.
qwen_counters() {
	local i idx=0 m q=0 h=0 r reqs=""
	for i in $(seq 1 "$N_QWEN"); do
		idx=$((idx + 1))
		m=$(in_ns "$(pod_ns "$idx")" curl -sf -m 2 "http://$(pod_ip "$idx"):8080/metrics" 2>/dev/null) || m=""
		q=$((q + $(awk '/^vllm:prefix_cache_queries_total/ { s += $NF } END { printf "%d", s }' <<<"$m")))
		h=$((h + $(awk '/^vllm:prefix_cache_hits_total/ { s += $NF } END { printf "%d", s }' <<<"$m")))
		r=$(awk '/^vllm:request_success_total/ { s += $NF } END { printf "%d", s }' <<<"$m")
		reqs+=" $r"
	done
	echo "$q $h$reqs"
}

# counters_delta NAME BEFORE AFTER: writes $WORK/NAME.pods: "HIT% R1/R2/R3" over the run.
counters_delta() {
	awk -v b="$2" -v a="$3" 'BEGIN {
		nb = split(b, x, " "); split(a, y, " ")
		dq = y[1] - x[1]; dh = y[2] - x[2]
		printf "%s ", (dq > 0 ? sprintf("%.0f%%", 100 * dh / dq) : "-")
		for (i = 3; i <= nb; i++) printf "%s%d", (i > 3 ? "/" : ""), y[i] - x[i]
		printf "\n"
	}' >"$WORK/$1.pods"
}

# show_load NAME: loadgen in the background, `inferlb top` meanwhile, then loadgen's summary.
# On a terminal top is the live view for as long as the load lasts (q leaves it early); else a
# few refreshes as text.
show_load() {
	local name=$1 rc=0 before
	before=$(qwen_counters)
	loadgen_run "$name"
	sleep 1
	if [ -n "$INTERACTIVE" ]; then
		"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" top -i 1000 -c "$((LOAD_SECONDS + 2))" || true
	else
		# In the background, so that a signal is handled at once, not after top's last refresh.
		"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" top -i 2000 \
			-c "$(((LOAD_SECONDS + 1) / 2 < 4 ? (LOAD_SECONDS + 1) / 2 : 4))" </dev/null &
		local top_pid=$!
		record "pid $top_pid $(pid_start "$top_pid" || echo 0) top-$name"
		wait "$top_pid" || true
	fi
	kill -0 "$LOADGEN_PID" 2>/dev/null && say "(waiting for loadgen to finish)"
	wait "$LOADGEN_PID" || rc=$?
	[ "$rc" -eq 0 ] || die "loadgen exited with $rc (see $LOGS/loadgen-$name.log)"
	[ -s "$WORK/$name.json" ] || die "loadgen wrote no summary (see $LOGS/loadgen-$name.log)"
	sed -n '1,8p' "$LOGS/loadgen-$name.log"
	counters_delta "$name" "$before" "$(qwen_counters)"
}

# ms VALUE DECIMALS: "12.3 ms", or "-" when loadgen had nothing to measure.
ms() {
	if [ -n "$1" ]; then printf "%.$2f ms" "$1"; else printf -- "-"; fi
}

print_table() {
	local row f hits per_pod
	say "The same $(json_stat "$WORK/inferlb.json" requests total) shared-prefix requests both times (loadgen --seed 7), pods restarted cold in between:"
	printf '  %-12s %10s %10s %10s %7s   %-13s %s\n' "" "TTFT p50" "TTFT p90" "TPOT p90" "errors" \
		"prefix cache" "requests per qwen pod"
	for row in "inferlb:inferlb" "roundrobin:round-robin"; do
		f=$WORK/${row%%:*}.json
		read -r hits per_pod <"$WORK/${row%%:*}.pods"
		printf '  %-12s %10s %10s %10s %7s   %-13s %s\n' "${row#*:}" "$(ms "$(json_stat "$f" ttft_ms p50)" 1)" \
			"$(ms "$(json_stat "$f" ttft_ms p90)" 1)" "$(ms "$(json_stat "$f" tpot_ms p90)" 2)" \
			"$(json_stat "$f" errors total)" "$hits hit" "$per_pod"
	done
	if [ "$TIME_SCALE" != 1 ]; then
		say "  (vllm-sim ran with --time-scale $TIME_SCALE: these times are $TIME_SCALE of the simulated GPU's)"
	fi
}

# ---------------------------------------------------------------------------------------------
# Scale from zero: the Knative Service smollm (min-scale 0) has no pod. A request for it waits in
# the agent, which counts it as pending for the pool default/smollm; scaler() plays Knative's
# autoscaler: it sees the demand, starts a pod and writes its manifest, and the agent sends the
# held request to the pod as soon as the Pod is Ready.

# pool_pending POOL: the requests the agent holds for default/POOL (`inferlb pools -j`).
pool_pending() {
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools -j |
		jq -e --arg n "$1" '.[] | select(.namespace == "default" and .name == $n) | .pending'
}

# smollm_pod_up: the pod a Knative Deployment would make for smollm's revision: a vllm-sim in
# its own namespace, then its Pod (Ready) in the manifests, written whole (rename) for inotify.
smollm_pod_up() {
	local ns ip f=$MANIFESTS/pods-smollm.yaml
	ns=$(pod_ns "$SMOL_IDX")
	ip=$(pod_ip "$SMOL_IDX")
	pod_link_add "$SMOL_IDX"
	# vllm-sim is up in milliseconds; a model server loads its weights first: COLD_START seconds.
	# (sh execs vllm-sim: the recorded pid stays the pod's.)
	# shellcheck disable=SC2016
	spawn smollm-1 "$ns" sh -c 'sleep "$0" && exec "$@"' "$COLD_START" "$BUILD/vllm-sim" --host "$ip" --port 8080 \
		--model "$SMOL_MODEL" --max-model-len 4096 --time-scale "$TIME_SCALE" --seed "$SMOL_IDX"
	wait_up smollm-1 "$ns" "http://$ip:8080/health" "$((${COLD_START%.*} + 10))"
	cat >"$f.tmp" <<YAML
# Written by tools/demo/demo.sh's scaler: the pod it started for the Service smollm.
apiVersion: v1
kind: Pod
metadata:
  name: smollm-00001-deployment-5d8f7c9b4-demo1
  namespace: default
  labels:
    app: smollm-00001
    release: smollm
    serving.knative.dev/configuration: smollm
    serving.knative.dev/revision: smollm-00001
    serving.knative.dev/service: smollm
    inference.networking.k8s.io/engine-type: vllm
spec:
  nodeName: $NODE_NS
  containers:
  - name: vllm-container
    image: inferlb/vllm-sim
    ports:
    - containerPort: 8080
      protocol: TCP
status:
  phase: Running
  podIP: $ip
  podIPs:
  - ip: $ip
  conditions:
  - type: Ready
    status: "True"
YAML
	mv "$f.tmp" "$f"
}

smollm_ready() {
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools -j |
		jq -e '.[] | select(.namespace == "default" and .name == "smollm") | .ready == 1 and .pending == 0'
}

# scaler POOL SECONDS: polls the pending count of default/POOL every 100 ms; at the first
# pending request, starts the pod. The demo stops if no demand appears within SECONDS.
scaler() {
	local deadline=$((SECONDS + $2)) n
	while :; do
		n=$(pool_pending "$1" 2>/dev/null) || n=0
		if [ "$n" -gt 0 ]; then
			SCALE_SEEN_NS=$(date +%s%N)
			say "scaler: default/$1 has $n pending request(s) and no pod: starting one (vllm-sim, with a" \
				"${COLD_START} s pause standing in for a model server's load)"
			"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools | sed -n "1p;/^default\/$1 /p"
			smollm_pod_up
			SCALE_READY_NS=$(date +%s%N)
			say "scaler: pod $(pod_ns "$SMOL_IDX") ($(pod_ip "$SMOL_IDX"):8080) started, Ready in $MANIFESTS/pods-smollm.yaml"
			return 0
		fi
		[ $SECONDS -ge $deadline ] && die "scaler: no pending request for default/$1 within $2 s"
		sleep 0.1
	done
}

# scale_from_zero: a request to smollm's host through the gateway, in the background; the
# scaler; the answer and how long the request waited.
scale_from_zero() {
	local pid rc=0 code total out
	say "smollm (examples/seed/smollm-service.yaml) is at min-scale 0: no pod"
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools | sed -n '1p;/^default\/smollm /p'
	say "curl http://$GATEWAY_HOST:8888/v1/chat/completions -H \"Host: $SMOL_HOST\" -d '{\"model\": \"$SMOL_MODEL\", ...}' &"
	ip netns exec "$CLIENT_NS" curl -sS -m 60 "http://$GATEWAY_HOST:8888/v1/chat/completions" \
		-H "Host: $SMOL_HOST" -H "Content-Type: application/json" \
		-d '{"model": "'"$SMOL_MODEL"'", "messages": [{"role": "user", "content": "What does scale to zero mean?"}], "max_tokens": 24}' \
		-o "$WORK/smollm.json" -w '%{http_code} %{time_total}\n' >"$WORK/smollm.code" 2>"$LOGS/smollm-curl.log" </dev/null &
	pid=$!
	record "pid $pid $(pid_start "$pid" || echo 0) smollm-curl"
	scaler smollm 20
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ] || die "the request to smollm failed: curl exit $rc: $(cat "$LOGS/smollm-curl.log")"
	read -r code total <"$WORK/smollm.code"
	out=$(cat "$WORK/smollm.json")
	say "$out"
	if [ "$code" != 200 ] || ! grep -q '"choices"' <<<"$out"; then die "the held request was answered with HTTP $code"; fi
	say "answered: HTTP $code after $(awk -v t="$total" 'BEGIN { printf "%.0f", t * 1000 }') ms waiting" \
		"(the scaler had the pod started and Ready $(((SCALE_READY_NS - SCALE_SEEN_NS) / 1000000)) ms after it saw the" \
		"request pending)"
	say "content: $(jq -r '.choices[0].message.content' <<<"$out")"
	# The agent counts the pod ready once it has scraped its metrics.
	wait_for 5 smollm_ready || true
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools | sed -n '1p;/^default\/smollm /p'
}

# ---------------------------------------------------------------------------------------------

preflight() {
	[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces, XDP, bpffs)"
	local b
	for b in inferlb-agent inferlb vllm-sim loadgen; do
		[ -x "$BUILD/$b" ] || die "$BUILD/$b is missing: run 'make all' first"
	done
	for b in ip nsenter setsid ethtool curl jq; do
		command -v "$b" >/dev/null || die "$b is missing: run 'make deps'"
	done
	mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
}

# The demo's names must be free or recorded as its own: it removes only what it recorded.
names_free() {
	local ns pid start
	if [ -f "$STATE" ]; then
		read -r pid start < <(awk '$1 == "pid" && $4 ~ /^agent/ { p = $2 " " $3 } END { print p }' "$STATE")
		if [ -n "${pid:-}" ] && [ "$(pid_start "$pid" 2>/dev/null)" == "$start" ]; then
			if grep -q '^mode up' "$STATE"; then
				die "the topology of 'demo.sh up' is running: 'make demo-down' first"
			fi
			die "another 'demo.sh run' is in progress (agent pid $pid)"
		fi
		return 0
	fi
	for ns in "$CLIENT_NS" "$NODE_NS" $(for i in $(seq 1 "$SMOL_IDX"); do pod_ns "$i"; done); do
		[ -e "/run/netns/$ns" ] && die "network namespace $ns exists but no demo recorded it: remove it ('ip netns del $ns') if it is an old demo's"
	done
	if [ -e "$PIN_DIR" ]; then
		die "$PIN_DIR exists but no demo recorded it: remove it ('$BUILD/inferlb-agent --cleanup --pin-dir $PIN_DIR') if it is an old demo's"
	fi
	return 0
}

# up_topology: namespaces, pods, manifests, agent (policy sched).
up_topology() {
	mkdir -p "$STATE_DIR" "$LOGS"
	chmod 700 "$STATE_DIR"
	: >"$STATE"
	record "mode $MODE"
	step "network namespaces"
	say "$CLIENT_NS (198.18.0.2) -- $NODE_NS (198.18.0.1, uplink) -- $(pod_ns 1)..$N_QWEN, $(pod_ns $((N_QWEN + 1))) (10.244.N.2)"
	topology_up $((N_QWEN + N_LLAMA))
	step "pods: tools/vllm-sim"
	say "qwen: $N_QWEN pods of the Knative Service (max-scale 3), model $SEED_MODEL, port 8080"
	say "llama: $N_LLAMA pod, $LLAMA_MODEL with the LoRA adapters sql-lora and sql-lora-v2, port 8000"
	sims_start
	step "manifests: examples/seed, the pods given the demo's addresses"
	write_manifests
	say "$MANIFESTS: $(cd "$MANIFESTS" && echo *.yaml)"
	step "agent"
	say "inferlb-agent --manifests ... --iface uplink --vip $GATEWAY_HOST in $NODE_NS: XDP on uplink, the"
	say "gateway's listeners (80, 8888) on $GATEWAY_HOST, pins in $PIN_DIR, control socket $CONTROL_SOCKET"
	agent_start sched
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" pools
}

on_exit() {
	local rc=$?
	set +e
	trap - EXIT INT TERM HUP
	# A reader that went away (`make demo | head`) must not stop the removal half way.
	trap '' PIPE
	if [ -n "${STEPS_PID:-}" ]; then
		# run's steps stop first (their foreground command too), then the removal
		if kill -0 "$STEPS_PID" 2>/dev/null; then
			pkill -TERM -P "$STEPS_PID" 2>/dev/null
			kill -TERM "$STEPS_PID" 2>/dev/null
			wait "$STEPS_PID" 2>/dev/null
		fi
		[ -f "$STATE_DIR/step" ] && read -r STEP <"$STATE_DIR/step"
	fi
	if [ "$MODE" == run ] || { [ "$MODE" == up ] && [ "$rc" -ne 0 ]; }; then
		teardown
	fi
	# Last, after everything that could still print: the step that failed, in one line.
	if [ "$rc" -ne 0 ]; then
		echo "demo: failed at step: $STEP (exit $rc; logs in $LOGS)" >&2
	fi
	exit "$rc"
}

set_traps() {
	trap on_exit EXIT
	trap 'exit 129' HUP
	trap 'exit 130' INT
	trap 'exit 141' PIPE
	trap 'exit 143' TERM
}

cmd_run() {
	MODE=run
	load_config
	preflight
	names_free
	teardown # what an earlier run left, if it was killed outright
	set_traps
	# The steps run in a child this shell waits for: a trapped SIGINT interrupts `wait` at
	# once, where during a foreground command bash could leave the trap unrun.
	run_steps 0<&0 &
	STEPS_PID=$!
	wait "$STEPS_PID"
	exit $?
}

run_steps() {
	up_topology

	step "the guide's step 5, from $CLIENT_NS"
	say "curl http://$GATEWAY_HOST:8888/v1/chat/completions -H \"Host: $SEED_HOST\" -H \"Content-Type: application/json\" -d '{\"model\": \"$SEED_MODEL\", \"messages\": [...], \"max_tokens\": 50}'"
	local out
	out=$(seed_curl)
	say "$out"
	grep -q '"choices"' <<<"$out" || die "the answer has no choices"

	step "model routing: another model with a LoRA adapter"
	say "curl http://$GATEWAY_HOST:8888/v1/completions -H \"Host: $LLAMA_HOST\" -d '{\"model\": \"sql-assistant\", ...}'"
	say "(the InferenceModelRewrite in llama-lora.yaml sends sql-assistant to the adapter sql-lora, 10% to sql-lora-v2)"
	out=$(ip netns exec "$CLIENT_NS" curl -sS -m 20 "http://$GATEWAY_HOST:8888/v1/completions" \
		-H "Host: $LLAMA_HOST" -H "Content-Type: application/json" \
		-d '{"model": "sql-assistant", "prompt": "SELECT the ten largest GPU node pools", "max_tokens": 12}')
	say "$out"
	grep -q '"model":"sql-lora' <<<"$out" || die "the LoRA request was not answered by an adapter"
	"$BUILD/inferlb" --socket "$CONTROL_SOCKET" --pin-dir "$PIN_DIR" backends

	step "shared-prefix load through inferlb"
	say "loadgen --workload shared-prefix ${LG_ARGS[*]}, from $CLIENT_NS to $GATEWAY_HOST:8888"
	show_load inferlb

	step "the same load through round-robin"
	say "the agent restarted with --l7-policy round-robin (it adopts its pinned data path), the pods restarted cold"
	agent_stop
	kill_recorded 'qwen-*'
	sims_start
	agent_start round-robin
	show_load roundrobin

	step "result"
	print_table

	step "scale from zero: a request to a Service with no pod"
	scale_from_zero

	step "removing the demo's namespaces, pins and processes"
	teardown
	MODE=finished
	say "done"
}

write_env() {
	cat >"$ENV_FILE.tmp" <<ENV
# Written by tools/demo/demo.sh up; removed by 'make demo-down'.
GATEWAY_HOST=$GATEWAY_HOST
GATEWAY_PORT=$GATEWAY_PORT
CLIENT_NS=$CLIENT_NS
NODE_NS=$NODE_NS
CONTROL_SOCKET=$CONTROL_SOCKET
PIN_DIR=$PIN_DIR
ENV
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

print_usage_up() {
	cat <<TXT

The seed's setup is running. From build/demo.env:
  source $ENV_FILE
Step 5 of the guide, from the client namespace:
  ip netns exec \$CLIENT_NS curl http://\${GATEWAY_HOST}:8888/v1/chat/completions \\
    -H "Host: qwen.default.example.com" -H "Content-Type: application/json" \\
    -d '{"model": "/models/Qwen1.5-4B-Chat/", "messages": [{"role": "user", "content": "Explain Kubernetes in one sentence."}], "max_tokens": 50}'
The live view:
  $BUILD/inferlb --socket $CONTROL_SOCKET --pin-dir $PIN_DIR top
Remove it all:
  make demo-down
TXT
}

# up_alive: the recorded topology is whole (agent running, gateway answering).
up_alive() {
	local pid start
	[ -f "$STATE" ] && grep -q '^mode up' "$STATE" || return 1
	read -r pid start < <(awk '$1 == "pid" && $4 ~ /^agent/ { p = $2 " " $3 } END { print p }' "$STATE")
	[ -n "${pid:-}" ] && [ "$(pid_start "$pid" 2>/dev/null)" == "$start" ] || return 1
	seed_curl -f -o /dev/null 2>/dev/null
}

cmd_up() {
	MODE=up
	preflight
	if up_alive; then
		step "already up"
		write_env
		print_usage_up
		return 0
	fi
	names_free
	teardown
	set_traps
	up_topology
	step "the guide's step 5 through the gateway"
	seed_curl
	echo
	write_env
	print_usage_up
}

cmd_down() {
	MODE=down
	[ "$(id -u)" -eq 0 ] || die "needs root"
	if [ -f "$STATE" ]; then
		echo "demo: removing the demo's namespaces, pins and processes"
		teardown
	else
		echo "demo: nothing to remove"
		rm -f "$ENV_FILE"
	fi
}

case "${1:-run}" in
run) cmd_run ;;
up) cmd_up ;;
down) cmd_down ;;
*)
	echo "usage: $0 run|up|down" >&2
	exit 2
	;;
esac
