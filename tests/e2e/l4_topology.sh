# l4_topology.sh - the L4 test topology (tools/lib/topology.sh), sourced first by the e2e
# tests: it sources tests/lib.sh, starts the test (t_init) and has its EXIT trap remove the
# topology.
#
#   client ns (198.18.0.2) --veth-- node ns (198.18.0.1, XDP on "up") --veth-- pod ns x3
#                                       198.19.N.1 <-> 198.19.N.2 (nginx on :8000)
#
# The VIP 198.18.100.100:80 lives only in the maps: the client routes it to the node.
# Addresses are from the benchmarking range (RFC 2544) and exist only in these namespaces.

source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
t_init
NS_CLIENT=${T_PREFIX}c
NS_NODE=${T_PREFIX}n
PIN_DIR=/sys/fs/bpf/${T_PREFIX}
SOCK=$T_LOGDIR/agent.sock
MANIFESTS=$T_LOGDIR/manifests
mkdir -p "$MANIFESTS"
chmod 755 "$T_LOGDIR" # nginx workers read the pods' files as www-data

# pod_start I: nginx in pod I serving $T_LOGDIR/www$I on :8000 (/whoami, /metrics, /big).
pod_start() {
	local i=$1 dir=$T_LOGDIR/www$1
	mkdir -p "$dir" "$T_LOGDIR/nginx$i"
	echo "pod-$i" >"$dir/whoami"
	pod_load "$i" 0
	{
		nginx_head "$T_LOGDIR/nginx$i" 1024
		cat <<CONF
	keepalive_requests 100000;
	server {
		listen 198.19.$i.2:8000 reuseport;
		root $dir;
		location = /metrics { default_type text/plain; }
		location /slow { root $dir; limit_rate 256k; }
	}
}
CONF
	} >"$T_LOGDIR/nginx$i/nginx.conf"
	bg "nginx$i" ip netns exec "$(pod_ns "$i")" nginx -c "$T_LOGDIR/nginx$i/nginx.conf" -e "$T_LOGDIR/nginx$i/error.log"
}

# pod_load I QUEUE: what pod I's /metrics reports, in vLLM's names.
pod_load() { metrics_text "$2" | put "$T_LOGDIR/www$1/metrics"; }

# write_manifests "1 2 3": an InferencePool with an L4 VIP and the given pods Ready.
write_manifests() {
	local i
	{
		pool_yaml web "$VIP:80"
		for i in $1; do pod_yaml "pod-$i" web "198.19.$i.2" 8000; done
	} | put "$MANIFESTS/pool.yaml"
}

# agent_start [ARGS...]: node 1's agent, no metrics listener, the data path kept at exit.
agent_start() {
	agent_argv
	bg agent "${AGENT_ARGV[@]}" --metrics-addr off --keep -v "$@"
}

# count_pods N PATH: N fresh connections to the VIP; prints "pod-1 pod-2 pod-3 errors" counts.
count_pods() {
	local n=$1 out
	out=$(nc bash -c "for i in \$(seq 1 $n); do curl -sf -m 2 http://$VIP/whoami || echo error; done")
	echo "$out" >"$T_LOGDIR/last_count.out"
	echo "$(grep -c '^pod-1$' <<<"$out") $(grep -c '^pod-2$' <<<"$out") $(grep -c '^pod-3$' <<<"$out") $(grep -c '^error' <<<"$out")"
}
