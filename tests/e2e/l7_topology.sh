# l7_topology.sh - the L7 test topology, sourced after tests/lib.sh and l4_topology.sh:
# the same namespaces, with tools/vllm-sim as each pod's model server and the seed's
# gateway (Gateway knative-gateway, port 8888) at GW, an address only the maps know.

GW=198.18.100.200
GW_PORT=8888
SEED_MODEL=/models/Qwen1.5-4B-Chat/

# sim_start I [ARGS...]: vllm-sim in pod I on :8000, fast clock.
sim_start() {
	local i=$1
	shift
	bg "sim$i" ip netns exec "${T_PREFIX}p$i" "$BUILD/vllm-sim" --host "198.19.$i.2" --port 8000 \
		--model "$SEED_MODEL" --time-scale 0.05 --seed "$i" "$@"
}

# write_l7_manifests "1 2 3" [FAILURE_MODE]: the seed's Gateway, HTTPRoute and InferencePool.
write_l7_manifests() {
	local f=$MANIFESTS/seed.yaml.tmp i mode=${2:-FailOpen}
	cat >"$f" <<YAML
apiVersion: gateway.networking.k8s.io/v1
kind: Gateway
metadata:
  name: knative-gateway
  namespace: default
spec:
  gatewayClassName: inferlb
  addresses:
  - type: IPAddress
    value: $GW
  listeners:
  - name: http
    port: $GW_PORT
    protocol: HTTP
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: qwen
  namespace: default
spec:
  parentRefs:
  - name: knative-gateway
  hostnames:
  - qwen.default.example.com
  rules:
  - backendRefs:
    - group: inference.networking.k8s.io
      kind: InferencePool
      name: qwen
---
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: qwen
  namespace: default
spec:
  selector:
    matchLabels:
      app: qwen
  targetPorts:
  - number: 8000
  endpointPickerRef:
    name: inferlb
    port:
      number: 9002
    failureMode: $mode
YAML
	for i in $1; do
		cat >>"$f" <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: qwen-$i
  namespace: default
  labels:
    app: qwen
status:
  podIP: 198.19.$i.2
  conditions:
  - type: Ready
    status: "True"
YAML
	done
	mv "$f" "$MANIFESTS/seed.yaml"
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

SEED_BODY='{"model": "'"$SEED_MODEL"'", "messages": [{"role": "user", "content": "Explain Kubernetes in one sentence."}], "max_tokens": 50}'

# seed_curl [ARGS...]: the seed's step 5, from the client namespace.
seed_curl() {
	gw_post "$SEED_BODY" "$@"
}

# gw_post BODY [ARGS...]: a chat completion through the gateway as the seed sends it.
gw_post() {
	local body=$1
	shift
	nc curl -sS -m 20 "http://$GW:$GW_PORT/v1/chat/completions" -H "Host: qwen.default.example.com" \
		-H "Content-Type: application/json" -d "$body" "$@"
}
