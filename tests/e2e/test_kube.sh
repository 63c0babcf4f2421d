#!/usr/bin/env bash
# test_kube.sh - the agent's Kubernetes source against tools/fake-apiserver over HTTPS:
# initial list, watch events reaching the backends (and a Knative Service's derived pool, and
# Knative's config-domain ConfigMap, the only ConfigMap it reads),
# 410 Gone and re-list, the server restarting and down for a while, a bad token, missing
# CRDs, in-cluster with token rotation.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
t_init

PORT=17443
ADMIN_PORT=$((PORT + 1))
METRICS=127.0.0.1:$((PORT + 2))
API=https://127.0.0.1:$PORT
ADMIN=http://127.0.0.1:$ADMIN_PORT
D=$T_LOGDIR
PIN_DIR=/sys/fs/bpf/$T_PREFIX
SOCK=$D/agent.sock
FIX=$ROOT/tests/fixtures/k8s
KINDS=12 # pods, InferencePool v1 and v1alpha2, objectives, rewrites, models, gateways, routes, Knative Services,
	# Knative's config-domain ConfigMap, ServerlessServices and public Endpoints
on_cleanup "rm -rf $PIN_DIR $PIN_DIR-bad $PIN_DIR-crd $PIN_DIR-sa"
# Everything in a namespace of its own: the agent's L7 lane hooks the namespace's sockets.
NS=$T_PREFIX-kube
netns_add "$NS" || { not_ok "network namespace" "ip netns add $NS failed"; t_done; exit 1; }
# nsenter joins only the network namespace: the agent keeps the host's bpffs
nn() { nsenter --net="/run/netns/$NS" "$@"; }
# pods are reached through a gateway whose MAC is known: their next hops resolve
nn ip link add up0 type veth peer name up1 && nn ip link set up0 up && nn ip link set up1 up &&
	nn ip addr add 10.0.0.1/24 dev up0 && nn ip route add 10.244.0.0/16 via 10.0.0.2 &&
	nn ip neigh add 10.0.0.2 lladdr 02:00:00:00:00:02 dev up0 nud permanent ||
	{ not_ok "a route to the pods" "could not set up up0"; t_done; exit 1; }

for bin in inferlb-agent inferlb fake-apiserver; do
	if [ ! -x "$BUILD/$bin" ]; then
		not_ok "$bin is built" "missing $BUILD/$bin (make all)"
		t_done
		exit 1
	fi
done
"$ROOT/tools/fake-apiserver/gen-certs.sh" "$D/certs" "$API" || { not_ok "gen-certs.sh" ; t_done; exit 1; }
TOKEN=$(cat "$D/certs/token")

# fas_start NAME [ARGS]: the fake API server (tokens of gen-certs.sh unless ARGS give
# others); waits until it answers.
fas_start() {
	local name=$1
	shift
	[[ " $* " == *" --token "* ]] || set -- --token-auth-file "$D/certs/tokens.csv" --deny-user reader "$@"
	bg "$name" nsenter --net="/run/netns/$NS" "$BUILD/fake-apiserver" --port "$PORT" --admin-port "$ADMIN_PORT" \
		--tls-cert-file "$D/certs/server.crt" --tls-private-key-file "$D/certs/server.key" \
		--bookmark-interval 1s "$@"
	wait_for 5 nn curl -sf "$ADMIN/admin/healthz"
}
fas_stop() {	# PID: stops one server and waits until it is gone
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
agent_bg() { bg "$1" nsenter --net="/run/netns/$NS" "$BUILD/inferlb-agent" "${@:2}"; }	# NAME ARGS
admin() { nn curl -sS -X POST "$@"; }
apply() { admin "$ADMIN/admin/apply" --data-binary @- >/dev/null; }
cli() { "$BUILD/inferlb" --socket "$SOCK" "$@"; }
# ready pods of the agent's backends, "ns/name ..." in order
ready_pods() { cli backends -j | jq -r '[.[] | select(.state == "ready") | .pod] | sort | join(" ")'; }
# expect_ready SECONDS DESC PODS: the ready set becomes PODS within SECONDS
expect_ready() {
	local got
	wait_for "$1" bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' backends -j |
		jq -r '[.[] | select(.state == \"ready\") | .pod] | sort | join(\" \")')\" == '$3' ]"
	got=$(ready_pods)
	check_eq "$2" "$3" "$got"
}
kinds_json() { cli status -j | jq -c "[.sources[0].kinds[] | $1]"; }
readyz() { nn curl -s -o /dev/null -w '%{http_code}' "http://$METRICS/readyz"; }
pod_yaml() {	# NAME IP READY [APP]
	cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, namespace: default, labels: {app: ${4:-vllm-llama3}}}
