# l7_topology.sh - the L7 test topology, sourced first by the L7 e2e tests (it sources
# l4_topology.sh): the same namespaces, with tools/vllm-sim as each pod's model server and the
# seed's gateway (Gateway knative-gateway, port 8888) at GW, an address only the maps know.
# seed_curl and gw_post (tools/lib/topology.sh) send the seed's requests to it.

source "$(dirname "${BASH_SOURCE[0]}")/l4_topology.sh"

# sim_start I [ARGS...]: vllm-sim in pod I on :8000, fast clock.
sim_start() {
	local i=$1
	shift
	bg "sim$i" ip netns exec "$(pod_ns "$i")" "$BUILD/vllm-sim" --host "198.19.$i.2" --port 8000 \
		--model "$SEED_MODEL" --time-scale 0.05 --seed "$i" "$@"
}

# write_l7_manifests "1 2 3" [FAILURE_MODE]: the seed's Gateway, HTTPRoute and InferencePool.
write_l7_manifests() {
	local i
	{
		gateway_yaml
		pool_yaml qwen "" "${2:-FailOpen}"
		for i in $1; do pod_yaml "qwen-$i" qwen "198.19.$i.2"; done
	} | put "$MANIFESTS/seed.yaml"
}

# knative_gateway_yaml: the seed's Gateway as Knative's guide writes it, its address in the
# inferlb.io/vip annotation; printed.
knative_gateway_yaml() {
	cat <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: knative-gateway
  namespace: knative-serving
  annotations:
    inferlb.io/vip: "$GW"
spec:
  gatewayClassName: ack-gateway
  listeners:
  - name: llm-gw
    protocol: HTTP
    port: $GW_PORT
YAML
}

# kn_curl [ARGS...]: the seed's request to the Service's host, a longer wait than seed_curl's
# (a request may be held until a pod is Ready).
kn_curl() {
	nc curl -s -m 30 "http://$GW:$GW_PORT/v1/chat/completions" -H "Host: $GW_HOST" \
		-H "Content-Type: application/json" -d "$SEED_BODY" "$@"
}

# served_on I [PORT]: requests pod I's vllm-sim has answered (vllm:request_success_total).
served_on() {
	np "$1" curl -sf "http://198.19.$1.2:${2:-8000}/metrics" |
		awk '/^vllm:request_success_total/ { s += $NF } END { printf "%d\n", s }'
}
