#!/usr/bin/env bash
# test_fake_apiserver.sh - tools/fake-apiserver speaks kube-apiserver's list/watch
# protocol: TLS and bearer tokens, Status errors, selectors, paging, watch replay,
# bookmarks, 410 after compaction, timeouts, dropped streams, and kubectl itself.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
t_init

PORT=${FAS_PORT:-16443}
ADMIN_PORT=${FAS_ADMIN_PORT:-16444}
API=https://127.0.0.1:$PORT
ADMIN=http://127.0.0.1:$ADMIN_PORT
BIN=$BUILD/fake-apiserver
FIX=$ROOT/tests/fixtures/k8s
D=$T_LOGDIR

if [ ! -x "$BIN" ]; then
	not_ok "fake-apiserver is built" "missing $BIN (make build/fake-apiserver)"
	t_done
	exit 1
fi

check_cmd "gen-certs.sh writes CA, server pair, tokens and kubeconfig" \
	"$ROOT/tools/fake-apiserver/gen-certs.sh" "$D/certs" "$API"
TOKEN=$(cat "$D/certs/token")
DENIED=$(cat "$D/certs/denied-token")
export KUBECONFIG=$D/certs/kubeconfig

check_cmd "--help lists the flags and the admin endpoint" \
	bash -c "'$BIN' --help | grep -q -- '--watch-timeout' && '$BIN' --help | grep -q /admin/drop-watches"

bg fas "$BIN" --port "$PORT" --admin-port "$ADMIN_PORT" \
	--tls-cert-file "$D/certs/server.crt" --tls-private-key-file "$D/certs/server.key" \
	--token-auth-file "$D/certs/tokens.csv" --deny-user reader --load "$FIX" \
	--watch-timeout 2s --bookmark-interval 300ms --verbose
if ! wait_for 5 curl -sf "$ADMIN/admin/healthz"; then
	not_ok "server starts" "$(tail -5 "$T_LOGDIR/fas.log")"
	t_done
	exit 1
fi
ok "server starts and loads $FIX"

# api PATH [curl args]: an authenticated request; the body on stdout.
api() {
	local path=$1
	shift
	curl -sS --cacert "$D/certs/ca.crt" -H "Authorization: Bearer $TOKEN" "$@" "$API$path"
}
code() { curl -sS -o "$D/body" -w '%{http_code}' --cacert "$D/certs/ca.crt" "$@"; }
admin() { curl -sS -X POST "$@"; }
stat_of() { curl -sS "$ADMIN/admin/stats" | jq -r ".$1"; }

# --- lists
api /api/v1/pods >"$D/pods.json"
check_eq "pod list is a PodList" "PodList v1" "$(jq -r '.kind + " " + .apiVersion' "$D/pods.json")"
RV=$(jq -r .metadata.resourceVersion "$D/pods.json")
check_eq "list resourceVersion is the store's" "$(stat_of resourceVersion)" "$RV"
check_eq "all fixture pods listed, sorted by namespace/name" \
	"default/vllm-llama3-0 default/vllm-llama3-1 default/vllm-llama3-2 models/sglang-qwen-0" \
	"$(jq -r '[.items[].metadata | .namespace + "/" + .name] | join(" ")' "$D/pods.json")"
check_eq "typed list items carry no kind/apiVersion" "0" \
	"$(jq '[.items[] | select(has("kind") or has("apiVersion"))] | length' "$D/pods.json")"
check_eq "pod keeps its podIP and Ready condition" "10.244.1.10 True" \
	"$(jq -r '.items[0] | .status.podIP + " " + (.status.conditions[] | select(.type=="Ready") | .status)' "$D/pods.json")"
check_eq "namespaced list" "sglang-qwen-0" \
	"$(api /api/v1/namespaces/models/pods | jq -r '[.items[].metadata.name] | join(" ")')"
api /apis/inference.networking.k8s.io/v1/namespaces/default/inferencepools >"$D/pools.json"
check_eq "InferencePool v1 list; custom resource items keep kind" "InferencePoolList InferencePool 1" \
	"$(jq -r '.kind + " " + .items[0].kind + " " + (.items[0].metadata.generation|tostring)' "$D/pools.json")"