spec: {nodeName: gpu-node-a, containers: [{name: vllm, image: vllm, ports: [{containerPort: 8000}]}]}
status: {phase: Running, podIP: $2, conditions: [{type: Ready, status: "$3"}]}
YAML
}

# --- the agent starts before the API server: not ready, says why, then syncs
agent_bg agent --kubeconfig "$D/certs/kubeconfig" --pin-dir "$PIN_DIR" --socket "$SOCK" \
	--metrics-addr "$METRICS" -v
wait_for 5 test -S "$SOCK"
wait_for 3 bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j | jq -e '.sources[0].kinds[0].error | length > 0'"
check_eq "with the API server down: not ready, every kind unsynced" "503 false" \
	"$(readyz) $(cli status -j | jq '.sources[0].synced or any(.sources[0].kinds[]; .synced)')"
check_cmd "status says the API server cannot be reached" \
	bash -c "'$BUILD/inferlb' --socket '$SOCK' status | grep -q \"Couldn't connect\""
check_eq "one log line for the unreachable server, not one per kind" "1" \
	"$(grep -c "warn: kubernetes.*Couldn't connect" "$D/agent.log")"

fas_start fas --load "$FIX" || { not_ok "fake-apiserver starts" "$(tail -3 "$D/fas.log")"; t_done; exit 1; }
if wait_for 15 bash -c "[ \"\$(nsenter --net=/run/netns/$NS curl -s -o /dev/null -w '%{http_code}' http://$METRICS/readyz)\" == 200 ]"; then
	ok "the agent syncs once the API server is up; /readyz 200"
else
	not_ok "the agent syncs once the API server is up; /readyz 200" "$(tail -5 "$D/agent.log")"
fi
check_eq "every kind listed and watched" "$KINDS $KINDS" \
	"$(kinds_json 'select(.synced)' | jq length) $(kinds_json 'select(.watching)' | jq length)"
check_eq "status text shows the source and each kind" "2" \
	"$(cli status | grep -cE '^  (kubernetes +kubeconfig .*yes|pods +yes +yes +4 )')"
check_eq "the pool from the InferencePool, 2 of 2 ready pods" "default vllm-llama3 FailOpen 2 2" \
	"$(cli pools -j | jq -r '.[0] | "\(.namespace) \(.name) \(.failure_mode) \(.ready) \(.total)"')"
expect_ready 2 "backends are the Ready pods of the pool" "default/vllm-llama3-0 default/vllm-llama3-1"
check_eq "objectives from the API" "llama3-batch:-1 llama3-chat:10" \
	"$(cli objectives -j | jq -r '[.[] | "\(.name):\(.priority)"] | sort | join(" ")')"

# --- watch events
pod_yaml vllm-llama3-2 10.244.2.12 True | apply
expect_ready 2 "a pod becoming Ready becomes a backend" \
	"default/vllm-llama3-0 default/vllm-llama3-1 default/vllm-llama3-2"
admin "$ADMIN/admin/delete?kind=Pod&namespace=default&name=vllm-llama3-0" >/dev/null
expect_ready 2 "a deleted pod leaves" "default/vllm-llama3-1 default/vllm-llama3-2"
pod_yaml vllm-llama3-2 10.244.2.12 True retired | apply
pod_yaml vllm-llama3-5 10.244.1.15 True | apply
expect_ready 2 "a relabelled pod leaves, a new one joins" "default/vllm-llama3-1 default/vllm-llama3-5"
check_eq "the pool counts them" "2 2" "$(cli pools -j | jq -r '.[0] | "\(.ready) \(.total)"')"

