#!/usr/bin/env bash
# test_knative_activator - Knative's activator for a revision with no ready pod, used as
# Knative's own ingress uses it: with the revision's ServerlessService in Proxy mode and ready
# addresses in its public Endpoints, a request goes there (the Host unchanged, the revision in
# Knative-Serving-Revision and -Namespace) instead of waiting in the agent; in Serve mode, or
# with no ready address, it waits as before; with a ready pod it goes to the pod. Read from
# manifests, then from the Kubernetes API (tools/fake-apiserver), whose SKS and Endpoints
# events move the routing. Pod namespace 2 plays the activator (tests/e2e/kn_activator.py on
# 8012); pod namespace 1 is the revision's pod (tools/vllm-sim on 8080).
set -u
source "$(dirname "$0")/l7_topology.sh"
ACT=198.19.2.2
API_PORT=17453
ACT_LOG=$T_LOGDIR/activator.jsonl

for tool in jq python3; do
	command -v "$tool" >/dev/null || { not_ok "$tool is installed" "apt-get install $tool"; t_done; exit 1; }
done

# ---- the objects, as Knative writes them (printed; put FILE writes one into the manifests)

put() { cat >"$MANIFESTS/$1.tmp" && mv "$MANIFESTS/$1.tmp" "$MANIFESTS/$1"; }

# The seed's Service with the status Knative gives it: its one revision, qwen-00001.
service_yaml() {
	python3 - "$ROOT/examples/seed/qwen-service.yaml" <<'PY'
import sys
print(open(sys.argv[1]).read().rstrip("\n"))
print("""status:
  latestCreatedRevisionName: qwen-00001
  latestReadyRevisionName: qwen-00001
  url: http://qwen.default.example.com
  traffic:
  - revisionName: qwen-00001
    latestRevision: true
    percent: 100""")
PY
}

sks_yaml() {	# MODE
	cat <<YAML
apiVersion: networking.internal.knative.dev/v1alpha1
kind: ServerlessService
metadata:
  name: qwen-00001
  namespace: default
  labels: {serving.knative.dev/revision: qwen-00001, serving.knative.dev/service: qwen}
spec:
  mode: $1
  numActivators: 2
  objectRef: {apiVersion: apps/v1, kind: Deployment, name: qwen-00001-deployment}
  protocolType: http1
status:
  privateServiceName: qwen-00001-private
  serviceName: qwen-00001
YAML
}

# eps_yaml READY NOT_READY [PORT]: the revision's public Endpoints (addresses space-separated).
eps_yaml() {
	local ip
	cat <<YAML
apiVersion: v1
kind: Endpoints
metadata:
  name: qwen-00001
  namespace: default
  labels:
    networking.internal.knative.dev/serverlessservice: qwen-00001
    networking.internal.knative.dev/serviceType: Public
    serving.knative.dev/revision: qwen-00001
subsets:
YAML
	echo "- ports: [{name: http, port: ${3:-8012}, protocol: TCP}]"
	if [ -n "$1" ]; then
		echo "  addresses:"
		for ip in $1; do echo "  - {ip: $ip, targetRef: {kind: Pod, namespace: knative-serving, name: activator-1}}"; done
	fi
	if [ -n "$2" ]; then
		echo "  notReadyAddresses:"
		for ip in $2; do echo "  - {ip: $ip}"; done
	fi
}

pod_yaml() {	# READY
	cat <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: qwen-00001-deployment-1
  namespace: default
  labels: {serving.knative.dev/service: qwen, serving.knative.dev/revision: qwen-00001}
spec:
  containers:
  - name: vllm-container
    ports:
    - containerPort: 8080
status:
  podIP: 198.19.1.2
  conditions:
  - type: Ready
    status: "$1"
YAML
}

# ---- what the agent says and does

