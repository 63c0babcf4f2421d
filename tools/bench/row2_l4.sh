#!/usr/bin/env bash
# row2_l4.sh - the L4 lane: new TCP connections/s (wrk, Connection: close) and requests/s
# on kept-alive connections through the XDP VIP, against iptables DNAT and nftables DNAT
# written as kube-proxy writes them, in the same namespaces to the same three nginx pods,
# and against direct connections to the pods. Configurations take turns within each round.
set -u
source "$(dirname "$0")/lib.sh"
b_init row2

ROUNDS=${ROUNDS:-$([ -n "$QUICK" ] && echo 2 || echo 3)}
DUR=${DUR:-$([ -n "$QUICK" ] && echo 2 || echo 10)}
CONNS=64
THREADS=2
CONFIGS="direct xdp iptables nftables"
NODE_CT_MAX_WANT=1048576

topology_up 3 || { row_not_measured row2 "L4 lane" "could not build the namespaces"; exit 0; }
# The kernel does the work under test here: wrk on CPU_GEN, the pods on CPU_SUT, so the
# forward path runs in softirq on one core and the replies on the other.
for i in 1 2 3; do nginx_pod_start "$i" "$CPU_SUT" || { row_not_measured row2 "L4 lane" "nginx pod $i did not start"; exit 0; }; done
pool_manifest web "$VIP:80" "$MANIFESTS/pool.yaml" 1 2 3

# kube-proxy raises nf_conntrack_max for its DNAT; so does the bench (restored afterwards).
ct_max_before=$(cat /proc/sys/net/netfilter/nf_conntrack_max 2>/dev/null || echo)
if [ -n "$ct_max_before" ] && [ "$ct_max_before" -lt $NODE_CT_MAX_WANT ]; then
	echo $NODE_CT_MAX_WANT >/proc/sys/net/netfilter/nf_conntrack_max
	on_cleanup "echo $ct_max_before >/proc/sys/net/netfilter/nf_conntrack_max"
fi

iptables_up() { # the chains kube-proxy's iptables mode writes for a ClusterIP with 3 endpoints
	nn iptables-nft-restore <<RULES
*nat
:PREROUTING ACCEPT [0:0]
:KUBE-SERVICES - [0:0]
:KUBE-SVC-WEB - [0:0]
:KUBE-SEP-1 - [0:0]
:KUBE-SEP-2 - [0:0]
:KUBE-SEP-3 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A KUBE-SERVICES -d $VIP/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-WEB
-A KUBE-SVC-WEB -m comment --comment "default/web -> 198.19.1.2:8000" -m statistic --mode random --probability 0.33333333349 -j KUBE-SEP-1
-A KUBE-SVC-WEB -m comment --comment "default/web -> 198.19.2.2:8000" -m statistic --mode random --probability 0.50000000000 -j KUBE-SEP-2
-A KUBE-SVC-WEB -m comment --comment "default/web -> 198.19.3.2:8000" -j KUBE-SEP-3
-A KUBE-SEP-1 -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 198.19.1.2:8000
-A KUBE-SEP-2 -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 198.19.2.2:8000
-A KUBE-SEP-3 -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 198.19.3.2:8000
COMMIT
RULES
}
# iptables-nft keeps its tables in nf_tables: deleting the table drops the NAT hooks too.
iptables_down() { nn nft delete table ip nat 2>/dev/null; true; }

nftables_up() { # the shape of kube-proxy's nftables mode: a verdict map, numgen to endpoints
	nn nft -f - <<RULES
table ip bench-kube-proxy {
	map service-ips {
		type ipv4_addr . inet_proto . inet_service : verdict
		elements = { $VIP . tcp . 80 : goto service-web }
	}
	chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }
	chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }
	chain service-web { numgen random mod 3 vmap { 0 : goto endpoint-1, 1 : goto endpoint-2, 2 : goto endpoint-3 }; }
	chain endpoint-1 { meta l4proto tcp dnat to 198.19.1.2:8000; }
	chain endpoint-2 { meta l4proto tcp dnat to 198.19.2.2:8000; }
	chain endpoint-3 { meta l4proto tcp dnat to 198.19.3.2:8000; }
}
RULES
}
nftables_down() { nn nft delete table ip bench-kube-proxy 2>/dev/null; true; }