# A Knative Service annotated for the AI gateway: the store derives its pool.
awk '/^apiVersion: serving.knative.dev/,0' "$ROOT/tests/fixtures/manifests/seed-other-kinds.yaml" | apply
wait_for 3 bash -c "'$BUILD/inferlb' --socket '$SOCK' pools -j | jq -e 'any(.[]; .name | test(\"qwen\"))'"
check_eq "a Knative Service from the API derives a pool" "1" "$(cli pools -j | jq '[.[] | select(.name | test("qwen"))] | length')"
admin "$ADMIN/admin/delete?kind=Service&apiVersion=serving.knative.dev/v1&namespace=default&name=qwen" >/dev/null
wait_for 3 bash -c "'$BUILD/inferlb' --socket '$SOCK' pools -j | jq -e 'all(.[]; .name | test(\"qwen\") | not)'"
check_eq "and its deletion takes the pool away" "0" "$(cli pools -j | jq '[.[] | select(.name | test("qwen"))] | length')"

# Knative's config-domain: knative-serving/config-domain only (a namespaced list with a field
# selector, all the deploy/ Role grants), followed as it changes and goes.
cm_yaml() {	# NAMESPACE NAME DOMAIN
	printf 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: %s, namespace: %s}\ndata: {%s: ""}\n' "$2" "$1" "$3"
}
cm_state() { kinds_json 'select(.name == "configmaps/config-domain") | "\(.objects) \(.events)"' | jq -r '.[0]'; }
cm_events() { cm_state | cut -d' ' -f2; }
cm_yaml default config-domain example.net | apply
cm_yaml knative-serving config-network example.net | apply
cm_yaml knative-serving config-domain example.org | apply
wait_for 3 bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' status -j |
	jq -r '.sources[0].kinds[] | select(.name == \"configmaps/config-domain\") | .objects')\" == 1 ]"
check_eq "config-domain from the API; other ConfigMaps are not read" "1" "$(cm_state | cut -d' ' -f1)"
# listed cluster-wide, the others would be reported as kinds the agent does not read
check_eq "the others are not even listed (none reported)" "0" "$(grep -c 'ConfigMap [a-z-]*/config-' "$D/agent.log")"
events=$(cm_events)
cm_yaml knative-serving config-domain example.net | apply
wait_for 3 bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' status -j |
	jq -r '.sources[0].kinds[] | select(.name == \"configmaps/config-domain\") | .events')\" -gt $events ]"
# at least one more event: a BOOKMARK (every 1 s here) may come with the change
check_eq "a change of config-domain is watched" "1 more" \
	"$(cm_state | awk -v e="$events" '{ print $1, ($2 > e ? "more" : "same: " $2) }')"
admin "$ADMIN/admin/delete?kind=ConfigMap&namespace=knative-serving&name=config-domain" >/dev/null
wait_for 3 bash -c "[ \"\$('$BUILD/inferlb' --socket '$SOCK' status -j |
	jq -r '.sources[0].kinds[] | select(.name == \"configmaps/config-domain\") | .objects')\" == 0 ]"
check_eq "and its deletion (example.com again)" "0" "$(cm_state | cut -d' ' -f1)"

# An InferencePool that becomes invalid keeps its last good state and is reported once.
sed 's/failureMode: FailOpen/failureMode: Sometimes/' "$FIX/inferencepool.yaml" | apply
admin "$ADMIN/admin/bookmark" >/dev/null
sleep 0.5
sed 's/failureMode: FailOpen/failureMode: Sometimes/; s/number: 8000/number: 8000 # again/' \
	"$FIX/inferencepool.yaml" | apply
sleep 0.5
check_eq "an invalid object keeps its last good state" "FailOpen 2" \
	"$(cli pools -j | jq -r '.[0] | "\(.failure_mode) \(.ready)"')"
check_eq "and is reported once, by name, with the field" "1" \
	"$(grep -c 'InferencePool default/vllm-llama3: .*failureMode' "$D/agent.log")"
apply <"$FIX/inferencepool.yaml"

