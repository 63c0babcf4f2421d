#!/usr/bin/env bash
# row7c_idle_conns.sh - row 7 (c), IDLE_CONNS (10,000) idle client connections on the L7
# gateway: VmRSS of the agent before, with the connections open (no request yet), after one
# request on each (still open), and after they close; HAProxy 2.6 holding the same
# connections in front of the same pods is the peer. `row7-probe conns` holds them.
# IDLE_CONNS overrides (and control_common.sh's ROUNDS, AGENT_ARGS).
set -u
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/l7_common.sh"
source "$(dirname "$0")/control_common.sh"
control_init c || exit 0

IDLE_CONNS=${IDLE_CONNS:-10000}
# the connections held are capped under the open files the client and the proxy may have
if [ "$FD_LIMIT" != unlimited ] && [ "$FD_LIMIT" -lt $((IDLE_CONNS + 1000)) ]; then
	log "row7: open files limited to $FD_LIMIT (hard limit): $((FD_LIMIT - 1000)) connections instead of $IDLE_CONNS"
	IDLE_CONNS=$((FD_LIMIT - 1000))
fi

control_need inferlb-agent inferlb row7-probe
topology_up 3 || part_not_measured "could not build the namespaces"
for i in 1 2 3; do nginx_pod_start "$i" || part_not_measured "pod $i did not start"; done

# HAProxy as l7_common.sh's haproxy_start configures it, but with maxconn above the
# connections held (haproxy_start's 9000 would leave the last 1,000 in the accept queue)
# and without strict-limits: HAProxy wants 2 fds per maxconn and stops when it cannot get
# them; idle client connections need one each and share a few server connections.
row7_haproxy_start() {
	HAPROXY_MAXCONN=$((IDLE_CONNS + 1000)) HAPROXY_GLOBAL="no strict-limits" haproxy_start "$@"
}

declare -A C_IDLE C_REQ C_BASE C_OK C_CONN C_AFTER
body=$B_LOG/body.json
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
			fgwait ip netns exec "$NS_C" taskset -c "$CPU_GEN" "$PROBE" conns --addr "$addr" --port "$port" \
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

# ---- results ----

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

{
	echo "**(c) $(fmt "$IDLE_CONNS") idle L7 connections.** A client in the client namespace (\`row7-probe conns\`) opens them (256 connects in flight), waits until the"
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
} >"$B_LOG/row7_c.md"

part_write idle_connections "$B_LOG/row7_c.md" --argjson c "$c_json" --argjson nconns "$IDLE_CONNS" \
	--arg ci "$c_i" --arg ch "$c_h" --arg cri "$c_ri" --arg crh "$c_rh" --arg rc "$(ratio "$c_i" "$c_h")" --arg rcr "$(ratio "$c_ri" "$c_rh")" \
	'{value: $c, config: {idle_connections: $nconns},
	  plot: {ylabel: "VmRSS bytes per L7 connection (median, min–max)",
	    bars: [["inferlb", "idle"], ["haproxy", "idle"], ["inferlb", "1 request"], ["haproxy", "1 request"]]
	      | map(. as [$k, $w] | ($c[$k] // {}) | (if $w == "idle" then .bytes_per_idle_conn else .bytes_per_conn_after_one_request end) as $p
	        | select($p != null)
	        | {label: "\(if $k == "inferlb" then "gateway" else "HAProxy" end), \($w)", median: $p.median, min: $p.min, max: $p.max})},
	  summary: [
	   {metric: "VmRSS bytes per idle L7 connection (\($nconns), no request yet), gateway / HAProxy", inferlb: ($ci | tonumber? // null),
	    peer: ($ch | tonumber? // null), ratio: ($rc | tonumber? // null), goal: "–", met: null},
	   {metric: "VmRSS bytes per kept-alive L7 connection after one request, gateway / HAProxy", inferlb: ($cri | tonumber? // null),
	    peer: ($crh | tonumber? // null), ratio: ($rcr | tonumber? // null), goal: "–", met: null}]}'
