# control_common.sh - sourced by row 7's scripts (the control plane, one script per
# measurement: row7a_ready.sh, row7b_scrape.sh, row7c_idle_conns.sh, row7d_sync.sh) after
# lib.sh and l7_common.sh: their settings, the probe (build/row7-probe, tools/bench/probe/),
# fake-apiserver, a namespace of pods that only serve /metrics, and the row's results.
#
# Each script leaves its part in $BENCH_RESULTS/row7_X.part (JSON: the row's field it fills,
# its config, its summary lines) and row7_X.md, then rebuilds row7.json and row7.md from the
# parts there are; run.sh runs the four as row 7. A script run alone replaces its own part.
# BENCH_QUICK=1: one run of each, fewer samples. ROUNDS, PARTS ("a b c d": the scripts that
# measure; the others leave the row as it is) and AGENT_ARGS (more agent flags, -v, for
# looking into a run) apply to every part; each script names its own.

CONTROL_TITLE="Control plane"
ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 1 || echo 3)}
PARTS=${PARTS:-a b c d}
AGENT_ARGS=${AGENT_ARGS:-}
PROBE=$BUILD/row7-probe
API_PORT=16443
ADMIN_PORT=16444

# control_init PART: the row's prefix and logs, and whether PART is to be measured (returns 1
# when PARTS leaves it out).
control_init() {
	PART=$1
	[[ " $PARTS " == *" $PART "* ]] || return 1
	b_init row7
	# 10,000 connections in (c), thousands of scraped pods in (d): each an fd in a client, a
	# proxy or the agent. Without CAP_SYS_RESOURCE the hard limit cannot be raised.
	ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
	FD_LIMIT=$(ulimit -n)
	return 0
}

# part_not_measured REASON: this part's line in the row says why, and the script ends.
part_not_measured() {
	jq -n --arg reason "$1" '{status: "not measured", reason: $reason}' >"$BENCH_RESULTS/row7_$PART.part"
	rm -f "$BENCH_RESULTS/row7_$PART.md"
	control_results
	exit 0
}

# control_need BIN...: the part is not measured when one of the binaries was not built.
control_need() {
	local bin
	for bin in "$@"; do
		[ -x "$BUILD/$bin" ] || part_not_measured "missing $BUILD/$bin (make all)"
	done
}

# part_write FIELD MD JQ-ARGS...: this part's field of the row (jq -n JQ-ARGS gives
# {value, config, summary, plot?}) and its section of row7.md (the file MD); then the row.
part_write() {
	local field=$1 md=$2
	shift 2
	jq -n "$@" | jq --arg field "$field" '{status: "measured", field: $field} + .' >"$BENCH_RESULTS/row7_$PART.part"
	mv "$md" "$BENCH_RESULTS/row7_$PART.md"
	control_results
}

# control_results: row7.json and row7.md from the parts there are, in a b c d order.
control_results() {
	local parts=() p
	for p in a b c d; do [ -s "$BENCH_RESULTS/row7_$p.part" ] && parts+=("$BENCH_RESULTS/row7_$p.part"); done
	[ ${#parts[@]} -gt 0 ] || return 0
	jq -s --arg title "$CONTROL_TITLE" '
		map(select(.status == "measured")) as $m
		| if ($m | length) == 0 then
			{row: "row7", title: $title, status: "not measured", reason: (map(.reason) | join("; ")), summary: []}
		  else
			{row: "row7", title: $title, status: "measured", config: ($m | map(.config // {}) | add)}
			+ ($m | map({(.field): .value}) | add)
			+ ($m | map(select(.plot) | {plot}) | add // {})
			+ {summary: ($m | map(.summary) | add)}
			+ (map(select(.status != "measured") | .reason) | if length > 0 then {parts_not_measured: .} else {} end)
		  end' "${parts[@]}" >"$BENCH_RESULTS/row7.json.tmp" && mv "$BENCH_RESULTS/row7.json.tmp" "$BENCH_RESULTS/row7.json"
	{
		echo "### 7. $CONTROL_TITLE"
		echo
		echo "Agent (and HAProxy) on CPU $CPU_SUT; pods, fake-apiserver, the probes and clients on CPU $CPU_GEN."
		echo
		for p in a b c d; do
			if [ -s "$BENCH_RESULTS/row7_$p.md" ]; then
				cat "$BENCH_RESULTS/row7_$p.md"
			elif [ -s "$BENCH_RESULTS/row7_$p.part" ]; then
				jq -r --arg p "$p" '"**(\($p))** not measured: \(.reason // "?")"' "$BENCH_RESULTS/row7_$p.part"
				echo
			fi
		done
	} >"$BENCH_RESULTS/row7.md"
}

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

# kb2mb KB...: MB (2^20 bytes), one decimal
kb2mb() { local v; for v in "$@"; do awk -v v="$v" 'BEGIN { printf "%.1f ", v / 1024 }'; done; }

# ---- fake-apiserver, over HTTPS as a cluster's API server ----

# certs_make: its CA, certificate, token and a kubeconfig for the agent in $B_LOG/certs.
certs_make() {
	"$B_ROOT/tools/fake-apiserver/gen-certs.sh" "$B_LOG/certs" "https://127.0.0.1:$API_PORT" >/dev/null 2>&1 ||
		log "row7: fake-apiserver's gen-certs.sh failed"
}

# fas_start DIR SECONDS: fake-apiserver in the node namespace (bg fas), loaded from DIR,
# answering within SECONDS.
fas_start() {
	bg fas taskset -c "$CPU_GEN" nsenter --net="/run/netns/$NS_N" "$BUILD/fake-apiserver" --port "$API_PORT" --admin-port "$ADMIN_PORT" \
		--tls-cert-file "$B_LOG/certs/server.crt" --tls-private-key-file "$B_LOG/certs/server.key" \
		--token-auth-file "$B_LOG/certs/tokens.csv" --load "$1"
	wait_for "$2" nn curl -sf "http://127.0.0.1:$ADMIN_PORT/admin/healthz"
}

# kube_agent_start: the agent listing and watching fake-apiserver (bg agent), L4 and L7 lanes.
kube_agent_start() {
	bg agent taskset -c "$CPU_SUT" nsenter --net="/run/netns/$NS_N" "$BUILD/inferlb-agent" \
		--kubeconfig "$B_LOG/certs/kubeconfig" --iface uplink --pin-dir "$PIN_DIR" --socket "$SOCK" \
		--metrics-addr off --keep --max-body 1000000 $AGENT_ARGS
}

# ---- pods that only serve /metrics, for the agent to scrape ----

# metrics_pods_up NAME NS DEV NET ROUTE LAST CONNS BACKLOG [RLIMIT [STATUS]] < ADDR-COMMANDS:
# pods for the agent to scrape. Namespace NS behind the node's DEV on NET.0/24 (the node .1,
# NS .2); on its loopback the pods' addresses, one "addr add ADDR/32 dev lo" per line on
# stdin; ROUTE to them through NET.2; one nginx (bg NAME, on CPU_GEN, files in $B_LOG/NAME)
# serving an idle vLLM /metrics page on port 8000 of all of them: CONNS worker connections,
# listen backlog (and somaxconn) BACKLOG, open files RLIMIT if given, with STATUS its
# stub_status on NET.2:8001 too. Ready once the pod address LAST answers.
# (stdin from a process substitution, not a pipe: the function must run in this shell, where
# bg and netns_add record what the cleanup removes)
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
		nginx_head "$dir" "$conns" "$rlimit"
		cat <<CONF
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
