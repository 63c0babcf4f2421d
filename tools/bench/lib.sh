# lib.sh - shared by the bench rows (sourced): namespaces, processes, CPU accounting,
# statistics and the JSON each row leaves in $BENCH_RESULTS.
#
# Topology (the same as tests/e2e/l4_topology.sh, under the row's own prefix):
#
#   client ns (198.18.0.2) --veth-- node ns (198.18.0.1, "uplink") --veth-- pod ns x N
#                                       198.19.N.1 <-> 198.19.N.2
#
# Every namespace, veth and pinned map carries the row's prefix; the EXIT trap removes
# exactly those and kills exactly the processes the row started (by pid).

B_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$B_ROOT/$BUILD ;; esac
BENCH_RESULTS=${BENCH_RESULTS:-$B_ROOT/bench/.rows}
QUICK=${BENCH_QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
# Cores: the process under test (agent, HAProxy, nginx as proxy) on CPU_SUT, load
# generators and pods on CPU_GEN. With one core both are 0.
NCPU=$(nproc)
CPU_SUT=0
CPU_GEN=$((NCPU > 1 ? 1 : 0))

B_PIDS=()
B_NETNS=()
B_CLEANUP=()

VIP=198.18.100.100
GW=198.18.100.200
GW_PORT=8888
GW_HOST=qwen.default.example.com
MODEL=/models/Qwen1.5-4B-Chat/

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

b_init() { # b_init ROWNAME
	B_ROW=$1
	B_PREFIX=${B_PREFIX:-ib${1//[^0-9]/}$$}
	B_PREFIX=${B_PREFIX:0:10}
	B_LOG=$(mktemp -d "/tmp/$B_PREFIX.XXXX")
	chmod 755 "$B_LOG"
	NS_C=${B_PREFIX}c
	NS_N=${B_PREFIX}n
	PIN_DIR=/sys/fs/bpf/$B_PREFIX
	SOCK=$B_LOG/agent.sock
	MANIFESTS=$B_LOG/manifests
	mkdir -p "$MANIFESTS" "$BENCH_RESULTS"
	trap b_cleanup EXIT
	trap 'exit 130' INT TERM
}

on_cleanup() { B_CLEANUP+=("$*"); }

b_cleanup() {
	local i pid ns
	for ((i = ${#B_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${B_CLEANUP[$i]}" >/dev/null 2>&1; done
	for pid in "${B_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	sleep 0.2
	for pid in "${B_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
	if [ -n "${NS_N:-}" ] && [ -e "/run/netns/$NS_N" ]; then
		nsenter --net="/run/netns/$NS_N" "$BUILD/inferlb-agent" --cleanup --iface uplink --pin-dir "$PIN_DIR" >/dev/null 2>&1
	fi
	[ -n "${PIN_DIR:-}" ] && rm -rf "$PIN_DIR"
	for ns in "${B_NETNS[@]}"; do
		ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null
		ip netns del "$ns" 2>/dev/null
	done
	[ -n "${B_LOG:-}" ] && [ -z "${KEEP_LOGS:-}" ] && rm -rf "$B_LOG"
	return 0
}

nc() { ip netns exec "$NS_C" "$@"; }
nn() { ip netns exec "$NS_N" "$@"; }
nn_host() { nsenter --net="/run/netns/$NS_N" "$@"; }
np() {
	local i=$1
	shift
	ip netns exec "${B_PREFIX}p$i" "$@"
}

netns_add() { ip netns add "$1" && B_NETNS+=("$1") && ip -n "$1" link set lo up; }

# bg NAME CMD...: CMD in the background, its pid in PID_NAME and in the cleanup list.
bg() {
	local name=$1
	shift
	"$@" >"$B_LOG/$name.log" 2>&1 &
	B_PIDS+=($!)
	eval "PID_${name//[^a-zA-Z0-9_]/_}=$!"
}

# stop NAME: SIGTERM to what bg NAME started, then wait for it.
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

wait_for() { # wait_for SECONDS CMD...
	local deadline=$((SECONDS + $1))
	shift
	while ! "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge "$deadline" ] && return 1
		sleep 0.05
	done
}

# topology_up N: client, node and N pod namespaces.
topology_up() {
	local n=$1 i
	netns_add "$NS_C" && netns_add "$NS_N" || return 1
	ip link add "${B_PREFIX}u" type veth peer name "${B_PREFIX}k" || return 1
	ip link set "${B_PREFIX}u" netns "$NS_N" name uplink
	ip link set "${B_PREFIX}k" netns "$NS_C" name eth0
	nn ip addr add 198.18.0.1/24 dev uplink
	nn ip link set uplink up
	nc ip addr add 198.18.0.2/24 dev eth0
	nc ip link set eth0 up
	nc ip route add default via 198.18.0.1
	# A NIC hands XDP whole frames with full checksums; a veth peer must be told to.
	nc ethtool -K eth0 tx off tso off gso off >/dev/null
	nc sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	nc sysctl -qw net.ipv4.tcp_tw_reuse=1
	nn sysctl -qw net.ipv4.ip_forward=1
	nn sysctl -qw net.ipv4.conf.all.rp_filter=0
	nn sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	nn sysctl -qw net.core.somaxconn=4096
	for i in $(seq 1 "$n"); do
		netns_add "${B_PREFIX}p$i" || return 1
		ip link add "${B_PREFIX}q$i" type veth peer name "${B_PREFIX}r$i" || return 1
		ip link set "${B_PREFIX}q$i" netns "$NS_N" name "pod$i"
		ip link set "${B_PREFIX}r$i" netns "${B_PREFIX}p$i" name eth0
		nn ip addr add "198.19.$i.1/24" dev "pod$i"
		nn ip link set "pod$i" up
		np "$i" ip addr add "198.19.$i.2/24" dev eth0
		np "$i" ip link set eth0 up
		np "$i" ip route add default via "198.19.$i.1"
		np "$i" sysctl -qw net.core.somaxconn=4096
		# XDP_REDIRECT into a veth needs NAPI on the receiving peer: GRO turns it on.
		np "$i" ethtool -K eth0 gro on >/dev/null 2>&1
		nn ethtool -K "pod$i" tx off >/dev/null
	done
	# NODE_RPS: the node namespace's receive processing (RPS on its veths) on CPU_SUT, so that
	# the kernel work a proxy causes in the node (TCP receive, sockmap verdicts and their
	# workqueue, netfilter) runs on the node's core with the proxy, not on the generator's.
	if [ -n "${NODE_RPS:-}" ]; then
		local mask dev
		mask=$(printf '%x' $((1 << CPU_SUT)))
		for dev in uplink $(seq 1 "$n" | sed 's/^/pod/'); do
			nn sh -c "echo $mask >/sys/class/net/$dev/queues/rx-0/rps_cpus" || return 1
		done
	fi
	# Let the neighbour tables fill before anything measures.
	for i in $(seq 1 "$n"); do nn ping -c1 -W1 "198.19.$i.2" >/dev/null 2>&1; done
	nc ping -c1 -W1 198.18.0.1 >/dev/null 2>&1
	return 0
}

# metrics_file PATH [QUEUE]: an idle vLLM /metrics page.
metrics_file() {
	cat >"$1" <<METRICS
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} ${2:-0}
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.1
METRICS
}

# nginx_pod_start I [CPU]: nginx (one worker) in pod I on 198.19.I.2:8000, on CPU (default
# CPU_GEN): /whoami, /metrics (an idle vLLM), /v1/* answered at once with a small chat completion.
# POD_READ_BODY=1: the answer waits for the whole request body (nginx's `return` answers
# before a large body has arrived, and wrk then abandons the rest of its request).
nginx_pod_start() {
	local i=$1 cpu=${2:-$CPU_GEN} dir=$B_LOG/pod$1
	mkdir -p "$dir/www"
	echo "pod-$i" >"$dir/www/whoami"
	metrics_file "$dir/www/metrics"
	local answer='{"id":"cmpl-'$i'","object":"chat.completion","created":1,"model":"'$MODEL'","choices":[{"index":0,"message":{"role":"assistant","content":"Kubernetes runs containers."},"finish_reason":"stop"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}'
	cat >"$dir/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections 9000; }
worker_rlimit_nofile 19000;
http {
	access_log off;
	client_body_temp_path $dir;
	proxy_temp_path $dir;
	fastcgi_temp_path $dir;
	uwsgi_temp_path $dir;
	scgi_temp_path $dir;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	client_max_body_size 0;
	server {
		listen 198.19.$i.2:8000 backlog=4096;
		root $dir/www;
		location = /metrics { default_type text/plain; }
		location /v1/ {
$(if [ -n "${POD_READ_BODY:-}" ]; then
	# the whole body is read before the answer: a bodyless hop to the answering server
	printf '\t\t\tproxy_pass http://answer;\n\t\t\tproxy_pass_request_body off;\n'
	printf '\t\t\tproxy_set_header Content-Length "";\n\t\t\tproxy_http_version 1.1;\n'
	printf '\t\t\tproxy_set_header Connection "";\n\t\t\tclient_body_buffer_size 1m;\n'
else
	printf '\t\t\tdefault_type application/json;\n\t\t\treturn 200 %s;\n' "'$answer'"
fi)
		}
	}
	upstream answer { server unix:$dir/answer.sock; keepalive 64; }
	server {
		listen unix:$dir/answer.sock;
		location / { default_type application/json; return 200 '$answer'; }
	}
}
CONF
	bg "nginxpod$i" taskset -c "$cpu" ip netns exec "${B_PREFIX}p$i" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
	wait_for 5 np "$i" curl -sf -m 1 "http://198.19.$i.2:8000/whoami"
}

# pool_yaml NAME [VIP]: InferencePool NAME (pods labelled app: NAME, port 8000, FailOpen; an
# L4 VIP when VIP is set), printed.
pool_yaml() {
	cat <<YAML
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: $1
  namespace: default
YAML
	[ -n "${2:-}" ] && printf '  annotations:\n    inferlb.io/vip: "%s"\n' "$2"
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
    failureMode: FailOpen
YAML
}

# pool_manifest NAME VIP FILE PODS...: an InferencePool (an L4 VIP when VIP is set) with its Pods.
pool_manifest() {
	local name=$1 vip=$2 file=$3
	shift 3
	local f=$file.tmp i
	{
		pool_yaml "$name" "$vip"
		for i in "$@"; do
			cat <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: $name-$i
  namespace: default
  labels:
    app: $name
status:
  podIP: 198.19.$i.2
  conditions:
  - type: Ready
    status: "True"
YAML
		done
	} >"$f"
	mv "$f" "$file"
}

# gateway_manifest FILE: the seed's Gateway (GW:8888) and an HTTPRoute for GW_HOST to pool qwen.
gateway_manifest() {
	cat >"$1.tmp" <<YAML
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
  - $GW_HOST
  rules:
  - backendRefs:
    - group: inference.networking.k8s.io
      kind: InferencePool
      name: qwen
YAML
	mv "$1.tmp" "$1"
}

# agent_start [ARGS...]: the agent in the node namespace (host bpffs), pinned to CPU_SUT.
agent_start() {
	bg agent taskset -c "$CPU_SUT" nsenter --net="/run/netns/$NS_N" "$BUILD/inferlb-agent" \
		--manifests "$MANIFESTS" --iface uplink --pin-dir "$PIN_DIR" --socket "$SOCK" \
		--metrics-addr off --keep "$@"
	wait_for 10 test -S "$SOCK"
}

agent_stop() {
	stop agent
	nn_host "$BUILD/inferlb-agent" --cleanup --iface uplink --pin-dir "$PIN_DIR" >/dev/null 2>&1
	rm -rf "$PIN_DIR"
}

# ---- CPU accounting ----

# proc_cpu_ticks PID...: utime+stime of the processes and their threads, in clock ticks.
proc_cpu_ticks() {
	local t=0 pid v
	for pid in "$@"; do
		v=$(awk '{ print $14 + $15 }' "/proc/$pid/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}

# sys_ticks: "softirq busy total" clock ticks over all CPUs from /proc/stat.
sys_ticks() {
	awk '/^cpu / { busy = $2 + $3 + $4 + $7 + $8 + $9; print $8, busy, busy + $5 + $6 }' /proc/stat
}

HZ=$(getconf CLK_TCK)

# rss_kb PID: resident set size in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }

# ---- statistics ----

# stat3 V...: "median min max" of the numbers.
stat3() {
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+(e[-+]?[0-9]+)?$' | sort -g | awk '{ v[++n] = $1 } END {
		if (n == 0) { print "null null null"; exit }
		m = n % 2 ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
		printf "%.6g %.6g %.6g\n", m, v[1], v[n] }'
}

# point_json V...: {"median","min","max","runs":[...]}
point_json() {
	local m lo hi
	read -r m lo hi <<<"$(stat3 "$@")"
	jq -nc --argjson m "$m" --argjson lo "$lo" --argjson hi "$hi" --arg runs "$*" \
		'{median: $m, min: $lo, max: $hi, runs: ($runs | split(" ") | map(select(. != "") | tonumber))}'
}

# ratio A B: A / B with 3 decimals, null when either is missing or B is 0.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "null" || b == "null" || b + 0 <= 0 || a + 0 < 0) print "null"; else printf "%.3f\n", a / b }'
}

# fmt V: a number for the tables (3 significant digits, thousands grouped).
fmt() {
	awk -v v="$1" 'BEGIN {
		if (v == "" || v == "null") { print "–"; exit }
		a = v < 0 ? -v : v
		if (a >= 1000) s = sprintf("%.0f", v); else if (a >= 100) s = sprintf("%.0f", v);
		else if (a >= 10) s = sprintf("%.1f", v); else if (a >= 1) s = sprintf("%.2f", v);
		else s = sprintf("%.3g", v)
		n = split(s, p, ".")
		i = p[1]; neg = (substr(i, 1, 1) == "-"); if (neg) i = substr(i, 2)
		o = ""; while (length(i) > 3) { o = "," substr(i, length(i) - 2) o; i = substr(i, 1, length(i) - 3) }
		o = (neg ? "-" : "") i o
		if (n > 1) o = o "." p[2]
		print o }'
}

# fmt3 "median min max": "median (min–max)"
fmt3() {
	local m lo hi
	read -r m lo hi <<<"$1"
	echo "$(fmt "$m") ($(fmt "$lo")–$(fmt "$hi"))"
}

# row_write JQ-ARGS...: writes the row's JSON.
row_write() { jq -n "$@" >"$BENCH_RESULTS/$B_ROW.json"; }

# Not measured: the row is listed with the reason.
row_not_measured() { # row_not_measured ROW TITLE REASON
	jq -n --arg row "$1" --arg title "$2" --arg reason "$3" \
		'{row: $row, title: $title, status: "not measured", reason: $reason, summary: []}' \
		>"$BENCH_RESULTS/$1.json"
}

# tree_pids PID: PID and its descendants (nginx's workers, for instance).
tree_pids() {
	local p
	echo "$1"
	for p in $(pgrep -P "$1"); do tree_pids "$p"; done
}

# wrk_run NS CPU ARGS...: wrk from namespace NS pinned to CPU with the bench's script;
# prints the JSON summary line.
wrk_run() {
	local ns=$1 cpu=$2
	shift 2
	ip netns exec "$ns" taskset -c "$cpu" wrk -s "$B_ROOT/tools/bench/wrk.lua" "$@" 2>&1 |
		sed -n 's/^BENCH //p' | tail -1
}

# jget JSON FILTER: one value from a JSON text ("null" when absent).
jget() { jq -r "$2 // \"null\"" <<<"$1" 2>/dev/null || echo null; }
