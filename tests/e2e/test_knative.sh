#!/usr/bin/env bash
# test_knative - the seed's Knative Service as the only routing object: its pool and
# objective derived by the agent, the seed's curl routed by Host, the Knative queue-proxy
# port used when pods have one, and scale from zero (held requests answered once a pod is
# Ready; the bounds answered 503 with Retry-After; a client that gives up leaves the queue),
# traffic split, a tag's host, and Knative's config-domain ConfigMap changed at runtime.
set -u
source "$(dirname "$0")/l7_topology.sh"

# The seed's Service exactly as examples/seed has it, and the seed's Gateway with an address.
write_kn() {
	cp "$ROOT/examples/seed/qwen-service.yaml" "$MANIFESTS/qwen-service.yaml"
	knative_gateway_yaml | put "$MANIFESTS/gateway.yaml"
}

# kn_traffic LINES: the seed's Service with LINES (its revisions' shares) as spec.traffic.
kn_traffic() {
	printf '%s\n  traffic:\n%s\n' "$(cat "$ROOT/examples/seed/qwen-service.yaml")" "$1" | put "$MANIFESTS/qwen-service.yaml"
}

# kn_pod_yaml NAME REVISION IP [CONTAINERS]: a Ready pod of the Service's revision REVISION;
# CONTAINERS "vllm" declares vLLM's 8080, "queue-proxy" Knative's queue-proxy (8012) as well.
kn_pod_yaml() {
	cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $1
  namespace: default
  labels:
    serving.knative.dev/service: qwen
    serving.knative.dev/revision: $2
YAML
	[ -z "${4:-}" ] || printf 'spec:\n  containers:\n  - name: vllm-container\n    ports:\n    - containerPort: 8080\n'
	[ "${4:-}" != queue-proxy ] || printf '  - name: queue-proxy\n    ports:\n    - containerPort: 8012\n      name: queue-port\n'
	printf 'status:\n  podIP: %s\n  conditions:\n  - type: Ready\n    status: "True"\n' "$3"
}

# kn_pods "1 2" [queue-proxy]: the Service's pods of revision qwen-00001, Ready.
kn_pods() {
	local i
	for i in $1; do kn_pod_yaml "qwen-00001-deployment-$i" qwen-00001 "198.19.$i.2" "${2:-vllm}"; done |
		put "$MANIFESTS/pods.yaml"
}

# ready_field FIELD: FIELD of the first ready backend.
ready_field() {
	$BUILD/inferlb --socket "$SOCK" backends -j | python3 -c '
import json, sys
for b in json.load(sys.stdin):
    if b["state"] == "ready":
        print(b[sys.argv[1]]); break' "$1"
}

pending() { $BUILD/inferlb --socket "$SOCK" pools -j | jq '[.[].pending] | add'; }

topology_up 2 || { not_ok "topology" "could not build the namespaces"; t_done; exit 1; }
for i in 1 2; do
	bg "sim$i" ip netns exec "$(pod_ns "$i")" "$BUILD/vllm-sim" --host "198.19.$i.2" --port 8080 \
		--model "$SEED_MODEL" --time-scale 0.05
done
write_kn
kn_pods "1"
agent_start --hold-timeout 3000
wait_for 10 nn_host test -S "$SOCK"

pools=$($BUILD/inferlb --socket "$SOCK" pools -j)
if grep -q '"name":"qwen"' <<<"$pools" && grep -q '"derived_from":"Service default/qwen"' <<<"$pools"; then
	ok "the annotated Service derives the pool qwen, marked as derived"
else
	not_ok "the annotated Service derives the pool qwen" "${pools:0:400}"
fi
obj=$($BUILD/inferlb --socket "$SOCK" objectives -j)
grep -q '"priority":1' <<<"$obj" && ok "ai-gateway-inference-priority 1 gives the objective priority 1" ||
	not_ok "the priority annotation gives the objective's priority" "${obj:0:300}"
wait_for 10 kn_curl -f -o /dev/null
out=$(kn_curl)
grep -q '"choices"' <<<"$out" && ok "the seed's curl is routed by Host to the Service's pods" ||
	not_ok "the seed's curl is routed by Host" "${out:0:300}"