check_eq "InferenceObjective, Gateway and HTTPRoute lists" "2 1 1" \
	"$(echo $(api /apis/inference.networking.x-k8s.io/v1alpha2/inferenceobjectives | jq '.items|length') \
		$(api /apis/gateway.networking.k8s.io/v1/gateways | jq '.items|length') \
		$(api /apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes | jq '.items|length'))"
check_eq "single object GET has kind" "Pod vllm-llama3-1" \
	"$(api /api/v1/namespaces/default/pods/vllm-llama3-1 | jq -r '.kind + " " + .metadata.name')"

# --- authentication and errors
c=$(code "$API/api/v1/pods")
check_eq "no token: 401 Status" "401 Status v1 Failure Unauthorized 401" \
	"$c $(jq -r '[.kind, .apiVersion, .status, .reason, (.code|tostring)] | join(" ")' "$D/body")"
c=$(code -H "Authorization: Bearer wrong" "$API/api/v1/pods")
check_eq "wrong token: 401" "401 Unauthorized" "$c $(jq -r .reason "$D/body")"
c=$(code -H "Authorization: Bearer $DENIED" "$API/api/v1/namespaces/default/pods")
check_eq "denied user: 403 Forbidden naming user and resource" "403 Forbidden" "$c $(jq -r .reason "$D/body")"
check_cmd "403 message is kube-apiserver's" grep -q 'User \\"reader\\" cannot list resource \\"pods\\"' "$D/body"
c=$(code -H "Authorization: Bearer $TOKEN" "$API/api/v1/namespaces/default/pods/nope")
check_eq "missing object: 404 NotFound" "404 NotFound pods \"nope\" not found" \
	"$c $(jq -r '.reason + " " + .message' "$D/body")"
c=$(code -H "Authorization: Bearer $TOKEN" "$API/apis/example.com/v1/widgets")
check_eq "unknown resource: 404" "404" "$c"

# --- selectors and paging
sel() { api "/api/v1/pods?$1" | jq -r '[.items[].metadata.name] | join(" ")'; }
check_eq "labelSelector a=b" "vllm-llama3-0 vllm-llama3-1 vllm-llama3-2" "$(sel 'labelSelector=app%3Dvllm-llama3')"
check_eq "labelSelector a!=b,c=d" "sglang-qwen-0" \
	"$(sel 'labelSelector=app!%3Dvllm-llama3,inference.networking.k8s.io/engine-type%3Dsglang')"
check_eq "labelSelector in (...)" "vllm-llama3-0 vllm-llama3-1 vllm-llama3-2 sglang-qwen-0" \
	"$(sel 'labelSelector=app+in+(vllm-llama3,sglang-qwen)')"
check_eq "bad labelSelector: 400" "400 BadRequest" \
	"$(code -H "Authorization: Bearer $TOKEN" "$API/api/v1/pods?labelSelector=app+in+x") $(jq -r .reason "$D/body")"
check_eq "fieldSelector spec.nodeName" "vllm-llama3-1 vllm-llama3-2" "$(sel 'fieldSelector=spec.nodeName%3Dgpu-node-b')"
p1=$(api "/api/v1/pods?limit=3")
cont=$(jq -r .metadata.continue <<<"$p1")
p2=$(api "/api/v1/pods?limit=3&continue=$cont")
check_eq "limit/continue pages through everything" "3 1 1 4" \
	"$(echo $(jq '.items|length' <<<"$p1") $(jq '.metadata.remainingItemCount' <<<"$p1") \
		$(jq '.items|length' <<<"$p2") $(jq -s '[.[].items[].metadata.name] | unique | length' <<<"$p1 $p2"))"

# --- discovery
check_eq "discovery /api, /apis, /api/v1" "APIVersions APIGroupList APIResourceList" \
	"$(echo $(api /api | jq -r .kind) $(api /apis | jq -r .kind) $(api /api/v1 | jq -r .kind))"
check_eq "aggregated discovery when asked for" "APIGroupDiscoveryList" \
	"$(api /apis -H 'Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList' | jq -r .kind)"

# --- watch: replay from the list's version, then live events
watch_bg() {	# NAME QUERY: curl a pod watch into $D/NAME.out, exit status into $D/NAME.rc
	local name=$1 q=$2
	(
		curl -sS -N --cacert "$D/certs/ca.crt" -H "Authorization: Bearer $TOKEN" \
			"$API/api/v1/namespaces/default/pods?$q" >"$D/$name.out" 2>"$D/$name.err"
		echo $? >"$D/$name.rc"
	) &
	TOPO_PIDS+=($!)
}
types_of() { jq -r 'select(.object.metadata.name=="'"$2"'") | .type' "$D/$1.out" | tr '\n' ' ' | sed 's/ $//'; }

