# lib.sh - shared by the bench rows (sourced): the topology of tools/lib/topology.sh under the
# row's own prefix, the bench's pods and agent, CPU accounting, statistics and the JSON each
# row leaves in $BENCH_RESULTS.
#
#   client ns (198.18.0.2) --veth-- node ns (198.18.0.1, "uplink") --veth-- pod ns x N
#                                       198.19.N.1 <-> 198.19.N.2
#
# Every namespace and pinned map carries the row's prefix; the EXIT trap removes exactly those
# and kills exactly the processes the row started (by pid).

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

source "$B_ROOT/tools/lib/topology.sh"
MODEL=$SEED_MODEL
# each agent start of a row writes its log afresh
TOPO_BG_TRUNCATE=1
# pids a row adds by hand (B_PIDS+=) are killed at exit with those bg started
B_PIDS=()

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

b_init() { # b_init ROWNAME
	B_ROW=$1
	B_PREFIX=${B_PREFIX:-ib${1//[^0-9]/}$$}
	B_PREFIX=${B_PREFIX:0:10}
	B_LOG=$(mktemp -d "/tmp/$B_PREFIX.XXXX")
	chmod 755 "$B_LOG"
	TOPO_PREFIX=$B_PREFIX
	TOPO_LOG=$B_LOG
	NS_CLIENT=${B_PREFIX}c NS_C=${B_PREFIX}c
	NS_NODE=${B_PREFIX}n NS_N=${B_PREFIX}n
	PIN_DIR=/sys/fs/bpf/$B_PREFIX
	SOCK=$B_LOG/agent.sock
	MANIFESTS=$B_LOG/manifests
	mkdir -p "$MANIFESTS" "$BENCH_RESULTS"
	trap b_cleanup EXIT
	trap 'exit 130' INT TERM
}

b_cleanup() {
	local pid
	for pid in "${B_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
	topo_cleanup
	for pid in "${B_PIDS[@]}"; do kill -9 "$pid" 2>/dev/null; done
	[ -n "${B_LOG:-}" ] && [ -z "${KEEP_LOGS:-}" ] && rm -rf "$B_LOG"
	return 0
}

# topology_tune N (topology_up's last step): the sysctls a load generator and a proxy need
# under load; NODE_RPS: the node namespace's receive processing (RPS on its veths) on CPU_SUT,
# so that the kernel work a proxy causes in the node (TCP receive, sockmap verdicts and their
# workqueue, netfilter) runs on the node's core with the proxy, not on the generator's.
topology_tune() {
	local n=$1 i mask dev
	nc sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	nc sysctl -qw net.ipv4.tcp_tw_reuse=1
	nn sysctl -qw net.ipv4.ip_local_port_range="1024 65535"
	nn sysctl -qw net.core.somaxconn=4096
	for i in $(seq 1 "$n"); do np "$i" sysctl -qw net.core.somaxconn=4096; done
	if [ -n "${NODE_RPS:-}" ]; then
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
metrics_file() { metrics_text "${2:-0}" >"$1"; }

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
	{
		nginx_head "$dir" 9000 19000
		cat <<CONF
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
	} >"$dir/nginx.conf"
	bg "nginxpod$i" taskset -c "$cpu" ip netns exec "$(pod_ns "$i")" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
	wait_for 5 np "$i" curl -sf -m 1 "http://198.19.$i.2:8000/whoami"
}

# pool_manifest NAME VIP FILE PODS...: an InferencePool (an L4 VIP when VIP is set) with its Pods.
pool_manifest() {
	local name=$1 vip=$2 file=$3 i
	shift 3
	{
		pool_yaml "$name" "$vip"
		for i in "$@"; do pod_yaml "$name-$i" "$name" "198.19.$i.2"; done
	} | put "$file"
}

# gateway_manifest FILE: the seed's Gateway (GW:8888) and an HTTPRoute for GW_HOST to pool qwen.
gateway_manifest() { gateway_yaml | put "$1"; }

# agent_start [ARGS...]: the agent in the node namespace (host bpffs), pinned to CPU_SUT.
agent_start() {
	agent_argv
	bg agent taskset -c "$CPU_SUT" "${AGENT_ARGV[@]}" --metrics-addr off --keep "$@"
	wait_for 10 test -S "$SOCK"
}

agent_stop() {
	stop agent
	agent_cleanup
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