code=$(nc curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$GW:$GW_PORT/v1/chat/completions" \
	-H "Host: nothing.default.example.com" -d "$SEED_BODY")
check_eq "an unknown Host: 404" "404" "$code"

# The queue-proxy: a pod that declares 8012 gets requests there (no one listens: the agent
# retries, then answers 503), while metrics still come from the serving port.
kn_pods "1" queue-proxy
sleep 1
port=$(ready_field port)
check_eq "a pod with a queue-proxy is reached on 8012" "8012" "$port"
age=$(ready_field metrics_age_ms)
age=${age%.*}
if [ "${age:--1}" -ge 0 ] && [ "$age" -lt 1000 ]; then ok "its metrics are still scraped from the serving port (${age} ms old)"; else
	not_ok "metrics scraped from the serving port" "metrics_age_ms=$age"
fi

# Scale from zero: no pod, a request waits; a pod appears; the request is answered.
kn_pods ""
sleep 1
start=$(date +%s%N)
kn_curl -o "$T_LOGDIR/held.json" -w '%{http_code}' >"$T_LOGDIR/held.code" &
held=$!
sleep 1
p=$(pending)
check_eq "a request to a Service with no ready pod waits (pending 1)" "1" "$p"
kn_pods "2"
wait $held
ms=$((($(date +%s%N) - start) / 1000000))
if [ "$(cat "$T_LOGDIR/held.code")" == 200 ] && grep -q '"choices"' "$T_LOGDIR/held.json"; then
	ok "the held request is answered once a pod is Ready (${ms} ms after it was sent)"
else
	not_ok "the held request is answered once a pod is Ready" "$(cat "$T_LOGDIR/held.code"): $(head -c 200 "$T_LOGDIR/held.json")"
fi
check_eq "nothing pending afterwards" "0" "$(pending)"

# The bound: past --hold-timeout, 503 with Retry-After.
kn_pods ""
sleep 1
out=$(kn_curl -D - -o /dev/null)
if grep -q "^HTTP/1.1 503" <<<"$out" && grep -qi "^Retry-After:" <<<"$out"; then ok "past --hold-timeout: 503 with Retry-After"; else
	not_ok "past --hold-timeout: 503 with Retry-After" "${out:0:300}"
fi
# A client that gives up while held leaves the queue.
kn_curl -m 1 -o /dev/null
sleep 0.3
check_eq "a client that gives up while held leaves the queue" "0" "$(pending)"

# Two revisions, traffic 70/30: measured over 1,000 requests.
kn_traffic '  - revisionName: qwen-00001
    percent: 70
  - revisionName: qwen-00002
    percent: 30'
for i in 1 2; do kn_pod_yaml "qwen-0000$i-deployment" "qwen-0000$i" "198.19.$i.2"; done | put "$MANIFESTS/pods.yaml"
sleep 1.5
served() { served_on "$1" 8080; }
b1=$(served 1) b2=$(served 2)
nc bash -c "seq 1 1000 | xargs -P 16 -I{} curl -s -m 30 -o /dev/null -w '%{http_code}\n' \
	-H 'Host: qwen.default.example.com' -d '{\"model\":\"$SEED_MODEL\",\"prompt\":\"{}\",\"max_tokens\":1}' \
	http://$GW:$GW_PORT/v1/completions" >"$T_LOGDIR/split.codes"
d1=$(($(served 1) - b1)) d2=$(($(served 2) - b2))
if [ $((d1 + d2)) -eq 1000 ] && [ "$d1" -ge 650 ] && [ "$d1" -le 750 ]; then ok "traffic 70/30 across two revisions: $d1/$d2 of 1,000"; else
	not_ok "traffic 70/30 across two revisions within 5%" "got $d1/$d2 (sum $((d1 + d2)))" "status codes: $(sort "$T_LOGDIR/split.codes" | uniq -c | tr '\n' ' ')" "$($BUILD/inferlb --socket "$SOCK" pools 2>&1 | head -5)"
fi

# host_code HOST: the status of one request with that Host.
host_code() {
	nc curl -s -m 10 -o /dev/null -w '%{http_code}' "http://$GW:$GW_PORT/v1/completions" -H "Host: $1" \
		-d "{\"model\":\"$SEED_MODEL\",\"prompt\":\"hi\",\"max_tokens\":1}"
}
# wait_code HOST CODE: until a request with that Host gets CODE (the manifests are reloaded
# on inotify), for 5 s at most.
wait_code() {
	local i
	for i in $(seq 1 50); do
		[ "$(host_code "$1")" == "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
# host_served HOST N: N requests with that Host; prints how many each revision's pod served.
host_served() {
	local b1 b2
	b1=$(served 1) b2=$(served 2)
	for _ in $(seq 1 "$2"); do host_code "$1" >/dev/null; done
	echo "$(($(served 1) - b1)) $(($(served 2) - b2))"
}

# A tag: all the traffic to qwen-00001, qwen-00002 at 0% but reachable by its tag's host.
kn_traffic '  - revisionName: qwen-00001
    percent: 100
  - revisionName: qwen-00002
    percent: 0
    tag: canary'
wait_code canary-qwen.default.example.com 200
check_eq "a tag's host reaches its revision (0% of the Service's traffic)" "0 20" \
	"$(host_served canary-qwen.default.example.com 20)"
check_eq "the Service's host reaches the 100% revision only" "20 0" "$(host_served qwen.default.example.com 20)"

# config-domain written at runtime: example.org is the default domain, example.com no more.
cat >"$MANIFESTS/config-domain.yaml.tmp" <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata:
  name: config-domain
  namespace: knative-serving
data:
  _example: |
    # every other key is a domain
  example.org: ""
YAML
mv "$MANIFESTS/config-domain.yaml.tmp" "$MANIFESTS/config-domain.yaml"
wait_code qwen.default.example.org 200
check_eq "with config-domain example.org: qwen.default.example.org routes, example.com 404" "200 404" \
	"$(host_code qwen.default.example.org) $(host_code qwen.default.example.com)"
check_eq "the tag follows the domain" "200 404" \
	"$(host_code canary-qwen.default.example.org) $(host_code canary-qwen.default.example.com)"
check_eq "svc.cluster.local still routes" "200" "$(host_code qwen.default.svc.cluster.local)"
# A selector on the seed's label release: qwen gives it a domain of its own.
printf '  qwen.example.net: |\n    selector:\n      release: qwen\n' >>"$MANIFESTS/config-domain.yaml"
wait_code qwen.default.qwen.example.net 200
check_eq "a selector matching the Service's labels wins over the default" "200 404" \
	"$(host_code qwen.default.qwen.example.net) $(host_code qwen.default.example.org)"
rm "$MANIFESTS/config-domain.yaml"
wait_code qwen.default.example.com 200
out=$(kn_curl)
grep -q '"choices"' <<<"$out" && ok "config-domain removed: the seed's curl routes again" ||
	not_ok "config-domain removed: the seed's curl routes again" "${out:0:300}"
t_done