cli() { "$BUILD/inferlb" --socket "$SOCK" "$@"; }
pool_field() { cli pools -j | jq -r ".[] | select(.name == \"qwen-00001\") | .$1"; }
# wait_via VIA: until inferlb pools says requests go there (5 s at most)
wait_via() {
	wait_for 5 bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' pools -j |
		jq -r '.[] | select(.name == \"qwen-00001\") | .via')\" == '$1' ]"
	sleep 0.2 # the L7 thread takes the next route table on its own tick
}
served() { [ -f "$ACT_LOG" ] && wc -l <"$ACT_LOG" || echo 0; }

# held_send NAME: a request in the background (its answer in NAME.json, its status in NAME.code
# under T_LOGDIR), once the agent holds it (pending 1).
held_send() {
	HELD_BEFORE=$(served)
	kn_curl -o "$T_LOGDIR/$1.json" -w '%{http_code}' >"$T_LOGDIR/$1.code" &
	HELD_PID=$!
	wait_for 3 bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' pools -j | jq -r '.[] | select(.name == \"qwen-00001\") | .pending')\" == 1 ]"
}
# held_answered NAME DESC FAILED_DESC: held_send's request answered 200 by the activator.
held_answered() {
	wait "$HELD_PID"
	if [ "$(cat "$T_LOGDIR/$1.code")" == 200 ] && grep -q '"served_by": "activator"' "$T_LOGDIR/$1.json" &&
		[ "$(served)" -eq $((HELD_BEFORE + 1)) ]; then
		ok "$2"
	else
		not_ok "$3" "$(cat "$T_LOGDIR/$1.code"): $(head -c 300 "$T_LOGDIR/$1.json")"
	fi
}
last_seen() { tail -n 1 "$ACT_LOG" | jq -r "$1"; }

# expect_activator DESC [CURL ARGS]: one request, answered 200 by the activator.
expect_activator() {
	local desc=$1 before out
	shift
	before=$(served)
	out=$(kn_curl -w '\n%{http_code}' "$@")
	if [ "$(tail -n 1 <<<"$out")" == 200 ] && grep -q '"served_by": "activator"' <<<"$out" &&
		[ "$(served)" -eq $((before + 1)) ]; then
		ok "$desc"
	else
		not_ok "$desc" "${out:0:300}" "activator requests: $before -> $(served)" "pool: $(cli pools -j | jq -c '.[] | select(.name == "qwen-00001")')"
	fi
}
# expect_pod DESC: one request, answered by the revision's pod (not the activator).
expect_pod() {
	local before out
	before=$(served)
	out=$(kn_curl)
	if grep -q '"choices"' <<<"$out" && [ "$(served)" -eq "$before" ]; then ok "$1"; else
		not_ok "$1" "${out:0:300}" "activator requests: $before -> $(served)"
	fi
}

topology_up 2 || { not_ok "topology" "could not build the namespaces"; t_done; exit 1; }
bg sim1 ip netns exec "${T_PREFIX}p1" "$BUILD/vllm-sim" --host 198.19.1.2 --port 8080 \
	--model "$SEED_MODEL" --time-scale 0.05
bg activator ip netns exec "${T_PREFIX}p2" python3 "$ROOT/tests/e2e/kn_activator.py" "$ACT" 8012 "$ACT_LOG"
wait_for 5 np 2 curl -sf "http://$ACT:8012/healthz" || not_ok "the stand-in activator answers" "$(cat "$T_LOGDIR/activator.log")"

# ==== from manifests

knative_gateway_yaml | put gateway.yaml
service_yaml | put qwen-service.yaml
sks_yaml Proxy | put sks.yaml
eps_yaml "$ACT" "" | put eps.yaml
agent_start --hold-timeout 3000
wait_for 10 nn_host test -S "$SOCK" || { not_ok "the agent starts" "$(tail -5 "$T_LOGDIR/agent.log")"; t_done; exit 1; }

# Scaled to zero, SKS in Proxy mode: the activator takes the request, nothing waits.
wait_via activator
check_eq "inferlb pools -j: no pod, SKS Proxy, one activator address: via activator" "0 Proxy 1 activator" \
	"$(pool_field ready) $(pool_field sks_mode) $(pool_field activator_endpoints) $(pool_field via)"
check_cmd "inferlb pools shows it in the VIA column" bash -c \
	"'$BUILD/inferlb' --socket '$SOCK' pools | grep -Eq '^default/qwen-00001 .* 0/0 .* activator\$'"
expect_activator "a request to the revision at zero is answered 200 by the activator"
check_eq "it reached the activator with the original Host and Knative's revision headers" \
	"qwen.default.example.com default qwen-00001 /v1/chat/completions" \
	"$(last_seen '"\(.host) \(.namespace) \(.revision) \(.path)"')"
check_eq "and was not held: nothing pending, counted as sent to the activator" "0 1" \
	"$(pool_field pending) $(pool_field activator_requests)"
expect_activator "a client's own Knative-Serving-* headers" -H "Knative-Serving-Revision: secret-00001" \
	-H "Knative-Serving-Namespace: kube-system"
check_eq "are replaced by the revision's, once each" "default qwen-00001 1 1" \
	"$(last_seen '"\(.namespace) \(.revision) \(.n_namespace) \(.n_revision)"')"

# Serve mode with a Ready pod: the pod takes requests directly.
sks_yaml Serve | put sks.yaml
pod_yaml True | put pods.yaml
wait_via pods
check_eq "SKS Serve, a Ready pod: via pods" "1 Serve pods" "$(pool_field ready) $(pool_field sks_mode) $(pool_field via)"
expect_pod "requests go to the pod, not the activator"
# Knative keeps the activator in the path in Proxy mode with pods too (target-burst-capacity);
# the agent reaches a Ready pod itself.
sks_yaml Proxy | put sks.yaml
wait_for 5 bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' pools -j | jq -r '.[] | select(.name == \"qwen-00001\") | .sks_mode')\" == Proxy ]"
sleep 0.2
expect_pod "SKS Proxy with a Ready pod: still to the pod directly"

# Serve mode with no pod: the request waits in the agent as before; the SKS turning to Proxy
# sends the waiting request to the activator.
sks_yaml Serve | put sks.yaml
pod_yaml False | put pods.yaml
wait_via hold
held_send held
check_eq "SKS Serve, no Ready pod: the request waits (pending 1, via hold)" "1 hold" \
	"$(pool_field pending) $(pool_field via)"
sks_yaml Proxy | put sks.yaml
held_answered held "the SKS turning to Proxy sends the waiting request to the activator: 200" \
	"the SKS turning to Proxy sends the waiting request to the activator"
check_eq "nothing pending afterwards" "0" "$(pool_field pending)"

# Proxy mode, but the public Endpoints have no ready address: hold as before, then 503.
eps_yaml "" "$ACT" | put eps.yaml
wait_via hold
check_eq "SKS Proxy, no ready address in its Endpoints: via hold" "Proxy 0 hold" \
	"$(pool_field sks_mode) $(pool_field activator_endpoints) $(pool_field via)"
before=$(served)
out=$(kn_curl -D - -o /dev/null)
if grep -q "^HTTP/1.1 503" <<<"$out" && grep -qi "^Retry-After:" <<<"$out" && [ "$(served)" -eq "$before" ]; then
	ok "it waits for --hold-timeout, then 503 with Retry-After (the activator not asked)"
else
	not_ok "no ready address: held, then 503 with Retry-After" "${out:0:300}"
fi

# An address where no activator listens: 503 at once, not a wait.
eps_yaml "$ACT" "" 8013 | put eps.yaml
wait_via activator
code=$(kn_curl -o "$T_LOGDIR/unreachable.json" -w '%{http_code} %{time_total}')
if [ "${code% *}" == 503 ] && grep -q "activator could not be reached" "$T_LOGDIR/unreachable.json"; then
	ok "an activator address that refuses: 503 ($code s)"
else
	not_ok "an activator address that refuses: 503" "$code $(head -c 300 "$T_LOGDIR/unreachable.json")"
fi

kill "$PID_agent"
wait "$PID_agent" 2>/dev/null

# ==== from the Kubernetes API: fake-apiserver in the node's namespace

API=https://127.0.0.1:$API_PORT
ADMIN=http://127.0.0.1:$((API_PORT + 1))
D=$T_LOGDIR
"$ROOT/tools/fake-apiserver/gen-certs.sh" "$D/certs" "$API" || { not_ok "gen-certs.sh"; t_done; exit 1; }
mkdir -p "$D/k8s"
knative_gateway_yaml >"$D/k8s/gateway.yaml"
service_yaml >"$D/k8s/service.yaml"
sks_yaml Proxy >"$D/k8s/sks.yaml"
eps_yaml "$ACT" "" >"$D/k8s/eps.yaml"
# a Service's own Endpoints: not Knative's public ones, not listed
printf 'apiVersion: v1\nkind: Endpoints\nmetadata: {name: kubernetes, namespace: default}\nsubsets: [{addresses: [{ip: 10.0.0.1}], ports: [{name: https, port: 6443}]}]\n' \
	>"$D/k8s/kubernetes-eps.yaml"
bg fas nsenter --net="/run/netns/$NS_NODE" "$BUILD/fake-apiserver" --port "$API_PORT" --admin-port $((API_PORT + 1)) \
	--tls-cert-file "$D/certs/server.crt" --tls-private-key-file "$D/certs/server.key" \
	--token-auth-file "$D/certs/tokens.csv" --bookmark-interval 1s --load "$D/k8s"
wait_for 5 nn curl -sf "$ADMIN/admin/healthz" || not_ok "fake-apiserver starts" "$(tail -3 "$D/fas.log")"
apply() { nn curl -sS -X POST "$ADMIN/admin/apply" --data-binary @- >/dev/null; }
delete() { nn curl -sS -X POST "$ADMIN/admin/delete?$1" >/dev/null; }

bg agent2 nsenter --net="/run/netns/$NS_NODE" "$BUILD/inferlb-agent" --kubeconfig "$D/certs/kubeconfig" \
	--iface uplink --pin-dir "$PIN_DIR" --socket "$SOCK" --metrics-addr off --keep --hold-timeout 3000 -v
wait_for 10 nn_host test -S "$SOCK" || { not_ok "the agent starts" "$(tail -5 "$T_LOGDIR/agent2.log")"; t_done; exit 1; }
wait_for 10 bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j | jq -e '.sources[0].synced'"
check_eq "Kubernetes: the SKS and Knative's public Endpoints listed and watched (the others not listed)" \
	"1 true 1 true" \
	"$(cli status -j | jq -r '[.sources[0].kinds[] | select(.name == "serverlessservices.v1alpha1.networking.internal.knative.dev" or .name == "endpoints") | "\(.objects) \(.watching)"] | join(" ")')"
wait_via activator
expect_activator "Kubernetes: the revision at zero, SKS Proxy: answered by the activator"
check_eq "with the original Host" "qwen.default.example.com qwen-00001" "$(last_seen '"\(.host) \(.revision)"')"

sks_yaml Serve | apply
pod_yaml True | apply
wait_via pods
expect_pod "Kubernetes: SKS Serve and a Ready pod (watch events): to the pod"

sks_yaml Proxy | apply
delete "kind=Pod&namespace=default&name=qwen-00001-deployment-1"
wait_via activator
expect_activator "Kubernetes: SKS Proxy again and the pod gone: to the activator"

# The activator's address leaves the Endpoints: requests wait; it comes back: they go.
eps_yaml "" "$ACT" | apply
wait_via hold
held_send held2
check_eq "Kubernetes: Endpoints without a ready address: the request waits" "1" "$(pool_field pending)"
eps_yaml "$ACT" "" | apply
held_answered held2 "Kubernetes: the address back in the Endpoints sends the waiting request to the activator" \
	"Kubernetes: the address back sends the waiting request to the activator"

delete "kind=ServerlessService&apiVersion=networking.internal.knative.dev/v1alpha1&namespace=default&name=qwen-00001"
wait_via hold
check_eq "Kubernetes: the SKS deleted: no SKS, via hold" " hold" "$(pool_field sks_mode) $(pool_field via)"

kill "$PID_agent2"
wait "$PID_agent2" 2>/dev/null
t_done
