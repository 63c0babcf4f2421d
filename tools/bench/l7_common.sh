# l7_common.sh - sourced by the L7 rows after lib.sh: the seed's gateway (inferlb's L7
# lane) and the two reverse proxies users put in front of model servers today, HAProxy and
# nginx, all in the node namespace in front of the same pods, each pinned to CPU_SUT.
#
#   inferlb   http://198.18.100.200:8888  (sk_lookup to the agent; responses spliced in the kernel)
#   haproxy   http://198.18.0.1:8881      (HAProxy 2.6, one thread, roundrobin, server keep-alive)
#   nginx     http://198.18.0.1:8882      (nginx 1.22, one worker, upstream keepalive, no buffering)

# Every L7 configuration is charged its node-side kernel work on the proxy's core (lib.sh).
NODE_RPS=${NODE_RPS-1}
HAPROXY_PORT=8881
NGINX_PORT=8882
L7_CONFIGS="inferlb haproxy nginx"
# l7_rr_rounds: seconds of each throughput run and of each latency run
DUR=${DUR:-$([ -n "$QUICK" ] && echo 3 || echo 10)}
DUR_LAT=${DUR_LAT:-$([ -n "$QUICK" ] && echo 2 || echo 5)}

# l7_url CONFIG [PATH]: where a client sends its requests for CONFIG (direct: pod 1).
l7_url() {
	local p=${2:-/v1/chat/completions}
	case $1 in
	inferlb) echo "http://$GW:$GW_PORT$p" ;;
	haproxy) echo "http://198.18.0.1:$HAPROXY_PORT$p" ;;
	nginx) echo "http://198.18.0.1:$NGINX_PORT$p" ;;
	direct) echo "http://198.19.1.2:8000$p" ;;
	esac
}

# haproxy_start PODS...: plain HTTP reverse proxy, the defaults plus what any deployment sets.
# HAPROXY_MAXCONN (9000): its connection limit; HAPROXY_GLOBAL: more lines for its global
# section (a limit above the fds HAProxy can get needs "no strict-limits").
haproxy_start() {
	local i dir=$B_LOG/haproxy maxconn=${HAPROXY_MAXCONN:-9000}
	mkdir -p "$dir"
	{
		cat <<CONF
global
	nbthread 1
	maxconn $maxconn
CONF
		[ -z "${HAPROXY_GLOBAL:-}" ] || printf '\t%s\n' "$HAPROXY_GLOBAL"
		cat <<CONF
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
	balance ${HAPROXY_BALANCE:-roundrobin}
	http-reuse safe
CONF
		for i in "$@"; do echo "	server pod$i 198.19.$i.2:8000"; done
	} >"$dir/haproxy.cfg"
	bg haproxy taskset -c "$CPU_SUT" ip netns exec "$NS_N" haproxy -db -f "$dir/haproxy.cfg"
	wait_for 5 nn bash -c "exec 3<>/dev/tcp/198.18.0.1/$HAPROXY_PORT"
}

# nginx_proxy_start PODS...: nginx as a reverse proxy as the vLLM and LLM-gateway guides set
# it up for streaming (HTTP/1.1 upstream keep-alive, proxy_buffering off).
nginx_proxy_start() {
	local i dir=$B_LOG/nginxproxy
	mkdir -p "$dir"
	{
		nginx_head "$dir" 9000 19000
		cat <<CONF
	client_max_body_size 0;
	keepalive_requests 1000000;
	keepalive_timeout 300s;
	proxy_read_timeout 300s;
	upstream pods {
CONF
		for i in "$@"; do echo "		server 198.19.$i.2:8000;"; done
		cat <<CONF
		keepalive 512;
		keepalive_requests 1000000;
	}
	server {
		listen 198.18.0.1:$NGINX_PORT backlog=4096;
		location / {
			proxy_pass http://pods;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_buffering off;
			proxy_request_buffering off;
		}
	}
}
CONF
	} >"$dir/nginx.conf"
	bg nginxproxy taskset -c "$CPU_SUT" ip netns exec "$NS_N" nginx -c "$dir/nginx.conf" -e "$dir/error.log"
	wait_for 5 nn bash -c "exec 3<>/dev/tcp/198.18.0.1/$NGINX_PORT"
}

# l7_agent_start [ARGS...]: the agent with the seed's gateway in front of pool qwen.
# L7_AGENT_ARGS: more agent flags for a whole run (L7_AGENT_ARGS="--splice pipe" measures
# rows 3 and 4 on the pipe path).
l7_agent_start() {
	gateway_manifest "$MANIFESTS/gateway.yaml"
	agent_start --max-body 1000000 ${L7_AGENT_ARGS:-} "$@"
}

# sut_pids CONFIG: the processes whose CPU counts as the proxy's.
sut_pids() {
	case $1 in
	inferlb) echo "${PID_agent:-}" ;;
	haproxy) echo "${PID_haproxy:-}" ;;
	nginx) tree_pids "${PID_nginxproxy:-0}" ;;
	*) echo ;;
	esac
}

