# l4_topology.sh - the L4 test topology, sourced by the e2e tests after tests/lib.sh:
#
#   client ns (198.18.0.2) --veth-- node ns (198.18.0.1, XDP on "up") --veth-- pod ns x3
#                                       198.19.N.1 <-> 198.19.N.2 (nginx on :8000)
#
# The VIP 198.18.100.100:80 lives only in the maps: the client routes it to the node.
# Addresses are from the benchmarking range (RFC 2544) and exist only in these namespaces.

VIP=198.18.100.100
NS_CLIENT=${T_PREFIX}c
NS_NODE=${T_PREFIX}n
PIN_DIR=/sys/fs/bpf/${T_PREFIX}
SOCK=$T_LOGDIR/agent.sock
MANIFESTS=$T_LOGDIR/manifests
nc() { ip netns exec "$NS_CLIENT" "$@"; }
nn() { ip netns exec "$NS_NODE" "$@"; }
nn_host() { nsenter --net="/run/netns/$NS_NODE" "$@"; }
np() { local i=$1; shift; ip netns exec "${T_PREFIX}p$i" "$@"; }

topology_up() {
	local n_pods=$1 i
	netns_add "$NS_CLIENT" && netns_add "$NS_NODE" || return 1
	ip link add "${T_PREFIX}u" type veth peer name "${T_PREFIX}k" || return 1
	ip link set "${T_PREFIX}u" netns "$NS_NODE" name uplink
	ip link set "${T_PREFIX}k" netns "$NS_CLIENT" name eth0
	nn ip addr add 198.18.0.1/24 dev uplink
	nn ip link set uplink up
	nc ip addr add 198.18.0.2/24 dev eth0
	nc ip link set eth0 up
	nc ip route add default via 198.18.0.1
	# A NIC hands XDP whole frames with full checksums; a veth peer must be told to.
	nc ethtool -K eth0 tx off tso off gso off >/dev/null
	nn sysctl -qw net.ipv4.ip_forward=1
	nn sysctl -qw net.ipv4.conf.all.rp_filter=0
	for i in $(seq 1 "$n_pods"); do
		netns_add "${T_PREFIX}p$i" || return 1
		ip link add "${T_PREFIX}q$i" type veth peer name "${T_PREFIX}r$i"
		ip link set "${T_PREFIX}q$i" netns "$NS_NODE" name "pod$i"
		ip link set "${T_PREFIX}r$i" netns "${T_PREFIX}p$i" name eth0
		nn ip addr add "198.19.$i.1/24" dev "pod$i"
		nn ip link set "pod$i" up
		np "$i" ip addr add "198.19.$i.2/24" dev eth0
		np "$i" ip link set eth0 up
		np "$i" ip route add default via "198.19.$i.1"
		# XDP_REDIRECT into a veth needs NAPI on the receiving peer: GRO turns it on.
		np "$i" ethtool -K eth0 gro on >/dev/null 2>&1
		nn ethtool -K "pod$i" tx off >/dev/null
	done
	mkdir -p "$MANIFESTS"
	chmod 755 "$T_LOGDIR" # nginx workers read the pods' files as www-data
}

# pod_start I: nginx in pod I serving $T_LOGDIR/www$I on :8000 (/whoami, /metrics, /big).
pod_start() {
	local i=$1 dir=$T_LOGDIR/www$1
	mkdir -p "$dir" "$T_LOGDIR/nginx$i"
	echo "pod-$i" >"$dir/whoami"
	pod_load "$i" 0
	cat >"$T_LOGDIR/nginx$i/nginx.conf" <<CONF
daemon off;
worker_processes 1;
pid $T_LOGDIR/nginx$i/nginx.pid;
error_log $T_LOGDIR/nginx$i/error.log;
events { worker_connections 1024; }
http {
	access_log off;
	client_body_temp_path $T_LOGDIR/nginx$i;
	proxy_temp_path $T_LOGDIR/nginx$i;
	fastcgi_temp_path $T_LOGDIR/nginx$i;
	uwsgi_temp_path $T_LOGDIR/nginx$i;
	scgi_temp_path $T_LOGDIR/nginx$i;
	keepalive_requests 100000;
	server {
		listen 198.19.$i.2:8000 reuseport;
		root $dir;
		location = /metrics { default_type text/plain; }
		location /slow { root $dir; limit_rate 256k; }
	}
}
CONF
	bg "nginx$i" ip netns exec "${T_PREFIX}p$i" nginx -c "$T_LOGDIR/nginx$i/nginx.conf" -e "$T_LOGDIR/nginx$i/error.log"
}

# pod_load I QUEUE: what pod I's /metrics reports, in vLLM's names.
pod_load() {
	cat >"$T_LOGDIR/www$1/metrics.tmp" <<METRICS
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="m"} $2
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="m"} 0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="m"} 0.1
METRICS
	mv "$T_LOGDIR/www$1/metrics.tmp" "$T_LOGDIR/www$1/metrics"
}

# write_manifests "1 2 3": an InferencePool with an L4 VIP and the given pods Ready.
write_manifests() {
	local f=$MANIFESTS/pool.yaml.tmp i
	cat >"$f" <<YAML
apiVersion: inference.networking.k8s.io/v1
kind: InferencePool
metadata:
  name: web
  namespace: default
  annotations:
    inferlb.io/vip: "$VIP:80"
spec:
  selector:
    matchLabels:
      app: web
  targetPorts:
  - number: 8000
  endpointPickerRef:
    name: inferlb
    port:
      number: 9002
    failureMode: FailOpen
YAML
	for i in $1; do
		cat >>"$f" <<YAML
---
apiVersion: v1
kind: Pod
metadata:
  name: pod-$i
  namespace: default
  labels:
    app: web
spec:
  containers:
  - name: web
    ports:
    - containerPort: 8000
status:
  podIP: 198.19.$i.2
  conditions:
  - type: Ready
    status: "True"
YAML
	done
	mv "$f" "$MANIFESTS/pool.yaml"
}

agent_start() {
	# nsenter joins only the network namespace: the agent keeps the host's bpffs.
	bg agent nsenter --net="/run/netns/$NS_NODE" "$BUILD/inferlb-agent" --manifests "$MANIFESTS" --iface uplink \
		--pin-dir "$PIN_DIR" --socket "$SOCK" --metrics-addr off --keep -v
}

# count_pods N PATH: N fresh connections to the VIP; prints "pod-1 pod-2 pod-3 errors" counts.
count_pods() {
	local n=$1 out
	out=$(nc bash -c "for i in \$(seq 1 $n); do curl -sf -m 2 http://$VIP/whoami || echo error; done")
	echo "$out" >"$T_LOGDIR/last_count.out"
	echo "$(grep -c '^pod-1$' <<<"$out") $(grep -c '^pod-2$' <<<"$out") $(grep -c '^pod-3$' <<<"$out") $(grep -c '^error' <<<"$out")"
}

topology_cleanup() {
	nn_host "$BUILD/inferlb-agent" --cleanup --iface uplink --pin-dir "$PIN_DIR" >/dev/null 2>&1
	rm -rf "$PIN_DIR"
}
