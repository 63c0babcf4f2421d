#!/usr/bin/env bash
# row7_control.sh - the control plane, three measurements:
#  (a) pod Ready -> routable: one pod of pool qwen (no other ready pod; EXTRA_POOLS other
#      pools beside it) flips NotReady -> Ready, in the manifests source (its YAML rewritten
#      and renamed into place) and in the Kubernetes source (applied on tools/fake-apiserver,
#      watched by the agent over HTTPS). Timed from the change to: the pod in the kernel's
#      ready set (pinned maps), a fresh SYN through the L4 VIP answered, a request through
#      the L7 gateway answered 200. Floor: the same change reaching an independent watcher
#      (inotify / a watch stream of its own). Apart: a few samples with the pod's neighbour
#      entry deleted before each Ready. tools/bench/row7_probe.py does the timing.
#  (b) the agent scraping 256 pods every 50 ms: CPU (utime+stime from /proc/PID/stat) and
#      VmRSS, against the same agent with the pool empty; the scrapes counted on the pods'
#      side (nginx stub_status) and their ages read from the agent (`inferlb backends`).
#  (c) 10,000 idle client connections on the L7 gateway: VmRSS of the agent before, with
#      the connections open (no request yet), after one request on each (still open), and
#      after they close; HAProxy 2.6 holding the same connections in front of the same pods
#      is the peer.
#  (d) initial sync of 10,000 pods: fake-apiserver (as in (a), over HTTPS) holds 10,000 Ready
#      Pods and SYNC_POOLS InferencePools. The kernel's limits (include/inferlb.h: backend
#      ids 1 .. ILB_MAX_BACKENDS-1 across all pools, ILB_MAX_POOL_BACKENDS per pool) cap the
#      pods a node can route to at 4,095, so each of the 8 pools selects 511 pods (4,088
#      backends) and the other 5,912 pods match no pool (the agent still lists, decodes and
#      stores them, and matches every one against each pool's selector). The 4,088 pool pods'
#      addresses sit on one namespace's loopback behind a gateway on the node (one neighbour
#      entry resolves them all) and one nginx answers their /metrics (an idle vLLM page), so
#      the agent scrapes them as it would real pods. A fresh agent (new process, empty pin
#      dir) is started in Kubernetes mode; row7_probe.py sync times, from the command that
#      starts it: the control socket answering; `status` (what `inferlb status -j` asks)
#      reporting every source synced; every pool's active ready set in the pinned `pools` map
#      at 511 (bpf(2) every 2 ms). Sync = the later of the last two. It reads the agent's VmRSS
#      from /proc/PID/status when the sources report synced and at sync (and VmHWM), reads
#      every ready set back (pool_backends -> backends: distinct ids, state ready, the right
#      pool, distinct addresses), waits SYNC_SETTLE s and reads VmRSS again (the summary's figure: the agent holding the pods
#      and scraping its 4,088) with the agent's CPU over the wait; `inferlb pools -j` and
#      `status -j` cross-check the counts. Reference: the same pools and no pods. SYNC_RUNS
#      runs each (3; 1 with BENCH_QUICK), median (min–max).
# BENCH_QUICK=1: one run of each, fewer samples. ROUNDS, SAMPLES, COLD_SAMPLES, EXTRA_POOLS,
# SCRAPE_PODS, SCRAPE_DUR, IDLE_DUR, IDLE_CONNS, SYNC_PODS, SYNC_POOLS, SYNC_POOL_PODS,
# SYNC_RUNS, SYNC_SETTLE, PARTS ("a b c d"), AGENT_ARGS override.
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
b_init row7

TITLE="Control plane"
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
SAMPLES=${SAMPLES:-$([ -n "$QUICK" ] && echo 20 || echo 60)}
SCRAPE_PODS=${SCRAPE_PODS:-256}
SCRAPE_DUR=${SCRAPE_DUR:-$([ -n "$QUICK" ] && echo 4 || echo 20)}
IDLE_DUR=${IDLE_DUR:-$([ -n "$QUICK" ] && echo 3 || echo 8)}
IDLE_CONNS=${IDLE_CONNS:-10000}
EXTRA_POOLS=${EXTRA_POOLS:-3}
COLD_SAMPLES=${COLD_SAMPLES:-$([ -n "$QUICK" ] && echo 4 || echo 10)}
PARTS=${PARTS:-a b c d}
SYNC_PODS=${SYNC_PODS:-10000}
SYNC_POOLS=${SYNC_POOLS:-8}
SYNC_RUNS=${SYNC_RUNS:-$ROUNDS}
SYNC_SETTLE=${SYNC_SETTLE:-$([ -n "$QUICK" ] && echo 2 || echo 3)}
AGENT_ARGS=${AGENT_ARGS:-} # more agent flags (-v), for looking into a run
PROBE=$B_ROOT/tools/bench/row7_probe.py
API_PORT=16443
ADMIN_PORT=16444
GOAL_MS=100

# 10,000 connections, each an fd in the client and in the proxy. Without CAP_SYS_RESOURCE
# the hard limit cannot be raised: the connections held are capped under it.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
FD_LIMIT=$(ulimit -n)
if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt $((IDLE_CONNS + 1000)) ]; then
	log "row7: open files limited to $FD_LIMIT (hard limit): $((FD_LIMIT - 1000)) connections instead of $IDLE_CONNS"
	IDLE_CONNS=$((FD_LIMIT - 1000))
fi

for bin in inferlb-agent inferlb fake-apiserver; do
	[ -x "$BUILD/$bin" ] || { row_not_measured row7 "$TITLE" "missing $BUILD/$bin (make all)"; exit 0; }
done
command -v python3 >/dev/null || { row_not_measured row7 "$TITLE" "python3 is missing"; exit 0; }

topology_up 3 || { row_not_measured row7 "$TITLE" "could not build the namespaces"; exit 0; }
for i in 1 2 3; do nginx_pod_start "$i" || { row_not_measured row7 "$TITLE" "pod $i did not start"; exit 0; }; done

cli() { "$BUILD/inferlb" --socket "$SOCK" "$@"; }
# fgwait CMD...: CMD as a child the shell waits for interruptibly (a signal runs the cleanup at
# once, which kills it, instead of after it ends).
fgwait() {
	"$@" &
	local p=$!
	B_PIDS+=("$p")
	wait "$p"
}

# pct P V...: the P-th percentile (nearest rank) of the numbers.
pct() {
	local p=$1
	shift
	printf '%s\n' "$@" | grep -E '^-?[0-9.]+$' | sort -g | awk -v p="$p" '{ v[++n] = $1 } END {
		if (n == 0) { print "null"; exit }
		i = int(p / 100 * n); if (i < p / 100 * n) i++; if (i < 1) i = 1
		print v[i] }'
}

# ---------------------------------------------------------------- (a) Ready -> routable

pool_only_manifest() { # FILE: pool qwen (L4 VIP too) with no pods; its pods come from elsewhere
	local f=$1
	pool_manifest qwen "$VIP:80" "$f"
}
# extra_pools DIR: EXTRA_POOLS other pools, two ready pods each (pods 2 and 3), as a node
# serving several models has; every membership change republishes each pool.
extra_pools() {
	local k
	for k in $(seq 1 "$EXTRA_POOLS"); do pool_manifest "model$k" "" "$1/model$k.yaml" 2 3; done
}