watch_bg w1 "watch=1&resourceVersion=$RV&allowWatchBookmarks=true&timeoutSeconds=3"
watch_bg w2 "watch=true&resourceVersion=$RV&labelSelector=app%3Dvllm-llama3"
sleep 0.3
# apply_pod9 READY: pod vllm-llama3-9 applied with its Ready condition READY.
apply_pod9() {
	admin "$ADMIN/admin/apply" --data-binary @- >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: vllm-llama3-9, namespace: default, labels: {app: vllm-llama3}}
spec: {nodeName: gpu-node-a, containers: [{name: vllm, image: vllm}]}
status: {phase: Running, podIP: 10.244.1.99, conditions: [{type: Ready, status: "$1"}]}
YAML
}
apply_pod9 False
apply_pod9 True
# Relabelled out of w2's selection: w2 must see it go.
admin "$ADMIN/admin/apply" -H 'Content-Type: application/json' --data-binary \
	'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"vllm-llama3-2","namespace":"default","labels":{"app":"retired"}}}' >/dev/null
admin "$ADMIN/admin/delete?kind=Pod&namespace=default&name=vllm-llama3-9" >/dev/null
wait_for 5 grep -q BOOKMARK "$D/w1.out"
wait_for 5 test -s "$D/w1.rc"
check_eq "watch sees ADDED, MODIFIED (Ready flip), DELETED" "ADDED MODIFIED DELETED" "$(types_of w1 vllm-llama3-9)"
check_eq "watch events carry kind, apiVersion and increasing resourceVersions" "Pod v1 true" \
	"$(jq -rs '[.[] | select(.type != "BOOKMARK") | .object] as $o |
		($o[0].kind + " " + $o[0].apiVersion + " " +
		 ([$o[].metadata.resourceVersion | tonumber] | . == sort and (unique|length) == length | tostring))' "$D/w1.out")"
check_eq "MODIFIED carries the new Ready status" "True" \
	"$(jq -r 'select(.type=="MODIFIED" and .object.metadata.name=="vllm-llama3-9") | .object.status.conditions[0].status' "$D/w1.out")"
check_eq "bookmarks arrive with only kind, apiVersion and resourceVersion" "Pod v1 true" \
	"$(jq -r 'select(.type=="BOOKMARK") | .object | .kind + " " + .apiVersion + " " +
		(.metadata.resourceVersion | test("^[0-9]+$") | tostring)' "$D/w1.out" | head -1)"
check_eq "timeoutSeconds ends the stream cleanly" "0" "$(cat "$D/w1.rc")"
check_eq "object leaving a label selector is DELETED for that watch" "DELETED" "$(types_of w2 vllm-llama3-2)"
check_eq "watch without bookmarks gets none" "0" "$(grep -c BOOKMARK "$D/w2.out")"

# --- the default watch timeout (--watch-timeout 2s: somewhere in [2s, 4s))
start=$SECONDS
wait_for 6 test -s "$D/w2.rc"
check_eq "default watch timeout closes the stream cleanly" "0" "$(cat "$D/w2.rc" 2>/dev/null)"

# --- compaction: old versions are gone
admin "$ADMIN/admin/compact" >/dev/null
watch_bg w3 "watch=1&resourceVersion=$RV"
wait_for 5 test -s "$D/w3.rc"
check_eq "watch from a compacted version: ERROR 410 Expired event" "ERROR Status 410 Expired" \
	"$(jq -r '.type + " " + .object.kind + " " + (.object.code|tostring) + " " + .object.reason' "$D/w3.out")"
check_cmd "410 message says too old resource version" grep -q "too old resource version: $RV" "$D/w3.out"
check_eq "exact list at a compacted version: HTTP 410" "410 Expired" \
	"$(code -H "Authorization: Bearer $TOKEN" "$API/api/v1/pods?resourceVersion=$RV&resourceVersionMatch=Exact") $(jq -r .reason "$D/body")"