# --- 410 Gone: streams end while a pod is deleted, history is compacted; the watch resumes
# from a version that is gone, so only a fresh list can tell the pod went
lists_before=$(kinds_json 'select(.name == "pods") | .lists' | jq '.[0]')
admin "$ADMIN/admin/stall?seconds=1" >/dev/null
admin "$ADMIN/admin/drop-watches?clean=1" >/dev/null
admin "$ADMIN/admin/delete?kind=Pod&namespace=default&name=vllm-llama3-5" >/dev/null
admin "$ADMIN/admin/compact" >/dev/null
expect_ready 5 "after 410 Gone the re-list removes what the watch missed" "default/vllm-llama3-1"
check_cmd "the log says 410 Gone and lists again" grep -q 'pods: resourceVersion [0-9]* is too old (410 Gone); listing again' "$D/agent.log"
check_eq "pods listed once more" "$((lists_before + 1))" "$(kinds_json 'select(.name == "pods") | .lists' | jq '.[0]')"

# --- the server goes away for a while: the state stays, the server comes back different
fas_stop "$PID_fas"
sleep 3
check_eq "with the server gone the backends stay" "default/vllm-llama3-1" "$(ready_pods)"
check_eq "the pool stays, /readyz stays 200 (synced once)" "1 200" "$(cli pools -j | jq '.[0].ready') $(readyz)"
check_cmd "status shows each kind's error" \
	bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j | jq -e '[.sources[0].kinds[] | select(.error != \"\")] | length == $KINDS'"
# restarted with the fixtures plus a pod: its resourceVersions start over, lower than ours
pod_yaml vllm-llama3-7 10.244.1.17 True >"$D/extra.yaml"
fas_start fas --load "$FIX" --load "$D/extra.yaml" || not_ok "fake-apiserver restarts"
expect_ready 20 "after the restart the state is the new server's" \
	"default/vllm-llama3-0 default/vllm-llama3-1 default/vllm-llama3-7"
wait_for 20 bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j |
	jq -e '[.sources[0].kinds[] | select(.watching and .error == \"\")] | length == $KINDS'"
check_eq "every kind watching again, errors cleared" "$KINDS" \
	"$(kinds_json 'select(.watching and .error == "")' | jq length)"
check_cmd "the log says it recovered" grep -q 'pods: listed 5 objects at resourceVersion [0-9]* (recovered)' "$D/agent.log"
pod_yaml vllm-llama3-8 10.244.1.18 True | apply
expect_ready 3 "watch events flow again" \
	"default/vllm-llama3-0 default/vllm-llama3-1 default/vllm-llama3-7 default/vllm-llama3-8"

# --- SIGTERM: the agent stops cleanly and removes what it pinned
kill "$PID_agent"
wait "$PID_agent"
rc=$?
check_eq "SIGTERM stops the agent cleanly, its pins removed" "0 no" "$rc $([ -e "$PIN_DIR" ] && echo yes || echo no)"

# --- a bad token: a clear error in the log and in status; never ready
sed "s/token: .*/token: not-$TOKEN/" "$D/certs/kubeconfig" >"$D/bad-kubeconfig"
SOCK=$D/bad.sock
agent_bg bad --kubeconfig "$D/bad-kubeconfig" --pin-dir "$PIN_DIR-bad" --socket "$SOCK" \
	--metrics-addr "$METRICS"
wait_for 5 test -S "$SOCK"
wait_for 5 grep -q 401 "$D/bad.log"
check_cmd "the log says the API server refused the token" grep -q \
	'warn: kubernetes .*: HTTP 401 Unauthorized (the API server refused our token or certificate)' "$D/bad.log"
check_eq "status: unsynced, 401 for every kind" "false $KINDS" \
	"$(cli status -j | jq -r '.sources[0].synced') $(kinds_json 'select(.error | startswith("HTTP 401"))' | jq length)"
check_cmd "status text shows the 401" bash -c "'$BUILD/inferlb' --socket '$SOCK' status | grep -q 'pods .*HTTP 401 Unauthorized'"
check_eq "/readyz 503 while nothing has synced" "503" "$(readyz)"
kill "$PID_bad"
wait "$PID_bad" 2>/dev/null

# A user RBAC forbids: the API server's own message; inline CA data in the kubeconfig.
ca_data=$(base64 -w0 <"$D/certs/ca.crt")
sed "s|certificate-authority: .*|certificate-authority-data: $ca_data|; s/token: .*/token: $(cat "$D/certs/denied-token")/" \
	"$D/certs/kubeconfig" >"$D/denied-kubeconfig"