# l7_ready CONFIG BODYFILE: one request through CONFIG is answered 200.
l7_ready() {
	wait_for 15 nc curl -sf -m 2 -o /dev/null "$(l7_url "$1")" -H "Host: $GW_HOST" -H "Content-Type: application/json" \
		--data-binary "@$2"
}

# l7_rr_setup ROW TITLE BODYFILE: three nginx pods in pool qwen, the gateway, HAProxy and nginx
# in front of them, each answering BODYFILE's request; at the first that does not, the row is
# written as not measured and ends.
l7_rr_setup() {
	local row=$1 title=$2 body=$3 i cfg
	topology_up 3 || { row_not_measured "$row" "$title" "could not build the namespaces"; exit 0; }
	for i in 1 2 3; do nginx_pod_start "$i" || { row_not_measured "$row" "$title" "pod $i did not start"; exit 0; }; done
	pool_manifest qwen "" "$MANIFESTS/pool.yaml" 1 2 3
	l7_agent_start || { row_not_measured "$row" "$title" "the agent did not start: $(tail -3 "$B_LOG/agent.log")"; exit 0; }
	haproxy_start 1 2 3
	nginx_proxy_start 1 2 3
	for cfg in $L7_CONFIGS; do
		l7_ready "$cfg" "$body" || { row_not_measured "$row" "$title" "$cfg does not answer"; exit 0; }
	done
}

# cpu_begin CONFIG / cpu_end CONFIG: CPU of CONFIG's processes and of the whole machine
# over a run. cpu_end prints "proc_s softirq_s busy_s wall_s".
cpu_begin() {
	CPU0_PROC=$(proc_cpu_ticks $(sut_pids "$1"))
	read -r CPU0_SI CPU0_BUSY CPU0_ALL <<<"$(sys_ticks)"
	CPU0_T=$(date +%s.%N)
}
cpu_end() {
	local p si busy all t
	p=$(proc_cpu_ticks $(sut_pids "$1"))
	read -r si busy all <<<"$(sys_ticks)"
	t=$(date +%s.%N)
	awk -v p=$((p - CPU0_PROC)) -v si=$((si - CPU0_SI)) -v b=$((busy - CPU0_BUSY)) -v hz="$HZ" \
		-v t0="$CPU0_T" -v t1="$t" 'BEGIN { printf "%.3f %.3f %.3f %.3f\n", p / hz, si / hz, b / hz, t1 - t0 }'
}

# l7_rr_rounds BODYFILE CONNS: request/response rounds. Each round, each configuration in
# turn: a throughput run (wrk, CONNS kept-alive connections, 2 threads on CPU_GEN) with the
# CPU its processes used, then a latency run at 4 connections (1 thread). Fills the arrays
# RPS, P99, P50, LAT99, LAT50, CPUP (proc µs/request), CPUS (proc + softirq µs/request),
# CPUB (whole machine busy µs/request), ERRS, all keyed by configuration.
declare -A RPS LAT99 LAT50 CPUP CPUS CPUB ERRS ADDED
l7_rr_rounds() {
	local body=$1 conns=$2 r cfg j lj cpu rps n proc si busy wall errs i
	export WRK_BODY_FILE=$body WRK_HOST=$GW_HOST
	for r in $(seq 1 "$ROUNDS"); do
		for cfg in direct $L7_CONFIGS; do
			if [ "$cfg" = direct ]; then
				cpu_begin direct
				local wp=()
				for i in 1 2 3; do
					wrk_run "$NS_C" "$CPU_GEN" -t1 -c$((conns / 3)) -d"${DUR}s" --latency \
						"http://198.19.$i.2:8000/v1/chat/completions" >"$B_LOG/direct$i.json" &
					wp+=($!)
				done
				wait "${wp[@]}"
				cpu=$(cpu_end direct)
				j=$(jq -sc '{requests: (map(.requests) | add), rps: (map(.rps) | add),
					errors: {connect: (map(.errors.connect) | add), read: (map(.errors.read) | add),
					timeout: (map(.errors.timeout) | add), status: (map(.errors.status) | add)}}' "$B_LOG"/direct[123].json)
				lj=$(wrk_run "$NS_C" "$CPU_GEN" -t1 -c4 -d"${DUR_LAT}s" --latency "http://198.19.1.2:8000/v1/chat/completions")
			else
				cpu_begin "$cfg"
				j=$(wrk_run "$NS_C" "$CPU_GEN" -t2 -c"$conns" -d"${DUR}s" --latency "$(l7_url "$cfg")")
				cpu=$(cpu_end "$cfg")
				lj=$(wrk_run "$NS_C" "$CPU_GEN" -t1 -c4 -d"${DUR_LAT}s" --latency "$(l7_url "$cfg")")
			fi
			rps=$(jget "$j" .rps)
			n=$(jget "$j" .requests)
			read -r proc si busy wall <<<"$cpu"
			errs=$(jq -r '.errors | .connect + .read + .timeout + .status' <<<"$j" 2>/dev/null || echo 0)
			errs=$((errs + $(jq -r '.errors | .connect + .read + .timeout + .status' <<<"$lj" 2>/dev/null || echo 0)))
			ERRS[$cfg]=$((${ERRS[$cfg]:-0} + errs))
			if [ "$rps" != null ] && [ "$n" != null ] && [ "$n" -gt 0 ]; then
				RPS[$cfg]+="$rps "
				CPUP[$cfg]+="$(awk -v c="$proc" -v n="$n" 'BEGIN { printf "%.2f", c * 1e6 / n }') "
				CPUS[$cfg]+="$(awk -v c="$proc" -v s="$si" -v n="$n" 'BEGIN { printf "%.2f", (c + s) * 1e6 / n }') "
				CPUB[$cfg]+="$(awk -v c="$busy" -v n="$n" 'BEGIN { printf "%.2f", c * 1e6 / n }') "
			fi
			[ "$(jget "$lj" .lat_us.p99)" != null ] && LAT99[$cfg]+="$(jget "$lj" .lat_us.p99) " &&
				LAT50[$cfg]+="$(jget "$lj" .lat_us.p50) "
			log "$B_ROW round $r $cfg: $rps req/s (cpu proc ${proc}s softirq ${si}s busy ${busy}s over ${wall}s), 4 conns p50/p99 $(jget "$lj" .lat_us.p50)/$(jget "$lj" .lat_us.p99) us, errors $errs"
		done
		# added p99 of this round: through the proxy minus direct
		local d99
		d99=$(echo ${LAT99[direct]:-} | awk '{ print $NF }')
		for cfg in $L7_CONFIGS; do
			local c99
			c99=$(echo ${LAT99[$cfg]:-} | awk '{ print $NF }')
			[ -n "$d99" ] && [ -n "$c99" ] && ADDED[$cfg]+="$(awk -v a="$c99" -v b="$d99" 'BEGIN { printf "%.3f", (a - b) / 1000 }') "
		done
	done
}

