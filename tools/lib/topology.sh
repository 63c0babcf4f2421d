# topology.sh - the network namespaces the e2e tests, the bench rows and the demo build on this
# machine, the processes and agents they start there and the manifests they give the agents.
# Sourced by tests/lib.sh (and through it tests/e2e/l4_topology.sh), tools/bench/lib.sh and
# tools/demo/demo.sh; safe under `set -euo pipefail`.
#
#   client ns (198.18.0.2) --veth-- node ns (198.18.0.1, XDP on "uplink") --veth-- pod ns x N
#                                       POD_NET.I.1 ("podI") <-> POD_NET.I.2 (pod I's eth0)
#
# The VIP and the gateway's address live only in the agent's maps: the client routes them to
# the node. Every veth is made inside its namespaces: no link ever exists in this machine's own.
#
# The caller sets (before topology_up): TOPO_PREFIX (names), TOPO_LOG (where bg writes NAME.log),
# BUILD, PIN_DIR, SOCK, MANIFESTS; and may set NS_CLIENT and NS_NODE (default PREFIXc, PREFIXn),
# POD_NET (198.19), TOPO_POD_NS[I] (pod I's namespace; default PREFIXpI), TOPO_ON_NETNS (a
# command run with each namespace's name before it is made), TOPO_BG_TRUNCATE=1 (bg starts each
# log afresh instead of appending). Node K (1 today) has its own namespace, pin directory,
# control socket and metrics address: the functions that touch a node take K.
#
# Functions:
#   in_ns NS CMD...            CMD in network namespace NS (`ip netns exec`)
#   nc / nn / np I CMD...      CMD in the client's, node 1's, pod I's namespace
#   nn_host CMD...             CMD in node 1's network namespace only (this machine's bpffs)
#   node_ns / node_pin_dir / node_sock / node_metrics_addr [K]   node K's names (K = 1)
#   pod_ns I / pod_ip I        pod I's namespace and address
#   netns_add NAME             a namespace, lo up, removed by topo_cleanup
#   topology_up N              client, node 1 and pods 1..N; then topology_tune N if defined
#   pod_link_add I             pod I's namespace linked to node 1 (also after topology_up)
#   bg NAME CMD... / stop NAME CMD in the background (pid in PID_NAME) / SIGTERM it and wait
#   wait_for SECONDS CMD...    retries CMD every 50 ms until it succeeds
#   on_cleanup CMD / topo_cleanup   what the EXIT trap undoes: CMDs (last first), pids,
#                              node agents' pins, namespaces
#   agent_argv [K]             AGENT_ARGV: node K's agent (manifests, uplink, pins, socket)
#   agent_cleanup [K]          node K's data path detached and its pins removed
#   gateway_yaml, route_yaml, pool_yaml, pod_yaml, put   the manifests (see each)
#   seed_curl / gw_post        the seed's request through the gateway, from the client
#   nginx_head DIR CONNS       the head of a one-worker nginx.conf
#   metrics_text [QUEUE]       an idle vLLM /metrics page

VIP=198.18.100.100
GW=198.18.100.200
GW_PORT=8888
GW_HOST=qwen.default.example.com
SEED_MODEL=/models/Qwen1.5-4B-Chat/
# The deployment guide's step 5, word for word.
SEED_BODY='{
    "model": "/models/Qwen1.5-4B-Chat/",
    "messages": [
      {"role": "user", "content": "Explain Kubernetes in one sentence."}
    ],
    "max_tokens": 50
  }'
POD_NET=${POD_NET:-198.19}

TOPO_NETNS=()
TOPO_PIDS=()
TOPO_CLEANUP=()
TOPO_NODES=0
declare -A TOPO_POD_NS 2>/dev/null || true

# ---- names ----

node_ns() { if [ "${1:-1}" -eq 1 ]; then echo "${NS_NODE:-${TOPO_PREFIX}n}"; else echo "${TOPO_PREFIX}n$1"; fi; }
node_pin_dir() { if [ "${1:-1}" -eq 1 ]; then echo "$PIN_DIR"; else echo "$PIN_DIR-n$1"; fi; }
node_sock() { if [ "${1:-1}" -eq 1 ]; then echo "$SOCK"; else echo "${SOCK%.sock}-n$1.sock"; fi; }
node_metrics_addr() { echo "127.0.0.1:$((9463 + ${1:-1}))"; }
pod_ns() { echo "${TOPO_POD_NS[$1]:-${TOPO_PREFIX}p$1}"; }
pod_ip() { echo "$POD_NET.$1.2"; }