# A_RES[mode.metric]: per-run p50 / p99 lists; A_ALL[mode.metric]: every sample.
declare -A A_P50 A_P99 A_ALL A_TMO A_L7ERR
a_run() { # a_run KEY SOURCE RUN SAMPLES ARGS...: one run of the sampler; its lines in $B_LOG/a.KEY.RUN.jsonl
	local mode=$1 src=$2 run=$3 n=$4 out=$B_LOG/a.$1.$3.jsonl m vals tmo
	shift 4
	fgwait nn_host taskset -c "$CPU_GEN" python3 "$PROBE" ready --mode "$src" "$@" --pin-dir "$PIN_DIR" --pool default/qwen \
		--pod qwen-1 --pod-ip 198.19.1.2 --app qwen --client-netns "/run/netns/$NS_C" \
		--vip "$VIP" --vip-port 80 --gw "$GW" --gw-port "$GW_PORT" --host "$GW_HOST" --model "$MODEL" \
		--samples "$n" --timeout 3 >"$out" 2>"$B_LOG/a.$mode.$run.err" ||
		{ log "row7 (a) $mode run $run: $(tail -2 "$B_LOG/a.$mode.$run.err")"; return 1; }
	for m in noticed kernel l4 l7 routable down; do
		# a sample that never got there counts as the timeout (3 s): p99 cannot hide it
		if [ "$m" = routable ]; then
			vals=$(jq -r 'select(.error == null) | [.kernel_ms, .l4_ms, .l7_ms] | if any(. == null) then 3000 else max end' "$out")
			tmo=$(jq -r 'select(.error == null) | select([.kernel_ms, .l4_ms, .l7_ms] | any(. == null)) | 1' "$out" | wc -l)
		else
			vals=$(jq -r "select(.error == null) | .${m}_ms // 3000" "$out")
			tmo=$(jq -r "select(.error == null and .${m}_ms == null) | 1" "$out" | wc -l)
		fi
		tmo=$((tmo + $(jq -r 'select(.error != null) | 1' "$out" | wc -l)))
		A_P50[$mode.$m]+="$(pct 50 $vals) "
		A_P99[$mode.$m]+="$(pct 99 $vals) "
		A_ALL[$mode.$m]+="$vals "
		A_TMO[$mode.$m]=$((${A_TMO[$mode.$m]:-0} + tmo))
	done
	A_L7ERR[$mode]=$((${A_L7ERR[$mode]:-0} + $(jq -r 'select(.l7_errors != null) | .l7_errors[]' "$out" | wc -l)))
	local q=""
	for m in noticed kernel l4 l7; do
		vals=$(jq -r ".${m}_ms // 3000" "$out")
		q+=" $m $(pct 50 $vals)/$(pct 99 $vals)"
	done
	log "row7 (a) $mode run $run: $(wc -l <"$out") samples; p50/p99 ms$q"
}