# --- drop-watches closes streams abruptly
NOW=$(stat_of resourceVersion)
watch_bg w4 "watch=1&resourceVersion=$NOW&timeoutSeconds=30"
watch_bg w5 "watch=1&timeoutSeconds=30"
wait_for 3 bash -c "[ \$(curl -s $ADMIN/admin/stats | jq .watchesActive) -ge 2 ]"
check_eq "drop-watches closes every stream" "2" "$(admin "$ADMIN/admin/drop-watches" | jq .closed)"
wait_for 3 test -s "$D/w5.rc"
check_eq "dropped stream ends without the terminating chunk" "18 18" "$(cat "$D/w4.rc" "$D/w5.rc" | tr '\n' ' ' | sed 's/ $//')"
check_eq "watch from RV 0 starts with the current objects" "3" "$(grep -c '"ADDED"' "$D/w5.out")"

# --- sendInitialEvents (the watch-list protocol): state, then a bookmark marking its end
api "/apis/inference.networking.x-k8s.io/v1alpha2/inferenceobjectives?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&timeoutSeconds=1" \
	-N >"$D/wl.out"
check_eq "sendInitialEvents: ADDED each object, then BOOKMARK with k8s.io/initial-events-end" "ADDED ADDED BOOKMARK:true" \
	"$(jq -r '.type + (if .type == "BOOKMARK" then ":" + .object.metadata.annotations["k8s.io/initial-events-end"] else "" end)' \
		"$D/wl.out" | head -3 | tr '\n' ' ' | sed 's/ $//')"
check_eq "sendInitialEvents without resourceVersionMatch: 422 Invalid" "422 Invalid" \
	"$(code -H "Authorization: Bearer $TOKEN" "$API/api/v1/pods?watch=1&sendInitialEvents=true&allowWatchBookmarks=true") $(jq -r .reason "$D/body")"

# --- many concurrent watches all get the event
NOW=$(stat_of resourceVersion)
for i in $(seq 1 60); do watch_bg m$i "watch=1&resourceVersion=$NOW&timeoutSeconds=5"; done
wait_for 5 bash -c "[ \$(curl -s $ADMIN/admin/stats | jq .watchesActive) -ge 60 ]"
admin "$ADMIN/admin/apply" --data-binary \
	'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"fan-out","namespace":"default"}}' >/dev/null
wait_for 5 bash -c "[ \$(cat $D/m*.out | grep -c fan-out) -ge 60 ]"
check_eq "60 concurrent watches each receive the event" "60" "$(cat "$D"/m*.out | grep -c '"name":"fan-out"')"
admin "$ADMIN/admin/drop-watches?clean=1" >/dev/null
wait_for 3 bash -c "[ \$(ls $D/m*.rc 2>/dev/null | wc -l) -ge 60 ]"
check_eq "drop-watches?clean=1 ends them with a terminating chunk" "60" "$(cat "$D"/m*.rc | grep -c '^0$')"

# --- stall holds requests
admin "$ADMIN/admin/stall?seconds=1" >/dev/null
t0=$(date +%s%N)
api /api/v1/pods -o /dev/null
ms=$((($(date +%s%N) - t0) / 1000000))
check_cmd "stall holds a request for its duration (${ms} ms)" test "$ms" -ge 800

check_eq "stats count lists and watches" "true" \
	"$(curl -sS "$ADMIN/admin/stats" | jq '.lists >= 10 and .watches >= 5 and .unauthorized >= 2')"

# --- kubectl against it
check_eq "kubectl get pods -A -o json" "5" "$(kubectl get pods -A -o json 2>"$D/kubectl.err" | jq '.items|length')"
check_eq "kubectl get --raw" "PodList" "$(kubectl get --raw /api/v1/pods | jq -r .kind)"
check_eq "kubectl get inferencepools" "vllm-llama3" "$(kubectl get inferencepools -o name 2>&1 | sed 's|.*/||')"
(timeout 5 kubectl get pods --watch -o json >"$D/kw.out" 2>"$D/kw.err" &)
wait_for 3 grep -q vllm-llama3-0 "$D/kw.out"
admin "$ADMIN/admin/apply" --data-binary \
	'{"apiVersion":"v1","kind":"Pod","metadata":{"name":"kubectl-sees-me","namespace":"default"}}' >/dev/null
wait_for 4 grep -q kubectl-sees-me "$D/kw.out"
check_cmd "kubectl get pods --watch sees a new pod" grep -q '"name": "kubectl-sees-me"' "$D/kw.out"

t_done
