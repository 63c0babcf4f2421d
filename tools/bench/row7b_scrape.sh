#!/usr/bin/env bash
# row7b_scrape.sh - row 7 (b), the agent scraping SCRAPE_PODS (256) pods every 50 ms: CPU
# (utime+stime from /proc/PID/stat) and VmRSS, against the same agent with the pool empty;
# the scrapes counted on the pods' side (nginx stub_status) and their ages read from the agent
# (`inferlb backends`).
# SCRAPE_PODS, SCRAPE_DUR, IDLE_DUR override (and control_common.sh's ROUNDS, AGENT_ARGS).
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
source "$(dirname "$0")/control_common.sh"
control_init b || exit 0

SCRAPE_PODS=${SCRAPE_PODS:-256}
SCRAPE_DUR=${SCRAPE_DUR:-$([ -n "$QUICK" ] && echo 4 || echo 20)}
IDLE_DUR=${IDLE_DUR:-$([ -n "$QUICK" ] && echo 3 || echo 8)}

control_need inferlb-agent inferlb
topology_up 3 || part_not_measured "could not build the namespaces"

# The pods: one namespace whose loopback holds SCRAPE_PODS addresses (198.19.208.1 ...,
# routed from the node through 198.19.200.2), one nginx serving an idle vLLM /metrics page
# on all of them (port 8000) and its stub_status on 198.19.200.2:8001.
NS_M=${B_PREFIX}m
scrape_ip() { echo "198.19.$((208 + ($1 - 1) / 250)).$((($1 - 1) % 250 + 1))"; }
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
B_AGEMAX="" B_FRESH="" B_SCRAPES_S=""
scrape_pods_up || part_not_measured "the scrape pods did not come up"
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

# ---- results ----

b_cpu_s=$(med "${B_CPU[scrape]:-}")
b_cpu_i=$(med "${B_CPU[idle]:-}")
b_rss_s=$(med "${B_RSS[scrape]:-}")
b_rate=$(med "$B_SCRAPES_S")
b_us_per=$(awk -v c="$b_cpu_s" -v i="$b_cpu_i" -v r="$b_rate" 'BEGIN { if (c == "" || r == "" || r == 0) print "null"; else printf "%.2f", (c - i) / 100 * 1e6 / r }')

{
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
} >"$B_LOG/row7_b.md"

part_write scrape "$B_LOG/row7_b.md" \
	--argjson bcpu "$(point_json ${B_CPU[scrape]:-})" --argjson bcpui "$(point_json ${B_CPU[idle]:-})" \
	--argjson brss "$(point_json ${B_RSS[scrape]:-})" --argjson brssi "$(point_json ${B_RSS[idle]:-})" \
	--argjson brate "$(point_json $B_SCRAPES_S)" --argjson bfresh "$(point_json $B_FRESH)" --argjson bage "$(point_json $B_AGEMAX)" \
	--arg bus "$b_us_per" --argjson npods "$SCRAPE_PODS" --arg bc "$b_cpu_s" --arg br "$b_rss_s" \
	'{value: {pods: $npods, interval_ms: 50, cpu_pct: $bcpu, rss_kb: $brss, idle_cpu_pct: $bcpui, idle_rss_kb: $brssi,
	    pod_scrapes_per_s: $brate, expected_scrapes_per_s: ($npods * 20), fresh_pods: $bfresh, oldest_metrics_ms: $bage,
	    cpu_us_per_scrape: ($bus | tonumber? // null)},
	  config: {scrape_pods: $npods},
	  summary: [
	   {metric: "agent CPU, % of a core, scraping \($npods) pods every 50 ms", inferlb: ($bc | tonumber? // null),
	    peer: null, goal: "–", met: null},
	   {metric: "agent VmRSS kB scraping \($npods) pods every 50 ms", inferlb: ($br | tonumber? // null),
	    peer: null, goal: "–", met: null}]}'