med() { stat3 ${1:-} | cut -d' ' -f1; }

# l7_rr_json: the points of l7_rr_rounds as JSON.
l7_rr_json() {
	local cfg points='{}' p
	for cfg in direct $L7_CONFIGS; do
		[ -z "${RPS[$cfg]:-}" ] && continue
		p=$(jq -nc --argjson rps "$(point_json ${RPS[$cfg]})" --argjson p99 "$(point_json ${LAT99[$cfg]:-})" \
			--argjson p50 "$(point_json ${LAT50[$cfg]:-})" --argjson cp "$(point_json ${CPUP[$cfg]:-})" \
			--argjson cs "$(point_json ${CPUS[$cfg]:-})" --argjson cb "$(point_json ${CPUB[$cfg]:-})" \
			--argjson e "${ERRS[$cfg]:-0}" \
			'{rps: $rps, lat4_p50_us: $p50, lat4_p99_us: $p99, cpu_us_per_req_proc: $cp,
			  cpu_us_per_req_proc_softirq: $cs, cpu_us_per_req_machine: $cb, errors: $e}')
		[ "$cfg" != direct ] && [ -n "${ADDED[$cfg]:-}" ] && p=$(jq -c --argjson a "$(point_json ${ADDED[$cfg]})" '.added_p99_ms = $a' <<<"$p")
		points=$(jq -c --arg k "$cfg" --argjson p "$p" '.[$k] = $p' <<<"$points")
	done
	echo "$points"
}

# l7_rr_table: the markdown table of l7_rr_rounds.
l7_rr_table() {
	local cfg name
	echo "| path | req/s | p50 / p99 ms at 4 conns | added p99 ms | proxy CPU µs/req | + softirq | machine µs/req | errors |"
	echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
	for cfg in direct $L7_CONFIGS; do
		case $cfg in
		direct) name="direct to pods" ;; inferlb) name="inferlb gateway" ;;
		haproxy) name="HAProxy 2.6" ;; nginx) name="nginx 1.22" ;;
		esac
		echo "| $name | $(fmt3 "$(stat3 ${RPS[$cfg]:-})") | $(fmt "$(awk -v v="$(med "${LAT50[$cfg]:-}")" 'BEGIN { print v == "" ? "null" : v / 1000 }')") / $(fmt "$(awk -v v="$(med "${LAT99[$cfg]:-}")" 'BEGIN { print v == "" ? "null" : v / 1000 }')") | $([ "$cfg" = direct ] && echo – || fmt3 "$(stat3 ${ADDED[$cfg]:-})") | $([ "$cfg" = direct ] && echo – || fmt "$(med "${CPUP[$cfg]:-}")") | $([ "$cfg" = direct ] && echo – || fmt "$(med "${CPUS[$cfg]:-}")") | $(fmt "$(med "${CPUB[$cfg]:-}")") | ${ERRS[$cfg]:-0} |"
	done
}