in_ns() {
	local ns=$1
	shift
	ip netns exec "$ns" "$@"
}
nc() { ip netns exec "${NS_CLIENT:-${TOPO_PREFIX}c}" "$@"; }
nn() { ip netns exec "$(node_ns 1)" "$@"; }
nn_host() { nsenter --net="/run/netns/$(node_ns 1)" "$@"; }
np() {
	local i=$1
	shift
	ip netns exec "$(pod_ns "$i")" "$@"
}

# ---- namespaces and links ----

netns_add() {
	TOPO_NETNS+=("$1")
	[ -z "${TOPO_ON_NETNS:-}" ] || $TOPO_ON_NETNS "$1"
	ip netns add "$1" && ip -n "$1" link set lo up
}

topology_up() {
	local n=$1 i client=${NS_CLIENT:-${TOPO_PREFIX}c} node
	node=$(node_ns 1)
	netns_add "$client" && netns_add "$node" || return 1
	TOPO_NODES=1
	ip link add name uplink netns "$node" type veth peer name eth0 netns "$client" || return 1
	in_ns "$node" ip addr add 198.18.0.1/24 dev uplink
	in_ns "$node" ip link set uplink up
	in_ns "$client" ip addr add 198.18.0.2/24 dev eth0
	in_ns "$client" ip link set eth0 up
	in_ns "$client" ip route add default via 198.18.0.1
	# A NIC hands XDP whole frames with full checksums; a veth peer must be told to.
	in_ns "$client" ethtool -K eth0 tx off tso off gso off >/dev/null
	in_ns "$node" sysctl -qw net.ipv4.ip_forward=1
	in_ns "$node" sysctl -qw net.ipv4.conf.all.rp_filter=0
	for i in $(seq 1 "$n"); do pod_link_add "$i" || return 1; done
	if declare -F topology_tune >/dev/null; then topology_tune "$n" || return 1; fi
	return 0
}

# pod_link_add I: pod I's namespace, linked to node 1 as podI: POD_NET.I.1 <-> POD_NET.I.2.
pod_link_add() {
	local i=$1 ns node
	ns=$(pod_ns "$i")
	node=$(node_ns 1)
	netns_add "$ns" || return 1
	ip link add name "pod$i" netns "$node" type veth peer name eth0 netns "$ns" || return 1
	in_ns "$node" ip addr add "$POD_NET.$i.1/24" dev "pod$i"
	in_ns "$node" ip link set "pod$i" up
	in_ns "$node" ethtool -K "pod$i" tx off >/dev/null
	in_ns "$ns" ip addr add "$(pod_ip "$i")/24" dev eth0
	in_ns "$ns" ip link set eth0 up
	in_ns "$ns" ip route add default via "$POD_NET.$i.1"
	# XDP_REDIRECT into a veth needs NAPI on the receiving peer: GRO turns it on.
	in_ns "$ns" ethtool -K eth0 gro on >/dev/null 2>&1 || true
}

# ---- processes ----

# bg NAME CMD...: CMD in the background, logged to TOPO_LOG/NAME.log, its pid in PID_NAME and
# in the cleanup list.
bg() {
	local name=$1
	shift
	if [ -n "${TOPO_BG_TRUNCATE:-}" ]; then
		"$@" >"$TOPO_LOG/$name.log" 2>&1 &
	else
		"$@" >>"$TOPO_LOG/$name.log" 2>&1 &
	fi
	TOPO_PIDS+=($!)
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$!"
}

# stop NAME: SIGTERM to what bg NAME started, then wait for it (SIGKILL after 5 s).
stop() {
	local var="PID_${1//[^a-zA-Z0-9_]/_}" pid
	pid=${!var:-}
	[ -z "$pid" ] && return 0
	kill "$pid" 2>/dev/null
	for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	eval "$var="
	return 0
}