xdp_up() {
	agent_start --no-l7 || return 1
	wait_for 10 nc curl -sf -m 1 "http://$VIP/whoami"
}
# --cleanup also empties conntrack: stale reply entries would rewrite later direct flows.
xdp_down() { agent_stop; }
direct_up() { true; }
direct_down() { true; }

# measure CFG MODE: one wrk run; prints its JSON (rps and latency).
measure() {
	local cfg=$1 mode=$2 hdr=()
	[ "$mode" = close ] && hdr=(-H "Connection: close")
	if [ "$cfg" = direct ]; then
		# one wrk per pod, the same total of threads and connections, summed
		local i wp=()
		for i in 1 2 3; do
			wrk_run "$NS_C" "$CPU_GEN" -t1 -c$((CONNS / 3)) -d"${DUR}s" --latency "${hdr[@]}" \
				"http://198.19.$i.2:8000/whoami" >"$B_LOG/direct$i.json" &
			wp+=($!)
		done
		wait "${wp[@]}"
		jq -sc '{rps: (map(.rps) | add), lat_us: {p99: (map(.lat_us.p99) | max), p50: (map(.lat_us.p50) | max)},
			errors: {connect: (map(.errors.connect) | add), read: (map(.errors.read) | add),
			timeout: (map(.errors.timeout) | add), status: (map(.errors.status) | add)}}' \
			"$B_LOG"/direct[123].json
	else
		wrk_run "$NS_C" "$CPU_GEN" -t$THREADS -c$CONNS -d"${DUR}s" --latency "${hdr[@]}" "http://$VIP/whoami"
	fi
}