part_a() {
	local r
	rm -f "$MANIFESTS"/*
	pool_only_manifest "$MANIFESTS/pool.yaml"
	gateway_manifest "$MANIFESTS/gateway.yaml"
	extra_pools "$MANIFESTS"
	for r in $(seq 1 "$ROUNDS"); do
		# manifests: the agent as `make demo` and the bench's other rows run it
		rm -f "$MANIFESTS/pod.yaml"
		if l7_agent_start $AGENT_ARGS; then
			a_run manifests manifests "$r" "$SAMPLES" --file "$MANIFESTS/pod.yaml"
			# a pod whose address the node has not resolved yet (no readiness probe from
			# the node before Ready, for instance): the L4 lane needs its MAC first
			[ "$r" = 1 ] && [ "$COLD_SAMPLES" -gt 0 ] &&
				a_run cold manifests "$r" "$COLD_SAMPLES" --file "$MANIFESTS/pod.yaml" --cold-neigh pod1
		else
			log "row7 (a): the agent did not start: $(tail -3 "$B_LOG/agent.log")"
		fi
		agent_stop
		cp "$B_LOG/agent.log" "$B_LOG/agent.a.manifests.$r.log" 2>/dev/null
		# Kubernetes: the agent lists and watches fake-apiserver over HTTPS
		bg fas taskset -c "$CPU_GEN" nsenter --net="/run/netns/$NS_N" "$BUILD/fake-apiserver" --port "$API_PORT" --admin-port "$ADMIN_PORT" \
			--tls-cert-file "$B_LOG/certs/server.crt" --tls-private-key-file "$B_LOG/certs/server.key" \
			--token-auth-file "$B_LOG/certs/tokens.csv" --load "$B_LOG/kube"
		if wait_for 5 nn curl -sf "http://127.0.0.1:$ADMIN_PORT/admin/healthz"; then
			bg agent taskset -c "$CPU_SUT" nsenter --net="/run/netns/$NS_N" "$BUILD/inferlb-agent" \
				--kubeconfig "$B_LOG/certs/kubeconfig" --iface uplink --pin-dir "$PIN_DIR" --socket "$SOCK" \
				--metrics-addr off --keep --max-body 1000000 $AGENT_ARGS
			if wait_for 10 test -S "$SOCK" && wait_for 10 bash -c "'$BUILD/inferlb' --socket '$SOCK' status -j | jq -e '.sources[0].synced'"; then
				a_run kube kube "$r" "$SAMPLES" --admin "http://127.0.0.1:$ADMIN_PORT" --api "https://127.0.0.1:$API_PORT" \
					--token "$B_LOG/certs/token" --ca "$B_LOG/certs/ca.crt"
			else
				log "row7 (a): the agent did not sync with fake-apiserver: $(tail -3 "$B_LOG/agent.log")"
			fi
			agent_stop
			cp "$B_LOG/agent.log" "$B_LOG/agent.a.kube.$r.log" 2>/dev/null
		else
			log "row7 (a): fake-apiserver did not start: $(tail -3 "$B_LOG/fas.log")"
		fi
		stop fas
	done
}

# ---------------------------------------------------------------- (b) scraping 256 pods

# The pods: one namespace whose loopback holds SCRAPE_PODS addresses (198.19.208.1 ...,
# routed from the node through 198.19.200.2), one nginx serving an idle vLLM /metrics page
# on all of them (port 8000) and its stub_status on 198.19.200.2:8001.
NS_M=${B_PREFIX}m
scrape_ip() { echo "198.19.$((208 + ($1 - 1) / 250)).$((($1 - 1) % 250 + 1))"; }
# metrics_pods_up NAME NS DEV NET ROUTE LAST CONNS BACKLOG [RLIMIT [STATUS]] < ADDR-COMMANDS:
# pods for the agent to scrape. Namespace NS behind the node's DEV on NET.0/24 (the node .1,
# NS .2); on its loopback the pods' addresses, one "addr add ADDR/32 dev lo" per line on
# stdin; ROUTE to them through NET.2; one nginx (bg NAME, on CPU_GEN, files in $B_LOG/NAME)
# serving an idle vLLM /metrics page on port 8000 of all of them: CONNS worker connections,
# listen backlog (and somaxconn) BACKLOG, open files RLIMIT if given, with STATUS its
# stub_status on NET.2:8001 too. Ready once the pod address LAST answers.
metrics_pods_up() {
	local name=$1 ns=$2 dev=$3 net=$4 route=$5 last=$6 conns=$7 backlog=$8 rlimit=${9:-} status=${10:-}
	local dir=$B_LOG/$1
	netns_add "$ns" || return 1
	ip link add "${ns}n" type veth peer name "${ns}p" || return 1
	ip link set "${ns}n" netns "$NS_N" name "$dev"
	ip link set "${ns}p" netns "$ns" name eth0
	nn ip addr add "$net.1/24" dev "$dev"
	nn ip link set "$dev" up
	ip -n "$ns" addr add "$net.2/24" dev eth0
	ip -n "$ns" link set eth0 up
	ip -n "$ns" route add default via "$net.1"
	ip -n "$ns" -batch - || return 1
	nn ip route add "$route" via "$net.2"
	ip netns exec "$ns" sysctl -qw net.core.somaxconn="$backlog"
	mkdir -p "$dir/www"
	metrics_file "$dir/www/metrics"
	{
		cat <<CONF
daemon off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log;
events { worker_connections $conns; }
CONF
		[ -n "$rlimit" ] && echo "worker_rlimit_nofile $rlimit;"
		cat <<CONF
http {
	access_log off;
	client_body_temp_path $dir;
	proxy_temp_path $dir;
	fastcgi_temp_path $dir;
	uwsgi_temp_path $dir;
	scgi_temp_path $dir;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	server {
		listen 8000 backlog=$backlog;
		root $dir/www;
		location = /metrics { default_type text/plain; }
	}
CONF
		[ -n "$status" ] && printf '\tserver {\n\t\tlisten %s.2:8001;\n\t\tlocation = /status { stub_status; }\n\t}\n' "$net"
		echo "}"
	} >"$dir/nginx.conf"
	bg "$name" taskset -c "$CPU_GEN" ip netns exec "$ns" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
	wait_for 5 nn curl -sf -m 1 "http://$last:8000/metrics" || return 1
	nn ping -c1 -W1 "$net.2" >/dev/null 2>&1 # the one neighbour entry every pod resolves to
	return 0
}

# (stdin from a process substitution, not a pipe: the function must run in this shell, where
# bg and netns_add record what the cleanup removes)
scrape_pods_up() {
	metrics_pods_up nginxscrape "$NS_M" scrape0 198.19.200 198.19.208.0/20 "$(scrape_ip "$SCRAPE_PODS")" 4096 4096 9000 status \
		< <(for i in $(seq 1 "$SCRAPE_PODS"); do echo "addr add $(scrape_ip "$i")/32 dev lo"; done)
}
scrape_requests() { nn curl -sf -m 2 http://198.19.200.2:8001/status | awk '/^ *[0-9]+ +[0-9]+ +[0-9]+/ { print $3 }'; }
scrape_manifest() { # FILE N: pool "scrape" with N Ready pods
	local f=$1 n=$2 i
	{
		pool_yaml scrape
		for i in $(seq 1 "$n"); do
			printf -- '---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: scrape-%d\n  namespace: default\n  labels:\n    app: scrape\nstatus:\n  podIP: %s\n  conditions:\n  - type: Ready\n    status: "True"\n' \
				"$i" "$(scrape_ip "$i")"
		done
	} >"$f.tmp"
	mv "$f.tmp" "$f"
}
# cpu_pct PID SECONDS VAR: the process's CPU over SECONDS, in % of one core, into VAR
# (not printed: a signal would wait for a command substitution to end).
cpu_pct() {
	local t0 t1 w0 w1
	t0=$(proc_cpu_ticks "$1")
	w0=$(date +%s.%N)
	sleep "$2" &
	wait $!
	t1=$(proc_cpu_ticks "$1")
	w1=$(date +%s.%N)
	printf -v "$3" '%s' "$(awk -v t=$((t1 - t0)) -v hz="$HZ" -v a="$w0" -v b="$w1" 'BEGIN { printf "%.2f", t / hz / (b - a) * 100 }')"
}

declare -A B_CPU B_RSS
B_RATE="" B_AGEMAX="" B_FRESH="" B_SCRAPES_S=""
part_b() {
	local r req0 req1 w0 w1 j fresh pct_v
	scrape_pods_up || { log "row7 (b): the scrape pods did not come up"; return 1; }
	rm -f "$MANIFESTS"/*
	for r in $(seq 1 "$ROUNDS"); do
		scrape_manifest "$MANIFESTS/scrape.yaml" 0
		# the exporter on, as a DaemonSet runs it (it formats every pod's series each tick)
		agent_start --metrics-addr 127.0.0.1:9464 $AGENT_ARGS || { log "row7 (b): the agent did not start"; agent_stop; continue; }
		sleep 1
		cpu_pct "$PID_agent" "$IDLE_DUR" pct_v
		B_CPU[idle]+="$pct_v "
		B_RSS[idle]+="$(rss_kb "$PID_agent") "
		scrape_manifest "$MANIFESTS/scrape.yaml" "$SCRAPE_PODS"
		if ! wait_for 10 bash -c "[ \$('$BUILD/inferlb' --socket '$SOCK' backends -j scrape | jq '[.[] | select(.metrics_age_ms >= 0 and .metrics_age_ms < 200)] | length') -eq $SCRAPE_PODS ]"; then
			log "row7 (b) round $r: not every pod was scraped: $(cli backends -j scrape | jq '[.[] | select(.metrics_age_ms >= 0)] | length') of $SCRAPE_PODS"
		fi
		sleep 1
		req0=$(scrape_requests)
		w0=$(date +%s.%N)
		cpu_pct "$PID_agent" "$SCRAPE_DUR" pct_v
		B_CPU[scrape]+="$pct_v "
		req1=$(scrape_requests)
		w1=$(date +%s.%N)
		B_RSS[scrape]+="$(rss_kb "$PID_agent") "
		B_SCRAPES_S+="$(awk -v a="$req0" -v b="$req1" -v t0="$w0" -v t1="$w1" 'BEGIN { printf "%.1f", (b - a) / (t1 - t0) }') "
		# the agent's view: every pod's last good scrape, read a few times
		for _ in 1 2 3 4 5; do
			j=$(cli backends -j scrape)
			B_AGEMAX+="$(jq '[.[].metrics_age_ms] | max' <<<"$j") "
			fresh=$(jq '[.[] | select(.metrics_age_ms >= 0 and .metrics_age_ms < 200)] | length' <<<"$j")
			B_FRESH+="$fresh "
			sleep 0.2
		done
		log "row7 (b) round $r: idle $(echo ${B_CPU[idle]} | awk '{ print $NF }')% $(echo ${B_RSS[idle]} | awk '{ print $NF }') kB;" \
			"$SCRAPE_PODS pods $(echo ${B_CPU[scrape]} | awk '{ print $NF }')% $(echo ${B_RSS[scrape]} | awk '{ print $NF }') kB;" \
			"scrapes/s on the pods $(echo $B_SCRAPES_S | awk '{ print $NF }') (expected $((SCRAPE_PODS * 20))); fresh $fresh of $SCRAPE_PODS"
		agent_stop
	done
	stop nginxscrape
}

# ---------------------------------------------------------------- (c) 10,000 idle L7 connections

# HAProxy as l7_common.sh's haproxy_start configures it, but with maxconn above the
# connections held (haproxy_start's 9000 would leave the last 1,000 in the accept queue)
# and without strict-limits: HAProxy wants 2 fds per maxconn and stops when it cannot get
# them; idle client connections need one each and share a few server connections.
row7_haproxy_start() {
	local i dir=$B_LOG/haproxy maxconn=$((IDLE_CONNS + 1000))
	mkdir -p "$dir"
	{
		cat <<CONF
global
	nbthread 1
	maxconn $maxconn
	no strict-limits
	pidfile $dir/haproxy.pid
defaults
	mode http
	option http-keep-alive
	timeout connect 5s
	timeout client 300s
	timeout server 300s
	timeout http-keep-alive 300s
	maxconn $maxconn
frontend gateway
	bind 198.18.0.1:$HAPROXY_PORT backlog 4096
	default_backend pods
backend pods
	balance roundrobin
	http-reuse safe
CONF
		for i in "$@"; do echo "	server pod$i 198.19.$i.2:8000"; done
	} >"$dir/haproxy.cfg"
	bg haproxy taskset -c "$CPU_SUT" ip netns exec "$NS_N" haproxy -db -f "$dir/haproxy.cfg"
	wait_for 5 nn bash -c "exec 3<>/dev/tcp/198.18.0.1/$HAPROXY_PORT"
}

declare -A C_IDLE C_REQ C_BASE C_OK C_CONN C_AFTER
part_c() {
	local r cfg pid addr port j body=$B_LOG/body.json
	printf '%s' '{"model": "'"$MODEL"'", "messages": [{"role": "user", "content": "Explain Kubernetes in one sentence."}], "max_tokens": 50}' >"$body"
	rm -f "$MANIFESTS"/*
	pool_manifest qwen "" "$MANIFESTS/pool.yaml" 1 2 3
	for r in $(seq 1 "$ROUNDS"); do
		for cfg in inferlb haproxy; do
			if [ "$cfg" = inferlb ]; then
				l7_agent_start $AGENT_ARGS || { log "row7 (c): the agent did not start"; agent_stop; continue; }
				pid=$PID_agent addr=$GW port=$GW_PORT
			else
				row7_haproxy_start 1 2 3 || { log "row7 (c): HAProxy did not start"; stop haproxy; continue; }
				pid=$PID_haproxy addr=198.18.0.1 port=$HAPROXY_PORT
			fi
			if l7_ready "$cfg" "$body"; then
				fgwait ip netns exec "$NS_C" taskset -c "$CPU_GEN" python3 "$PROBE" conns --addr "$addr" --port "$port" \
					--n "$IDLE_CONNS" --pid "$pid" --host-header "$GW_HOST" --model "$MODEL" >"$B_LOG/c.json" 2>>"$B_LOG/c.err"
				j=$(cat "$B_LOG/c.json")
				log "row7 (c) round $r $cfg: $j"
				if [ -n "$j" ]; then
					C_BASE[$cfg]+="$(jq '.rss0_kb' <<<"$j") "
					C_IDLE[$cfg]+="$(jq '(.rss1_kb - .rss0_kb) * 1024 / .connected | floor' <<<"$j") "
					C_REQ[$cfg]+="$(jq '(.rss2_kb - .rss0_kb) * 1024 / .connected | floor' <<<"$j") "
					C_AFTER[$cfg]+="$(jq '.rss3_kb - .rss0_kb' <<<"$j") "
					C_OK[$cfg]+="$(jq '.responses_200' <<<"$j") "
					C_CONN[$cfg]+="$(jq '.fds1 - .fds0' <<<"$j") "
				fi
			else
				log "row7 (c): $cfg does not answer"
			fi
			[ "$cfg" = inferlb ] && agent_stop || stop haproxy
		done
	done
}

# ---------------------------------------------------------------- (d) initial sync of 10,000 pods

# The kernel's capacities, as include/inferlb.h sets them.
ilb_limit() { awk -v n="$1" '$1 == "#define" && $2 == n { print $3; exit }' "$B_ROOT/include/inferlb.h"; }
MAX_BACKENDS=$(ilb_limit ILB_MAX_BACKENDS)
MAX_POOL_BACKENDS=$(ilb_limit ILB_MAX_POOL_BACKENDS)
MAX_POOLS=$(ilb_limit ILB_MAX_POOLS)
# Pods per pool: as many as the backend ids allow (ids 1 .. MAX_BACKENDS-1, shared by every
# pool), at most MAX_POOL_BACKENDS, and no more than the pods there are.
if [ -z "${SYNC_POOL_PODS:-}" ]; then
	SYNC_POOL_PODS=$(((MAX_BACKENDS - 1) / SYNC_POOLS))
	[ "$SYNC_POOL_PODS" -gt "$MAX_POOL_BACKENDS" ] && SYNC_POOL_PODS=$MAX_POOL_BACKENDS
	[ $((SYNC_POOL_PODS * SYNC_POOLS)) -gt "$SYNC_PODS" ] && SYNC_POOL_PODS=$((SYNC_PODS / SYNC_POOLS))
fi
SYNC_BACKENDS=$((SYNC_POOLS * SYNC_POOL_PODS))
NS_D=${B_PREFIX}d
# Pod i (0-based) has 198.18.(128 + i/250).(i%250 + 1): 198.18.128.0/17, routed from the node
# through 198.19.201.2 (NS_D), whose loopback holds the pool pods' addresses.
SYNC_ADDR_AWK='function ip(i) { return sprintf("198.18.%d.%d", 128 + int(i / 250), i % 250 + 1) }'

sync_pods_up() {
	metrics_pods_up nginxsync "$NS_D" sync0 198.19.201 198.18.128.0/17 \
		"$(awk "$SYNC_ADDR_AWK"' BEGIN { print ip('"$((SYNC_BACKENDS - 1))"') }')" 10000 8192 \
		< <(awk -v n="$SYNC_BACKENDS" "$SYNC_ADDR_AWK"' BEGIN { for (i = 0; i < n; i++) printf "addr add %s/32 dev lo\n", ip(i) }')
}

# sync_manifests DIR PODS: SYNC_POOLS InferencePools sync1.. (selector app: syncK, port 8000)
# and PODS Ready Pods shaped as the API server lists them (labels, owner, a container with
# its port, node, conditions, container status): the first SYNC_BACKENDS in the pools, the
# rest labelled for no pool.
sync_manifests() {
	local dir=$1 n=$2 k
	mkdir -p "$dir"
	rm -f "$dir"/*.yaml
	for k in $(seq 1 "$SYNC_POOLS"); do
		echo ---
		pool_yaml "sync$k"
	done >"$dir/pools.yaml"
	[ "$n" -gt 0 ] || return 0
	awk -v n="$n" -v per="$SYNC_POOL_PODS" -v inpools="$SYNC_BACKENDS" "$SYNC_ADDR_AWK"' BEGIN {
		for (i = 0; i < n; i++) {
			if (i < inpools) { app = "sync" (int(i / per) + 1); name = sprintf("%s-%04d", app, i % per); img = "vllm/vllm-openai:v0.6.3" }
			else { app = "batch" (i % 20); name = sprintf("batch-%05d", i); img = "registry.example/batch:1.4" }
			hash = sprintf("%06x", (i * 40503 + 12345) % 16777216)
			printf "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: %s\n  namespace: default\n", name
			printf "  uid: 6f1c%04x-0d2e-4b7a-9c3d-%012d\n  resourceVersion: \"%d\"\n", i % 65536, i, 5000 + i
			printf "  creationTimestamp: \"2025-01-01T00:00:00Z\"\n  generateName: %s-%s-\n", app, hash
			printf "  labels:\n    app: %s\n    pod-template-hash: \"%s\"\n", app, hash
			printf "  ownerReferences:\n  - apiVersion: apps/v1\n    kind: ReplicaSet\n    name: %s-%s\n", app, hash
			printf "    uid: 1b2c3d4e-0000-4000-8000-%012d\n    controller: true\n    blockOwnerDeletion: true\n", i
			printf "spec:\n  nodeName: node-%03d\n  containers:\n  - name: server\n    image: %s\n", i % 500, img
			printf "    ports:\n    - containerPort: 8000\n      name: http\n      protocol: TCP\n"
			printf "    resources:\n      requests:\n        cpu: \"4\"\n        memory: 16Gi\n"
			printf "  restartPolicy: Always\n  serviceAccountName: default\n"
			printf "status:\n  phase: Running\n  hostIP: 10.0.%d.%d\n  podIP: %s\n  podIPs:\n  - ip: %s\n", int(i / 500) % 250, i % 250 + 1, ip(i), ip(i)
			printf "  startTime: \"2025-01-01T00:00:01Z\"\n  conditions:\n"
			printf "  - type: Initialized\n    status: \"True\"\n  - type: Ready\n    status: \"True\"\n"
			printf "  - type: ContainersReady\n    status: \"True\"\n  - type: PodScheduled\n    status: \"True\"\n"
			printf "  containerStatuses:\n  - name: server\n    ready: true\n    started: true\n    restartCount: 0\n"
			printf "    image: %s\n    containerID: containerd://%s%058d\n", img, hash, i
			printf "    state:\n      running:\n        startedAt: \"2025-01-01T00:00:02Z\"\n"
		}
	}' >"$dir/pods.yaml.tmp" && mv "$dir/pods.yaml.tmp" "$dir/pods.yaml"
}

# sync_fas_start DIR: fake-apiserver (as in (a)) loaded from DIR.
sync_fas_start() {
	local t0=$SECONDS
	bg fas taskset -c "$CPU_GEN" nsenter --net="/run/netns/$NS_N" "$BUILD/fake-apiserver" --port "$API_PORT" --admin-port "$ADMIN_PORT" \
		--tls-cert-file "$B_LOG/certs/server.crt" --tls-private-key-file "$B_LOG/certs/server.key" \
		--token-auth-file "$B_LOG/certs/tokens.csv" --load "$1"
	wait_for 120 nn curl -sf "http://127.0.0.1:$ADMIN_PORT/admin/healthz" ||
		{ log "row7 (d): fake-apiserver did not start: $(tail -3 "$B_LOG/fas.log")"; stop fas; return 1; }
	log "row7 (d): fake-apiserver loaded $1 in $((SECONDS - t0)) s: $(nn curl -sf "http://127.0.0.1:$ADMIN_PORT/admin/stats" | jq -c '.objects // .' 2>/dev/null | head -c 300)"
}

# D_RES[key.field]: the runs' figures; key ref (pools, no pods) or pods.
declare -A D_RES
D_FIELDS="socket_s synced_s kernel_s sync_s rss_synced_kb rss_sync_kb rss_settled_kb hwm_kb cpu_settle_pct kernel_ready kernel_distinct_addrs kernel_backends_in_use scraped_once scraped_fresh"
D_PROBLEMS=0
D_CLI=""
d_run() { # d_run KEY EXPECT RUN: a fresh agent against the running fake-apiserver
	local key=$1 expect=$2 run=$3 out=$B_LOG/d.$1.$3.json t0 f v j cli_pools cli_pods
	rm -rf "$PIN_DIR"
	rm -f "$SOCK"
	t0=$(date +%s.%N)
	bg agent taskset -c "$CPU_SUT" nsenter --net="/run/netns/$NS_N" "$BUILD/inferlb-agent" \
		--kubeconfig "$B_LOG/certs/kubeconfig" --iface uplink --pin-dir "$PIN_DIR" --socket "$SOCK" \
		--metrics-addr off --keep --max-body 1000000 $AGENT_ARGS
	fgwait taskset -c "$CPU_GEN" python3 "$PROBE" sync --t0 "$t0" --pid "$PID_agent" --socket "$SOCK" --pin-dir "$PIN_DIR" \
		--pool-prefix sync --pools "$SYNC_POOLS" --expect "$expect" --settle "$SYNC_SETTLE" --timeout 120 \
		>"$out" 2>"$B_LOG/d.$key.$run.err"
	j=$(tail -1 "$out")
	if [ -n "$j" ] && jq -e '.sync_s != null' >/dev/null 2>&1 <<<"$j"; then
		for f in $D_FIELDS; do
			v=$(jq -r ".$f // empty" <<<"$j")
			[ -n "$v" ] && D_RES[$key.$f]+="$v "
		done
		D_PROBLEMS=$((D_PROBLEMS + $(jq '.problems | length' <<<"$j")))
		# the CLI's view, once synced: pools and ready pods; pods the source holds
		cli_pools=$(cli pools -j 2>/dev/null | jq -c '[.[] | select(.name | test("^sync[0-9]+$"))] | {pools: length, ready: (map(.ready) | add), total: (map(.total) | add)}' 2>/dev/null)
		cli_pods=$(cli status -j 2>/dev/null | jq -c '[.sources[] | {synced, pods: ([.kinds[]? | select(.name == "pods") | .objects] | add)}]' 2>/dev/null)
		[ "$key" = pods ] && D_CLI="pools -j: ${cli_pools:-?}; status -j: ${cli_pods:-?}"
		log "row7 (d) $key run $run: socket $(jget "$j" .socket_s) s, synced $(jget "$j" .synced_s) s, kernel $(jget "$j" .kernel_s) s;" \
			"VmRSS $(jget "$j" .rss_sync_kb) -> $(jget "$j" .rss_settled_kb) kB (HWM $(jget "$j" .hwm_kb)), CPU $(jget "$j" .cpu_settle_pct)%;" \
			"kernel ready $(jget "$j" .kernel_ready), backends in use $(jget "$j" .kernel_backends_in_use), scraped $(jget "$j" .scraped_fresh);" \
			"problems $(jq -c .problems <<<"$j"); pools -j $cli_pools; status -j $cli_pods"
	else
		log "row7 (d) $key run $run: no sync: ${j:-$(tail -2 "$B_LOG/d.$key.$run.err")} / agent: $(tail -2 "$B_LOG/agent.log")"
	fi
	agent_stop
	cp "$B_LOG/agent.log" "$B_LOG/agent.d.$key.$run.log" 2>/dev/null
}

D_LIST_BYTES=""
part_d() {
	local r
	if [ "$SYNC_POOLS" -ge "$MAX_POOLS" ] || [ "$SYNC_POOL_PODS" -gt "$MAX_POOL_BACKENDS" ] || [ "$SYNC_BACKENDS" -ge "$MAX_BACKENDS" ]; then
		log "row7 (d): $SYNC_POOLS pools of $SYNC_POOL_PODS pods exceed the kernel's limits ($((MAX_POOLS - 1)) pools, $MAX_POOL_BACKENDS per pool, $((MAX_BACKENDS - 1)) backends)"
		return 1
	fi
	sync_pods_up || { log "row7 (d): the pool pods did not come up"; return 1; }
	sync_manifests "$B_LOG/sync0" 0
	sync_manifests "$B_LOG/sync" "$SYNC_PODS"
	log "row7 (d): $SYNC_PODS pods ($SYNC_BACKENDS in $SYNC_POOLS pools of $SYNC_POOL_PODS), $(wc -c <"$B_LOG/sync/pods.yaml") bytes of YAML"
	# reference: the same pools, no pods
	if sync_fas_start "$B_LOG/sync0"; then
		for r in $(seq 1 "$SYNC_RUNS"); do d_run ref 0 "$r"; done
		stop fas
	fi
	if sync_fas_start "$B_LOG/sync"; then
		# what a full list weighs on the wire (JSON, one page)
		D_LIST_BYTES=$(nn curl -sf --cacert "$B_LOG/certs/ca.crt" -H "Authorization: Bearer $(cat "$B_LOG/certs/token")" \
			"https://127.0.0.1:$API_PORT/api/v1/pods" | wc -c)
		for r in $(seq 1 "$SYNC_RUNS"); do d_run pods "$SYNC_POOL_PODS" "$r"; done
		stop fas
	fi
	stop nginxsync
}

# ---------------------------------------------------------------- run

if [[ " $PARTS " == *" a "* || " $PARTS " == *" d "* ]]; then
	"$B_ROOT/tools/fake-apiserver/gen-certs.sh" "$B_LOG/certs" "https://127.0.0.1:$API_PORT" >/dev/null 2>&1 ||
		log "row7: fake-apiserver's gen-certs.sh failed"
fi
if [[ " $PARTS " == *" a "* ]]; then
	mkdir -p "$B_LOG/kube"
	pool_only_manifest "$B_LOG/kube/pool.yaml"
	gateway_manifest "$B_LOG/kube/gateway.yaml"
	extra_pools "$B_LOG/kube"
	part_a
fi
[[ " $PARTS " == *" b "* ]] && part_b
[[ " $PARTS " == *" c "* ]] && part_c
[[ " $PARTS " == *" d "* ]] && part_d

# ---------------------------------------------------------------- results

med() { stat3 ${1:-} | cut -d' ' -f1; }
a_json='{}'
for mode in manifests kube cold; do
	for m in noticed kernel l4 l7 routable down; do
		[ -z "${A_P99[$mode.$m]:-}" ] && continue
		a_json=$(jq -c --arg k "$mode" --arg m "$m" --argjson p50 "$(point_json ${A_P50[$mode.$m]})" \
			--argjson p99 "$(point_json ${A_P99[$mode.$m]})" --arg a50 "$(pct 50 ${A_ALL[$mode.$m]})" \
			--arg a99 "$(pct 99 ${A_ALL[$mode.$m]})" --argjson n "$(echo ${A_ALL[$mode.$m]} | wc -w)" \
			--argjson tmo "${A_TMO[$mode.$m]:-0}" \
			'.[$k][$m] = {p50_ms: $p50, p99_ms: $p99, all_samples: {n: $n, p50_ms: ($a50 | tonumber? // null),
			  p99_ms: ($a99 | tonumber? // null)}, timeouts: $tmo}' <<<"$a_json")
	done
	[ -n "${A_L7ERR[$mode]:-}" ] && a_json=$(jq -c --arg k "$mode" --argjson e "${A_L7ERR[$mode]}" '.[$k].l7_probe_errors = $e' <<<"$a_json")
done
# the goal: the slowest of kernel, L4 and L7 per sample, p99 (median of the runs) in each source
a99m=$(med "${A_P99[manifests.routable]:-}")
a99k=$(med "${A_P99[kube.routable]:-}")
met_a=$(awk -v a="${a99m:-}" -v b="${a99k:-}" -v g=$GOAL_MS 'BEGIN { print (a != "" && b != "" && a <= g && b <= g) ? "true" : "false" }')

b_cpu_s=$(med "${B_CPU[scrape]:-}")
b_cpu_i=$(med "${B_CPU[idle]:-}")
b_rss_s=$(med "${B_RSS[scrape]:-}")
b_rss_i=$(med "${B_RSS[idle]:-}")
b_rate=$(med "$B_SCRAPES_S")
b_us_per=$(awk -v c="$b_cpu_s" -v i="$b_cpu_i" -v r="$b_rate" 'BEGIN { if (c == "" || r == "" || r == 0) print "null"; else printf "%.2f", (c - i) / 100 * 1e6 / r }')

c_json='{}'
for cfg in inferlb haproxy; do
	[ -z "${C_IDLE[$cfg]:-}" ] && continue
	c_json=$(jq -c --arg k "$cfg" --argjson base "$(point_json ${C_BASE[$cfg]})" --argjson idle "$(point_json ${C_IDLE[$cfg]})" \
		--argjson req "$(point_json ${C_REQ[$cfg]})" --argjson after "$(point_json ${C_AFTER[$cfg]})" \
		--argjson ok "$(point_json ${C_OK[$cfg]})" --argjson conn "$(point_json ${C_CONN[$cfg]})" \
		'.[$k] = {rss_before_kb: $base, bytes_per_idle_conn: $idle, bytes_per_conn_after_one_request: $req,
		  rss_growth_after_close_kb: $after, responses_200: $ok, fds_opened: $conn}' <<<"$c_json")
done
c_i=$(med "${C_IDLE[inferlb]:-}")
c_h=$(med "${C_IDLE[haproxy]:-}")
c_ri=$(med "${C_REQ[inferlb]:-}")
c_rh=$(med "${C_REQ[haproxy]:-}")

d_json='{}'
for key in ref pods; do
	for f in $D_FIELDS; do
		[ -z "${D_RES[$key.$f]:-}" ] && continue
		d_json=$(jq -c --arg k "$key" --arg f "$f" --argjson p "$(point_json ${D_RES[$key.$f]})" '.[$k][$f] = $p' <<<"$d_json")
	done
done
d_json=$(jq -c --argjson pods "$SYNC_PODS" --argjson pools "$SYNC_POOLS" --argjson per "$SYNC_POOL_PODS" \
	--argjson runs "$SYNC_RUNS" --argjson settle "$SYNC_SETTLE" --arg bytes "$D_LIST_BYTES" --argjson problems "$D_PROBLEMS" \
	--arg cli "$D_CLI" --argjson maxb "$MAX_BACKENDS" --argjson maxpb "$MAX_POOL_BACKENDS" \
	'. + {pods: $pods, pools: $pools, pods_per_pool: $per, pool_pods: ($pools * $per), other_pods: ($pods - $pools * $per),
	  limits: {max_backend_ids: ($maxb - 1), max_pool_backends: $maxpb}, runs: $runs, settle_s: $settle,
	  list_json_bytes: ($bytes | tonumber? // null), kernel_check_problems: $problems, cli_check: $cli}' <<<"$d_json")
read -r d_sync d_sync_lo d_sync_hi <<<"$(stat3 ${D_RES[pods.sync_s]:-})"
# kB -> MB (2^20 bytes), one decimal
kb2mb() { local v; for v in "$@"; do awk -v v="$v" 'BEGIN { printf "%.1f ", v / 1024 }'; done; }
read -r d_rss d_rss_lo d_rss_hi <<<"$(stat3 $(kb2mb ${D_RES[pods.rss_settled_kb]:-}))"
d_rss0=$(med "$(kb2mb ${D_RES[pods.rss_sync_kb]:-})")
d_int() { # V: a whole number for the tables, thousands grouped
	local x
	x=$(printf '%.0f' "$1")
	if [ "$x" -ge 1000 ]; then fmt "$x"; else echo "$x"; fi
}
d_cell() { # KEY FIELD [mb|int]: "median (min–max)" of the runs
	local v=${D_RES[$1.$2]:-} m lo hi
	[ -z "$v" ] && { echo "–"; return; }
	[ "${3:-}" = mb ] && v=$(kb2mb $v)
	if [ "${3:-}" = int ]; then
		read -r m lo hi <<<"$(stat3 $v)"
		echo "$(d_int "$m") ($(d_int "$lo")–$(d_int "$hi"))"
		return
	fi
	fmt3 "$(stat3 $v)"
}
d_scraped=$(med "${D_RES[pods.scraped_once]:-}")

a_cell() { # MODE METRIC: "p50 / p99" medians of the runs, with the p99 range
	local p50 p99
	[ -z "${A_P99[$1.$2]:-}" ] && { echo "–"; return; }
	p50=$(med "${A_P50[$1.$2]}")
	read -r p99 lo hi <<<"$(stat3 ${A_P99[$1.$2]})"
	echo "$(fmt "$p50") / $(fmt "$p99") ($(fmt "$lo")–$(fmt "$hi"))"
}
{
	echo "### 7. Control plane"
	echo
	echo "Agent (and HAProxy) on CPU $CPU_SUT; pods, fake-apiserver, the probes and clients on CPU $CPU_GEN."
	echo
	echo "**(a) Pod Ready → routable.** Pool qwen (L4 VIP $VIP:80 and the seed's L7 gateway) with one pod that flips NotReady → Ready,"
	echo "next to $EXTRA_POOLS other pools of two ready pods each (a node serving several models: every membership change reconciles each pool);"
	echo "$SAMPLES samples per run, $ROUNDS run(s) per source; the pool has no other ready pod, so the first SYN / request that gets through"
	echo "proves the pod routable. Timed from the change (the YAML renamed into place; the POST to fake-apiserver's admin endpoint) to:"
	echo "*noticed* — an independent watcher sees the change (inotify on the directory; a watch stream of its own on the API server), the floor;"
	echo "*kernel* — the pod in the pool's active set in the pinned maps (bpf(2) lookups every ~0.3 ms); *L4* — a fresh SYN to the VIP"
	echo "answered (one every 1 ms); *L7* — a request through the gateway answered 200 (1 ms apart); *routable* — the slowest of the three."
	echo "p50 / p99 ms (nearest rank), median of the runs (p99 min–max); a sample that never got there counts as 3,000 ms."
	echo
	echo "| source | noticed (floor) | kernel | L4 SYN | L7 request | routable | NotReady → out of the kernel |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	for mode in manifests kube cold; do
		[ "$mode" = cold ] && [ -z "${A_P99[cold.kernel]:-}" ] && continue
		case $mode in
		kube) name="Kubernetes (fake-apiserver watch)" ;;
		manifests) name="manifests directory (inotify)" ;;
		cold) name="manifests, the pod's address not yet in the node's neighbour table ($COLD_SAMPLES samples, 1 run)" ;;
		esac
		echo "| $name | $(a_cell "$mode" noticed) | $(a_cell "$mode" kernel) | $(a_cell "$mode" l4) | $(a_cell "$mode" l7) | **$(a_cell "$mode" routable)** | $(a_cell "$mode" down) |"
	done
	echo
	echo "Goal p99 routable ≤ $GOAL_MS ms: manifests $(fmt "$a99m") ms, Kubernetes $(fmt "$a99k") ms — **$([ "$met_a" = true ] && echo met || echo "not met")**."
	echo "Timeouts (samples past 3 s): manifests ${A_TMO[manifests.routable]:-0}, Kubernetes ${A_TMO[kube.routable]:-0}; L7 probe connections reset or closed without an answer:"
	echo "manifests ${A_L7ERR[manifests]:-0}, Kubernetes ${A_L7ERR[kube]:-0} (the probe connects again; each sample's reasons are in its JSON line). The goal is judged on the first two rows;"
	echo "the last row (its neighbour entry deleted before each Ready: the L4 lane needs the pod's MAC, the L7 lane does not) is shown apart."
	echo "No peer measured: the Kubernetes path users run today (EndpointSlice controller → kube-proxy) needs a kube-apiserver, which cannot run here; the floor column is the same change's delivery alone."
	echo
	echo "**(b) Scraping $SCRAPE_PODS pods every 50 ms.** One nginx serving an idle vLLM /metrics page on $SCRAPE_PODS addresses; agent with the exporter on,"
	echo "L4 and L7 lanes attached. CPU from /proc/PID/stat over ${SCRAPE_DUR} s (idle reference: the same agent with the pool empty, ${IDLE_DUR} s), VmRSS at the end; $ROUNDS round(s), median (min–max)."
	echo
	echo "| agent | CPU % of a core | VmRSS kB |"
	echo "| --- | --- | --- |"
	echo "| pool empty (reference) | $(fmt3 "$(stat3 ${B_CPU[idle]:-})") | $(fmt3 "$(stat3 ${B_RSS[idle]:-})") |"
	echo "| $SCRAPE_PODS pods at 50 ms | $(fmt3 "$(stat3 ${B_CPU[scrape]:-})") | $(fmt3 "$(stat3 ${B_RSS[scrape]:-})") |"
	echo
	echo "Scrapes the pods served: $(fmt3 "$(stat3 $B_SCRAPES_S)")/s (expected $((SCRAPE_PODS * 20))/s); agent CPU per scrape $(fmt "$b_us_per") µs (over the idle reference)."
	echo "The agent's view (\`inferlb backends\`, read 5 times per round): pods with metrics younger than 200 ms $(fmt3 "$(stat3 $B_FRESH)") of $SCRAPE_PODS; oldest $(fmt3 "$(stat3 $B_AGEMAX)") ms."
	echo "No peer measured: GIE's endpoint picker is not packaged in Debian; the reference row is the agent itself without pods."
	echo
	echo "**(c) $(fmt "$IDLE_CONNS") idle L7 connections.** A Python client in the client namespace opens them (256 connects in flight), waits until the"
	echo "process under test holds them, reads VmRSS; then sends one chat completion on each and reads the answer, the connections staying open;"
	echo "VmRSS again. HAProxy 2.6 configured as in rows 3–4 except maxconn $((IDLE_CONNS + 1000)) (row 3's 9,000 cannot hold them) and \`no strict-limits\` (open files: $FD_LIMIT). Bytes per connection"
	echo "= VmRSS growth / connections; kernel socket memory is not in VmRSS. $ROUNDS round(s), each on a fresh process, median (min–max)."
	echo
	echo "| proxy | VmRSS before kB | bytes / idle conn (no request) | bytes / conn after one request | VmRSS left after close kB | 200 answers |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for cfg in inferlb haproxy; do
		name=$([ "$cfg" = inferlb ] && echo "inferlb gateway" || echo "HAProxy 2.6")
		echo "| $name | $(fmt3 "$(stat3 ${C_BASE[$cfg]:-})") | $(fmt3 "$(stat3 ${C_IDLE[$cfg]:-})") | $(fmt3 "$(stat3 ${C_REQ[$cfg]:-})") | $(fmt3 "$(stat3 ${C_AFTER[$cfg]:-})") | $(fmt "$(med "${C_OK[$cfg]:-}")") |"
	done
	echo
	echo "Ratios: gateway / HAProxy bytes per idle connection $(fmt "$(ratio "$c_i" "$c_h")")×, after one request $(fmt "$(ratio "$c_ri" "$c_rh")")×."
	echo
	if [[ " $PARTS " == *" d "* ]]; then
		echo "**(d) Initial sync of $(fmt "$SYNC_PODS") pods.** fake-apiserver (HTTPS, as in (a)) holds $(fmt "$SYNC_PODS") Ready Pods (a Deployment's pod as listed:"
		echo "labels, owner, one container with its port and requests, node, four conditions, container status; $(awk -v b="${D_LIST_BYTES:-0}" 'BEGIN { printf "%.1f", b / 1048576 }') MB of JSON as one list, which the agent reads in pages of 500)"
		echo "and $SYNC_POOLS InferencePools. The kernel routes to at most $(fmt $((MAX_BACKENDS - 1))) backends across all pools (ILB_MAX_BACKENDS, id 0 unused) and $MAX_POOL_BACKENDS per pool"
		echo "(ILB_MAX_POOL_BACKENDS, include/inferlb.h), so each pool selects $SYNC_POOL_PODS pods — **$(fmt "$SYNC_BACKENDS") backends** — and the other $(fmt $((SYNC_PODS - SYNC_BACKENDS))) pods match no pool:"
		echo "the agent lists, decodes and stores all $(fmt "$SYNC_PODS") and matches each against every pool's selector, and the kernel gets $(fmt "$SYNC_BACKENDS")."
		echo "The pool pods' addresses sit on one namespace's loopback behind a gateway on the node (one neighbour entry) and one nginx (CPU $CPU_GEN) answers their /metrics,"
		echo "so once synced the agent scrapes $(fmt "$SYNC_BACKENDS") pods at its default 50 ms, as it would real ones. Each run starts a fresh agent (new process, empty pin dir;"
		echo "Kubernetes source, L4 and L7 lanes, as in (a)) and times from the command that starts it to: the control socket answering; *synced* — \`status\`"
		echo "(what \`inferlb status -j\` asks) reporting every source synced (polled every 10 ms); *kernel* — every pool's active ready set in the pinned \`pools\` map"
		echo "at $SYNC_POOL_PODS (bpf(2), every 2 ms); **sync** — the later of the two. VmRSS from /proc/PID/status when the sources report synced (the list held"
		echo "by the Kubernetes source, not yet reconciled), at sync, and $SYNC_SETTLE s later (the agent scraping its pods; its CPU over those seconds in % of a core);"
		echo "VmHWM is the peak. The maps' kernel memory is not in VmRSS. Reference: the same pools, no pods."
		echo "$SYNC_RUNS run(s) each, median (min–max); MB = 2^20 bytes."
		echo
		echo "| agent | control socket s | sources synced s | kernel sets complete s | **sync s** | VmRSS at sources synced MB | VmRSS at sync MB | **VmRSS ${SYNC_SETTLE} s later MB** | VmHWM MB | CPU after sync, % of a core |"
		echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
		for key in ref pods; do
			[ "$key" = ref ] && name="$SYNC_POOLS pools, no pods (reference)" || name="$(fmt "$SYNC_PODS") pods, $(fmt "$SYNC_BACKENDS") of them in $SYNC_POOLS pools"
			echo "| $name | $(d_cell $key socket_s) | $(d_cell $key synced_s) | $(d_cell $key kernel_s) | **$(d_cell $key sync_s)** | $(d_cell $key rss_synced_kb mb) | $(d_cell $key rss_sync_kb mb) |" \
				"**$(d_cell $key rss_settled_kb mb)** | $(d_cell $key hwm_kb mb) | $(d_cell $key cpu_settle_pct) |"
		done
		echo
		echo "Read back from the kernel after each sync: ready backends in the pools' active sets $(d_cell pods kernel_ready int), distinct addresses $(d_cell pods kernel_distinct_addrs int),"
		echo "\`backends\` entries in use $(d_cell pods kernel_backends_in_use int); problems found (an id twice, not ready, wrong pool, a short set): $D_PROBLEMS."
		echo "The CLI after the last run: ${D_CLI:-–}. At the end of the wait the agent (\`backends\`) had scraped $(d_cell pods scraped_once int) of its $(fmt "$SYNC_BACKENDS") pods"
		echo "at least once, $(d_cell pods scraped_fresh int) within the last second."
		if awk -v s="$d_scraped" -v n="$SYNC_BACKENDS" 'BEGIN { exit !(s != "null" && s < n / 2) }'; then
			echo "The scraper did not keep up with $(fmt "$SYNC_BACKENDS") pods at 50 ms here (see the CPU column); the sync figures do not wait for scrapes"
			echo "(a pod enters the kernel's ready set from its Ready condition and a resolved next hop), but the scraping starts in the same tick and shares the agent's core."
		fi
		echo "No peer measured: GIE's endpoint picker and kube-proxy need a kube-apiserver and a cluster, which cannot run here."
		echo
	fi
} >"$BENCH_RESULTS/row7.md"

row_write --argjson a "$a_json" --argjson c "$c_json" --argjson d "$d_json" --argjson meta "$met_a" \
	--arg dsync "$d_sync" --arg dsynclo "$d_sync_lo" --arg dsynchi "$d_sync_hi" --arg drss "$d_rss" --arg drsslo "$d_rss_lo" \
	--arg drsshi "$d_rss_hi" --arg drss0 "$d_rss0" --argjson dpods "$SYNC_PODS" --arg dpodsf "$(fmt "$SYNC_PODS")" --argjson dback "$SYNC_BACKENDS" \
	--arg a99m "$a99m" --arg a99k "$a99k" --arg a50m "$(med "${A_P50[manifests.routable]:-}")" \
	--arg a50k "$(med "${A_P50[kube.routable]:-}")" --arg f99k "$(med "${A_P99[kube.noticed]:-}")" --argjson samples "$SAMPLES" --argjson rounds "$ROUNDS" \
	--argjson bcpu "$(point_json ${B_CPU[scrape]:-})" --argjson bcpui "$(point_json ${B_CPU[idle]:-})" \
	--argjson brss "$(point_json ${B_RSS[scrape]:-})" --argjson brssi "$(point_json ${B_RSS[idle]:-})" \
	--argjson brate "$(point_json $B_SCRAPES_S)" --argjson bfresh "$(point_json $B_FRESH)" --argjson bage "$(point_json $B_AGEMAX)" \
	--arg bus "$b_us_per" --argjson npods "$SCRAPE_PODS" --argjson nconns "$IDLE_CONNS" \
	--arg ci "$c_i" --arg ch "$c_h" --arg cri "$c_ri" --arg crh "$c_rh" --arg rc "$(ratio "$c_i" "$c_h")" --arg rcr "$(ratio "$c_ri" "$c_rh")" \
	--arg bc "$b_cpu_s" --arg br "$b_rss_s" \
	'{row: "row7", title: "Control plane", status: "measured",
	  config: {samples_per_run: $samples, rounds: $rounds, scrape_pods: $npods, idle_connections: $nconns},
	  ready_to_routable: $a,
	  scrape: {pods: $npods, interval_ms: 50, cpu_pct: $bcpu, rss_kb: $brss, idle_cpu_pct: $bcpui, idle_rss_kb: $brssi,
	    pod_scrapes_per_s: $brate, expected_scrapes_per_s: ($npods * 20), fresh_pods: $bfresh, oldest_metrics_ms: $bage,
	    cpu_us_per_scrape: ($bus | tonumber? // null)},
	  idle_connections: $c,
	  initial_sync: $d,
	  plot: {ylabel: "VmRSS bytes per L7 connection (median, min–max)",
	    bars: [["inferlb", "idle"], ["haproxy", "idle"], ["inferlb", "1 request"], ["haproxy", "1 request"]]
	      | map(. as [$k, $w] | ($c[$k] // {}) | (if $w == "idle" then .bytes_per_idle_conn else .bytes_per_conn_after_one_request end) as $p
	        | select($p != null)
	        | {label: "\(if $k == "inferlb" then "gateway" else "HAProxy" end), \($w)", median: $p.median, min: $p.min, max: $p.max})},
	  summary: [
	   {metric: "pod Ready → routable p99 ms (Kubernetes source; manifests source)", inferlb: ($a99k | tonumber? // null),
	    inferlb_manifests: ($a99m | tonumber? // null), p50_ms: ($a50k | tonumber? // null),
	    p50_ms_manifests: ($a50m | tonumber? // null), floor_p99_ms: ($f99k | tonumber? // null),
	    peer: null, goal: "≤ 100 ms", met: $meta},
	   {metric: "agent CPU, % of a core, scraping \($npods) pods every 50 ms", inferlb: ($bc | tonumber? // null),
	    peer: null, goal: "–", met: null},
	   {metric: "agent VmRSS kB scraping \($npods) pods every 50 ms", inferlb: ($br | tonumber? // null),
	    peer: null, goal: "–", met: null},
	   {metric: "VmRSS bytes per idle L7 connection (\($nconns), no request yet), gateway / HAProxy", inferlb: ($ci | tonumber? // null),
	    peer: ($ch | tonumber? // null), ratio: ($rc | tonumber? // null), goal: "–", met: null},
	   {metric: "VmRSS bytes per kept-alive L7 connection after one request, gateway / HAProxy", inferlb: ($cri | tonumber? // null),
	    peer: ($crh | tonumber? // null), ratio: ($rcr | tonumber? // null), goal: "–", met: null},
	   {metric: "initial sync of \($dpodsf) pods, s", inferlb: ($dsync | tonumber? // null),
	    min: ($dsynclo | tonumber? // null), max: ($dsynchi | tonumber? // null), pods_in_pools: $dback,
	    peer: null, ratio: null, goal: "–", met: null},
	   {metric: "agent VmRSS after syncing \($dpodsf) pods, MB", inferlb: ($drss | tonumber? // null),
	    min: ($drsslo | tonumber? // null), max: ($drsshi | tonumber? // null), at_sync: ($drss0 | tonumber? // null),
	    pods_in_pools: $dback,
	    peer: null, ratio: null, goal: "–", met: null}]}'