# wait_for SECONDS CMD...: retries CMD every 50 ms until it succeeds.
wait_for() {
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

on_cleanup() { TOPO_CLEANUP+=("$*"); }

# topo_cleanup: the on_cleanup commands (last first), the pids bg started (SIGTERM, then SIGKILL),
# the nodes' data paths and pins, the namespaces with whatever still runs in them.
topo_cleanup() {
	local i pid ns k
	for ((i = ${#TOPO_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${TOPO_CLEANUP[$i]}" >/dev/null 2>&1; done
	for pid in "${TOPO_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	sleep 0.1
	for pid in "${TOPO_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
	for ((k = 1; k <= TOPO_NODES; k++)); do agent_cleanup "$k"; done
	for ns in "${TOPO_NETNS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	return 0
}

# ---- the agent ----

# agent_argv [K]: AGENT_ARGV, node K's agent reading MANIFESTS, XDP on its uplink, its pins and
# control socket; the caller adds the rest (`bg agent "${AGENT_ARGV[@]}" --keep ...`). nsenter
# joins only the network namespace: the agent keeps this machine's bpffs for its pins.
agent_argv() {
	local k=${1:-1}
	AGENT_ARGV=(nsenter --net="/run/netns/$(node_ns "$k")" "$BUILD/inferlb-agent" --manifests "$MANIFESTS"
		--iface uplink --pin-dir "$(node_pin_dir "$k")" --socket "$(node_sock "$k")")
}

# agent_cleanup [K]: node K's data path detached (its agents ran with --keep), its pins removed.
agent_cleanup() {
	local k=${1:-1} ns pins
	ns=$(node_ns "$k")
	pins=$(node_pin_dir "$k")
	if [ -e "/run/netns/$ns" ]; then
		nsenter --net="/run/netns/$ns" "$BUILD/inferlb-agent" --cleanup --iface uplink --pin-dir "$pins" >/dev/null 2>&1 || true
	elif [ -e "$pins" ]; then
		"$BUILD/inferlb-agent" --cleanup --pin-dir "$pins" >/dev/null 2>&1 || true
	fi
	rm -rf "$pins"
}

# ---- manifests: each function prints one YAML document, "---" first ----

# put FILE: stdin written whole to FILE (renamed into place: inotify sees one complete file).
put() { cat >"$1.tmp" && mv "$1.tmp" "$1"; }

# gateway_yaml: the seed's Gateway (GW:GW_PORT, class inferlb) and its HTTPRoute for GW_HOST
# to pool qwen.
gateway_yaml() {
	cat <<YAML
---
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
YAML
	route_yaml qwen "$GW_HOST" qwen
}

# route_yaml NAME HOST POOL: an HTTPRoute on the seed's Gateway, HOST to InferencePool POOL.
route_yaml() {
	cat <<YAML
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: $1
  namespace: default
spec:
  parentRefs:
  - name: knative-gateway
  hostnames:
  - $2
  rules:
  - backendRefs:
    - group: inference.networking.k8s.io
      kind: InferencePool
      name: $3
YAML
}

# pool_yaml NAME [VIP] [FAILURE_MODE]: InferencePool NAME, pods labelled app: NAME, port 8000;
# an L4 VIP when VIP is set; FAILURE_MODE FailOpen unless given ("" leaves it to the default).
pool_yaml() {
	local mode=${3-FailOpen}
	printf -- '---\napiVersion: inference.networking.k8s.io/v1\nkind: InferencePool\n'
	printf 'metadata:\n  name: %s\n  namespace: default\n' "$1"
	[ -z "${2:-}" ] || printf '  annotations:\n    inferlb.io/vip: "%s"\n' "$2"
	cat <<YAML
spec:
  selector:
    matchLabels:
      app: $1
  targetPorts:
  - number: 8000
  endpointPickerRef:
    name: inferlb
    port:
      number: 9002
YAML
	[ -z "$mode" ] || echo "    failureMode: $mode"
}

# pod_yaml NAME APP IP [PORT]: a Ready Pod labelled app: APP at IP (a container APP declaring
# PORT when given).
pod_yaml() {
	printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\n' "$1"
	printf '  labels:\n    app: %s\n' "$2"
	[ -z "${4:-}" ] || printf 'spec:\n  containers:\n  - name: %s\n    ports:\n    - containerPort: %s\n' "$2" "$4"
	printf 'status:\n  podIP: %s\n  conditions:\n  - type: Ready\n    status: "True"\n' "$3"
}

# nginx_head DIR CONNECTIONS [NOFILE]: the head of a one-worker nginx.conf run in the foreground,
# its pid, error log and temporary files in DIR, CONNECTIONS per worker (NOFILE descriptors),
# up to the open http block; the caller writes the rest and the closing brace.
nginx_head() {
	printf 'daemon off;\nworker_processes 1;\n'
	[ -z "${3:-}" ] || printf 'worker_rlimit_nofile %s;\n' "$3"
	cat <<CONF
pid $1/nginx.pid;
error_log $1/error.log;
events { worker_connections $2; }
http {
	access_log off;
	client_body_temp_path $1;
	proxy_temp_path $1;
	fastcgi_temp_path $1;
	uwsgi_temp_path $1;
	scgi_temp_path $1;
CONF
}

# metrics_text [QUEUE]: an idle vLLM /metrics page (QUEUE requests waiting).
metrics_text() {
	cat <<METRICS
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} ${1:-0}
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.1
METRICS
}

# ---- requests ----

# seed_curl [ARGS...]: the guide's step 5 through the gateway, from the client namespace.
seed_curl() { gw_post "$SEED_BODY" "$@"; }

# gw_post BODY [ARGS...]: a chat completion through the gateway as the seed sends it.
gw_post() {
	local body=$1
	shift
	nc curl -sS -m 20 "http://$GW:$GW_PORT/v1/chat/completions" -H "Host: $GW_HOST" \
		-H "Content-Type: application/json" -d "$body" "$@"
}