declare -A RPS P99 ERR
ct_drops=0
for r in $(seq 1 "$ROUNDS"); do
	for cfg in $CONFIGS; do
		if ! "${cfg}_up"; then
			log "row2: $cfg did not come up"
			"${cfg}_down"
			continue
		fi
		for mode in close keepalive; do
			drop0=$(nn awk 'NR > 1 { d += strtonum("0x" $9) } END { print d + 0 }' /proc/net/stat/nf_conntrack 2>/dev/null || echo 0)
			j=$(measure "$cfg" "$mode")
			drop1=$(nn awk 'NR > 1 { d += strtonum("0x" $9) } END { print d + 0 }' /proc/net/stat/nf_conntrack 2>/dev/null || echo 0)
			ct_drops=$((ct_drops + drop1 - drop0))
			rps=$(jget "$j" .rps)
			p99=$(jget "$j" .lat_us.p99)
			errs=$(jq -r '.errors | .connect + .read + .timeout + .status' <<<"$j" 2>/dev/null || echo "?")
			log "row2 round $r $cfg $mode: $rps req/s, p99 ${p99} us, errors $errs"
			[ "$rps" != null ] && RPS[$cfg.$mode]+="$rps " && P99[$cfg.$mode]+="$p99 "
			ERR[$cfg.$mode]=$((${ERR[$cfg.$mode]:-0} + ${errs//[^0-9]/}))
		done
		"${cfg}_down"
	done
done

# The table and the JSON.
med() { stat3 ${1:-} | cut -d' ' -f1; }
points='{}'
for cfg in $CONFIGS; do
	for mode in close keepalive; do
		[ -z "${RPS[$cfg.$mode]:-}" ] && continue
		points=$(jq -c --arg k "$cfg.$mode" --argjson rps "$(point_json ${RPS[$cfg.$mode]})" \
			--argjson p99 "$(point_json ${P99[$cfg.$mode]})" --argjson e "${ERR[$cfg.$mode]:-0}" \
			'.[$k] = {rps: $rps, p99_us: $p99, errors: $e}' <<<"$points")
	done
done
x_new=$(med "${RPS[xdp.close]:-}")
i_new=$(med "${RPS[iptables.close]:-}")
n_new=$(med "${RPS[nftables.close]:-}")
d_new=$(med "${RPS[direct.close]:-}")
x_ka=$(med "${RPS[xdp.keepalive]:-}")
i_ka=$(med "${RPS[iptables.keepalive]:-}")
x_p99=$(med "${P99[xdp.close]:-}")
i_p99=$(med "${P99[iptables.close]:-}")
x_p99k=$(med "${P99[xdp.keepalive]:-}")
i_p99k=$(med "${P99[iptables.keepalive]:-}")
r_new=$(ratio "$x_new" "$i_new")
r_p99=$(ratio "$x_p99" "$i_p99")
r_p99k=$(ratio "$x_p99k" "$i_p99k")
met_new=$(awk -v r="$r_new" 'BEGIN { print (r != "null" && r >= 1.5) ? "true" : "false" }')
met_p99=$(awk -v a="$r_p99" -v b="$r_p99k" 'BEGIN { print (a != "null" && a <= 1.0 && b != "null" && b <= 1.0) ? "true" : "false" }')

{
	echo "### 2. L4 lane: XDP VIP vs iptables / nftables DNAT vs direct"
	echo
	echo "wrk $THREADS threads, $CONNS connections, ${DUR} s per run, $ROUNDS rounds (configurations take turns in each round);"
	echo "three nginx pods (one worker each) on CPU $CPU_SUT, wrk on CPU $CPU_GEN. Direct: one wrk per pod (1 thread, $((CONNS / 3)) connections each), summed."
	echo "iptables rules as kube-proxy's iptables mode writes them (iptables-nft, statistic random); nftables as its nftables mode (numgen vmap)."
	echo "Median (min–max) of the rounds."
	echo
	echo "| path | new conn/s (Connection: close) | p99 ms | keep-alive req/s | p99 ms | errors |"
	echo "| --- | --- | --- | --- | --- | --- |"
	for cfg in $CONFIGS; do
		name=$cfg
		[ "$cfg" = xdp ] && name="inferlb XDP VIP"
		[ "$cfg" = iptables ] && name="iptables DNAT"
		[ "$cfg" = nftables ] && name="nftables DNAT"
		[ "$cfg" = direct ] && name="direct to pods"
		p99c=$(med "${P99[$cfg.close]:-}")
		p99k=$(med "${P99[$cfg.keepalive]:-}")
		echo "| $name | $(fmt3 "$(stat3 ${RPS[$cfg.close]:-})") | $(fmt "$(awk -v v="$p99c" 'BEGIN { print v == "" ? "null" : v / 1000 }')") | $(fmt3 "$(stat3 ${RPS[$cfg.keepalive]:-})") | $(fmt "$(awk -v v="$p99k" 'BEGIN { print v == "" ? "null" : v / 1000 }')") | $((${ERR[$cfg.close]:-0} + ${ERR[$cfg.keepalive]:-0})) |"
	done
	echo
	echo "Ratios: XDP / iptables new conn/s **$(fmt "$r_new")×** (goal ≥ 1.5), XDP / nftables $(fmt "$(ratio "$x_new" "$n_new")")×, XDP / direct $(fmt "$(ratio "$x_new" "$d_new")")×;"
	echo "keep-alive XDP / iptables $(fmt "$(ratio "$x_ka" "$i_ka")")×; p99 XDP / iptables $(fmt "$r_p99")× (close), $(fmt "$r_p99k")× (keep-alive) (goal ≤ 1)."
	[ "$ct_drops" -gt 0 ] && echo "nf_conntrack dropped $ct_drops packets in the node namespace during the DNAT runs."
	echo
} >"$BENCH_RESULTS/row2.md"

row_write --argjson points "$points" --arg rnew "$r_new" --arg rp99 "$r_p99" --arg rp99k "$r_p99k" \
	--argjson metnew "$met_new" --argjson metp99 "$met_p99" --arg xnew "$x_new" --arg inew "$i_new" \
	--argjson dur "$DUR" --argjson rounds "$ROUNDS" --argjson conns "$CONNS" --argjson ctd "$ct_drops" \
	'{row: "row2", title: "L4 lane: XDP VIP vs iptables/nftables DNAT", status: "measured",
	  config: {duration_s: $dur, rounds: $rounds, connections: $conns, threads: 2},
	  points: $points, nf_conntrack_drops: $ctd,
	  summary: [
	   {metric: "L4 new TCP conn/s, XDP / iptables DNAT", inferlb: ($xnew | tonumber? // null), peer: ($inew | tonumber? // null),
	    ratio: ($rnew | tonumber? // null), goal: "≥ 1.5×", met: $metnew},
	   {metric: "L4 p99 latency, XDP / iptables (close, keep-alive)", ratio: ($rp99 | tonumber? // null),
	    ratio2: ($rp99k | tonumber? // null), goal: "≤ 1× (no worse)", met: $metp99}]}'
