#!/usr/bin/env bash
# test_l7_routing - what the L7 lane decides per request: two pools told apart by model
# name (no Host route), a model rewrite, saturation shedding only Sheddable requests, and a
# pod that dies mid-stream closing its client instead of leaving it hanging, and a burst
# in one wakeup spread by round-robin.
set -u
source "$(dirname "$0")/l7_topology.sh"

# Pods 1-2 serve the seed's model (pool qwen); pod 3 serves "llama" (pool llama).
write_models() {
	write_l7_manifests "1 2"
	{
		pool_yaml llama "" ""
		cat <<YAML
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: qwen
  namespace: default
spec:
  modelName: $SEED_MODEL
  criticality: Critical
  poolRef:
    name: qwen
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: llama
  namespace: default
spec:
  modelName: llama
  criticality: Standard
  poolRef:
    name: llama
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceModel
metadata:
  name: assistant
  namespace: default
spec:
  modelName: assistant
  criticality: Standard
  poolRef:
    name: llama
  targetModels:
  - name: llama
    weight: 100
---
apiVersion: inference.networking.x-k8s.io/v1alpha2
kind: InferenceObjective
metadata:
  name: batch
  namespace: default
spec:
  priority: -1
  poolRef:
    name: qwen
YAML
		pod_yaml llama-3 llama 198.19.3.2
	} | put "$MANIFESTS/models.yaml"
}

# by_model MODEL [ARGS]: a completion with no Host route (the address as Host).
by_model() {
	local model=$1
	shift
	nc curl -s -m 30 "http://$GW:$GW_PORT/v1/completions" -H "Content-Type: application/json" \
		-d '{"model":"'"$model"'","prompt":"hello","max_tokens":4}' "$@"
}

topology_up 3 || { not_ok "topology" "could not build the namespaces"; t_done; exit 1; }
# Slow pods with one sequence at a time, so that a burst queues and the pool saturates.
sim_start 1 --max-num-seqs 1 --decode-step-ms 40 --output-len 8 --time-scale 1
sim_start 2 --max-num-seqs 1 --decode-step-ms 40 --output-len 8 --time-scale 1
bg sim3 ip netns exec "${T_PREFIX}p3" "$BUILD/vllm-sim" --host 198.19.3.2 --port 8000 --model llama --time-scale 0.05
write_models
agent_start
wait_for 10 nn_host test -S "$SOCK"
wait_for 10 by_model llama -f -o /dev/null

out=$(by_model llama)
grep -q '"model":"llama"' <<<"$out" && ok "model llama goes to the llama pool" || not_ok "model llama goes to the llama pool" "${out:0:300}"
out=$(by_model "$SEED_MODEL")
grep -q '"model":"/models/Qwen1.5-4B-Chat/"' <<<"$out" && ok "the seed's model goes to the qwen pool" ||
	not_ok "the seed's model goes to the qwen pool" "${out:0:300}"
out=$(by_model assistant)
grep -q '"model":"llama"' <<<"$out" && ok "model assistant is rewritten to llama (targetModels)" ||
	not_ok "model assistant is rewritten to llama" "${out:0:300}"
code=$(by_model no-such-model -o "$T_LOGDIR/nf.json" -w '%{http_code}')
if [ "$code" == 404 ] && grep -q 'The model `no-such-model` does not exist' "$T_LOGDIR/nf.json"; then
	ok "a model no pool serves: 404 from the gateway, OpenAI-style"
else
	not_ok "a model no pool serves: 404" "got $code: $(head -c 200 "$T_LOGDIR/nf.json")"
fi

# Saturation: a burst queues on both qwen pods; then the objective "batch" (priority -1)
# is shed with 429 while a Critical request is still served.
nc bash -c "for i in \$(seq 1 24); do curl -s -m 60 -o /dev/null http://$GW:$GW_PORT/v1/completions \
	-H 'Content-Type: application/json' -d '{\"model\":\"$SEED_MODEL\",\"prompt\":\"p\$i\",\"max_tokens\":8,\"ignore_eos\":true}' & done; wait" &
burst=$!
saturated=0
for _ in $(seq 1 40); do
	q=$($BUILD/inferlb --socket "$SOCK" backends default/qwen -j | jq '[.[].queue] | min')
	if [ "${q%.*}" -gt 5 ] 2>/dev/null; then saturated=1; break; fi
	sleep 0.1