agent_bg denied --kubeconfig "$D/denied-kubeconfig" --pin-dir "$PIN_DIR-bad" --socket "$SOCK" \
	--metrics-addr off
wait_for 5 grep -q 403 "$D/denied.log"
check_cmd "403 Forbidden carries the API server's message" grep -q \
	'HTTP 403 Forbidden: pods is forbidden: User "reader" cannot list resource "pods"' "$D/denied.log"
check_cmd "403 on config-domain means none (its Role may not be applied): warned, not retried as an error" \
	grep -q 'configmaps/config-domain: not permitted (403' "$D/denied.log"
kill "$PID_denied"
wait "$PID_denied" 2>/dev/null

# --- kinds the server does not serve (404): reported once each, empty, not fatal.
# A server URL with a path no resource lives under; TLS checking off as the kubeconfig says.
sed "s|server: .*|server: $API/no-such-prefix|; s|certificate-authority: .*|insecure-skip-tls-verify: true|" \
	"$D/certs/kubeconfig" >"$D/crd-kubeconfig"
agent_bg crd --kubeconfig "$D/crd-kubeconfig" --pin-dir "$PIN_DIR-crd" --socket "$SOCK" \
	--metrics-addr "$METRICS"
wait_for 5 bash -c "[ \$(grep -c 'not served by the API server' '$D/crd.log') -ge $KINDS ]"
sleep 1
check_eq "each missing kind reported once" "$KINDS" "$(grep -c 'not served by the API server (404' "$D/crd.log")"
check_eq "missing kinds count as synced and empty; the agent is ready" "$KINDS 0 200" \
	"$(kinds_json 'select(.missing and .synced)' | jq length) $(cli status -j | jq '.sources[0].objects') $(readyz)"
check_cmd "status text says no CRD" bash -c "'$BUILD/inferlb' --socket '$SOCK' status | grep -q 'pods .*no CRD'"
kill "$PID_crd"
wait "$PID_crd" 2>/dev/null

# --- in-cluster: the service account's files in a mount namespace of the agent's own
SA=/var/run/secrets/kubernetes.io/serviceaccount
NEW_TOKEN=$(openssl rand -hex 24)
bg incluster nsenter --net="/run/netns/$NS" unshare -m --propagation private sh -c "mount -t tmpfs tmpfs /run && mkdir -p $SA &&
	cp '$D/certs/ca.crt' $SA/ca.crt && cp '$D/certs/token' $SA/token &&
	KUBERNETES_SERVICE_HOST=127.0.0.1 KUBERNETES_SERVICE_PORT=$PORT exec '$BUILD/inferlb-agent' \
	--pin-dir '$PIN_DIR-sa' --socket '$SOCK' --metrics-addr off"
wait_for 5 test -S "$SOCK"
wait_for 5 bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j | jq -e '.sources[0].synced'"
check_eq "in-cluster without a flag when KUBERNETES_SERVICE_HOST is set: synced" \
	"in-cluster, https://127.0.0.1:$PORT true" \
	"$(cli status -j | jq -r '.sources[0] | "\(.location) \(.synced)"')"
expect_ready 2 "in-cluster: the same backends" \
	"default/vllm-llama3-0 default/vllm-llama3-1 default/vllm-llama3-7 default/vllm-llama3-8"
# The kubelet rotates the token; the server then knows only the new one.
nsenter --mount=/proc/"$PID_incluster"/ns/mnt sh -c "echo $NEW_TOKEN >$SA/token.new && mv $SA/token.new $SA/token"
fas_stop "$PID_fas"
fas_start fas2 --token "$NEW_TOKEN" --load "$FIX" || not_ok "fake-apiserver restarts with the new token only"
pod_yaml vllm-llama3-9 10.244.1.19 True | apply
expect_ready 20 "a rotated service-account token is read again" \
	"default/vllm-llama3-0 default/vllm-llama3-1 default/vllm-llama3-9"
check_cmd "the log says the token changed" grep -q 'token file .* changed' "$D/incluster.log"
check_eq "no request was refused" "0" "$(grep -c 'HTTP 401' "$D/incluster.log")"
kill "$PID_incluster"
wait "$PID_incluster" 2>/dev/null

t_done