done
shed=$(by_model "$SEED_MODEL" -H "x-gateway-inference-objective: batch" -o "$T_LOGDIR/shed.json" -w '%{http_code}')
crit=$(by_model "$SEED_MODEL" -o /dev/null -w '%{http_code}')
if [ "$saturated" == 1 ] && [ "$shed" == 429 ] && grep -q '"code":429' "$T_LOGDIR/shed.json" && [ "$crit" == 200 ]; then
	ok "a saturated pool sheds the Sheddable objective (429) and serves Critical (200)"
else
	not_ok "a saturated pool sheds only Sheddable" "saturated=$saturated sheddable=$shed critical=$crit" "$(head -c 200 "$T_LOGDIR/shed.json")"
fi
wait $burst
# The views count it: the pool's sheds (inferlb pools), each pod's picks (inferlb backends).
sheds=$($BUILD/inferlb --socket "$SOCK" pools -j | jq -r '.[] | select(.name == "qwen") | .sheds')
picks=$($BUILD/inferlb --socket "$SOCK" backends default/qwen -j | jq '[.[].picks] | add')
if [ "${sheds:-0}" -ge 1 ] 2>/dev/null && [ "${picks:-0}" -ge 25 ] 2>/dev/null; then
	ok "inferlb pools counts the pool's sheds ($sheds), backends each pod's picks ($picks in all)"
else
	not_ok "pools shows sheds, backends picks" "sheds=$sheds picks=$picks"
fi

# A pod that dies mid-stream: the client sees the connection close, not a hang.
start=$(date +%s)
nc curl -s -N -m 30 -o "$T_LOGDIR/cut.txt" "http://$GW:$GW_PORT/v1/completions" -H "Content-Type: application/json" \
	-d '{"model":"llama","prompt":"long","max_tokens":4000,"ignore_eos":true,"stream":true}' &
cl=$!
sleep 1
kill -9 "$PID_sim3"
wait "$PID_sim3" 2>/dev/null
wait $cl
rc=$?
took=$(($(date +%s) - start))
if [ "$rc" -ne 0 ] && [ "$took" -lt 10 ] && grep -q '^data: {' "$T_LOGDIR/cut.txt"; then
	ok "a pod killed mid-stream closes the client (curl exit $rc after ${took} s, partial stream)"
else
	not_ok "a pod killed mid-stream closes the client" "curl exit $rc after ${took} s" "$(tail -c 200 "$T_LOGDIR/cut.txt")"
fi
infl=$($BUILD/inferlb --socket "$SOCK" backends -j | jq '[.[].in_flight] | add')
check_eq "no request stays in flight after the pod died" "0" "$infl"
# 16 requests in one wakeup, round-robin: each pick moves the cycle on at once (not once
# its connection is made), so the pods take turns instead of one pod taking the batch.
kill "$PID_agent"
wait "$PID_agent" 2>/dev/null
agent_argv
bg agent_rr "${AGENT_ARGV[@]}" --metrics-addr off --keep --l7-policy round-robin -v
wait_for 10 by_model "$SEED_MODEL" -f -o /dev/null
picks_of() { $BUILD/inferlb --socket "$SOCK" backends default/qwen -j | jq -r '[.[].picks] | join(" ")'; }
read -r a0 b0 <<<"$(picks_of)"
statuses=$(nc python3 "$(dirname "$0")/l7_peer.py" burst "$GW" "$GW_PORT" "$GW" "$SEED_MODEL" 16 2>&1)
read -r a1 b1 <<<"$(picks_of)"
da=$((${a1:-0} - ${a0:-0})) db=$((${b1:-0} - ${b0:-0}))
if [ "$(tr ' ' '\n' <<<"$statuses" | grep -c '^200$')" == 16 ] && [ "$da" -ge 4 ] && [ "$db" -ge 4 ]; then
	ok "a burst of 16 in one wakeup spreads over both qwen pods under round-robin ($da and $db)"
else
	not_ok "a burst in one wakeup spreads over both pods" "picks $da and $db; statuses: ${statuses:0:200}"
fi

t_done
