#!/usr/bin/env bash
# test_l4 - the L4 lane end to end: XDP in native mode on a veth, real TCP from curl
# through the VIP to three nginx pods, load-aware steering, removal and agent restart.
set -u
source "$(dirname "$0")/l4_topology.sh"

topology_up 3 || { not_ok "topology" "could not build the namespaces"; t_done; exit 1; }
for i in 1 2 3; do pod_start "$i"; head -c 4000000 /dev/urandom >"$T_LOGDIR/www$i/slow"; done
write_manifests "1 2 3"
agent_start
if wait_for 10 nc curl -sf -m 1 "http://$VIP/whoami"; then ok "the VIP answers once the agent has synced"; else
	not_ok "the VIP answers once the agent has synced" "agent log:" "$(tail -5 "$T_LOGDIR/agent.log")"
fi

mode=$(nn ip -d link show uplink | grep -o 'xdp[a-z]*' | head -1)
check_eq "XDP is attached to the uplink in native mode (through the dispatcher)" "xdp" "$mode"

read -r c1 c2 c3 errs <<<"$(count_pods 300)"
check_eq "300 connections through the VIP, no error" "0" "$errs"
if [ "$c1" -gt 30 ] && [ "$c2" -gt 30 ] && [ "$c3" -gt 30 ]; then ok "idle pods share new connections ($c1/$c2/$c3)"; else
	not_ok "idle pods share new connections" "expected each > 30 of 300" "got $c1/$c2/$c3" "$(head -3 "$T_LOGDIR/last_count.out")"
fi

dump=$(bpftool map dump pinned "$PIN_DIR/backends" 2>&1 | head -40)
if grep -q '"load_score"' <<<"$dump" && grep -q '"dst_mac"' <<<"$dump"; then ok "bpftool prints the backends map with field names"; else
	not_ok "bpftool prints the backends map with field names" "${dump:0:300}"
fi
conntrack=$(bpftool map dump pinned "$PIN_DIR/conntrack" 2>&1 | grep -c '"backend_id"')
[ "$conntrack" -gt 0 ] && ok "conntrack holds the flows ($conntrack entries)" || not_ok "conntrack holds the flows" "bpftool found none"

# The model server on pod 1 reports a long queue: new connections go elsewhere.
pod_load 1 40
sleep 0.5
read -r c1 c2 c3 errs <<<"$(count_pods 150)"
if [ "$c1" -eq 0 ] && [ "$errs" -eq 0 ]; then ok "a loaded pod gets no new connections (0 of 150; $c2/$c3 elsewhere)"; else
	not_ok "a loaded pod gets no new connections" "expected 0 on pod-1 and no errors" "got $c1/$c2/$c3, errors $errs"
fi
pod_load 1 0

# A slow download from pod 2 while pod 2 leaves the pool: it completes, new flows avoid pod 2.
sum2=$(md5sum <"$T_LOGDIR/www2/slow" | cut -d' ' -f1)
nc bash -c "for i in 1 2 3 4 5 6 7 8; do curl -sf -m 60 -o $T_LOGDIR/long\$i http://$VIP/slow & done; wait" &
dl=$!
sleep 1.5
write_manifests "1 3"
sleep 0.5
read -r c1 c2 c3 errs <<<"$(count_pods 60)"
if [ "$c2" -eq 0 ] && [ "$errs" -eq 0 ]; then ok "a removed pod gets no new connections ($c1/$c2/$c3)"; else
	not_ok "a removed pod gets no new connections" "expected 0 on pod-2" "got $c1/$c2/$c3, errors $errs"
fi
wait $dl
good=0 total=0
for i in 1 2 3 4 5 6 7 8; do
	total=$((total + 1))
	s=$(md5sum <"$T_LOGDIR/long$i" | cut -d' ' -f1)
	for p in 1 2 3; do [ "$s" == "$(md5sum <"$T_LOGDIR/www$p/slow" | cut -d' ' -f1)" ] && good=$((good + 1)); done
done
check_eq "downloads in flight when their pod left complete intact" "$total" "$good"
write_manifests "1 2 3"
sleep 0.5

# SIGKILL the agent during downloads, start it again: every transfer completes intact.
nc bash -c "for i in 1 2 3 4 5 6; do curl -sf -m 60 -o $T_LOGDIR/kill\$i http://$VIP/slow & done; wait" &
dl=$!
sleep 1
before=$(bpftool map dump pinned "$PIN_DIR/conntrack" | grep -c '"backend_id"')
kill -9 "$PID_agent"; wait "$PID_agent" 2>/dev/null
sleep 1
agent_start
wait_for 5 test -S "$SOCK"
after=$(bpftool map dump pinned "$PIN_DIR/conntrack" | grep -c '"backend_id"')
wait $dl
good=0
for i in 1 2 3 4 5 6; do
	s=$(md5sum <"$T_LOGDIR/kill$i" | cut -d' ' -f1)
	for p in 1 2 3; do [ "$s" == "$(md5sum <"$T_LOGDIR/www$p/slow" | cut -d' ' -f1)" ] && good=$((good + 1)); done
done
check_eq "downloads survive an agent SIGKILL and restart" "6" "$good"
if [ "$after" -ge "$before" ]; then ok "the restarted agent adopted conntrack ($before entries before, $after after)"; else
	not_ok "the restarted agent adopted conntrack" "expected >= $before entries" "got $after"
fi
grep -q "maps adopted" "$T_LOGDIR/agent.log" && ok "the restart says it adopted the maps" || not_ok "the restart says it adopted the maps" "$(head -3 "$T_LOGDIR/agent.log")"
read -r c1 c2 c3 errs <<<"$(count_pods 30)"
check_eq "new connections work after the restart" "0" "$errs"

# Broken packets from the client: the node keeps serving.
stats_before=$(bpftool map dump pinned "$PIN_DIR/stats" | grep -c value)
[ "$stats_before" -gt 0 ] && ok "per-CPU stats readable with bpftool" || not_ok "per-CPU stats readable with bpftool"

# An agent of another version pinned `stats` with another shape (here 5 counters): this one
# cannot load against it, so it replaces the data path and serves.
kill "$PID_agent"
wait "$PID_agent" 2>/dev/null
rm -f "$PIN_DIR/stats"
bpftool map create "$PIN_DIR/stats" type percpu_array key 4 value 8 entries 5 name stats 2>&1 | head -2
: >"$T_LOGDIR/agent.log"
agent_start
wait_for 10 test -S "$SOCK"
read -r c1 c2 c3 errs <<<"$(count_pods 30)"
want=$($BUILD/inferlb --pin-dir "$PIN_DIR" stats -j | jq '.counters | length')
got=$(bpftool -j map show pinned "$PIN_DIR/stats" | jq .max_entries)
if grep -q "another version" "$T_LOGDIR/agent.log" && [ "$errs" == 0 ] && [ "$got" == "$want" ]; then
	ok "maps pinned by another version: the agent replaces the data path and serves (stats $got entries)"
else
	not_ok "maps pinned by another version are replaced" "errors $errs, stats entries $got (want $want)" \
		"$(grep -m3 -E "another version|maps" "$T_LOGDIR/agent.log")"
fi

kill "$PID_agent"
wait "$PID_agent" 2>/dev/null
nn_host "$BUILD/inferlb-agent" --cleanup --iface uplink --pin-dir "$PIN_DIR" >/dev/null 2>&1
left=$(nn ip -d link show uplink | grep -c 'prog/xdp')
check_eq "--cleanup detaches XDP" "0" "$left"
[ ! -e "$PIN_DIR" ] && ok "--cleanup removes the pinned maps" || not_ok "--cleanup removes the pinned maps" "$(ls "$PIN_DIR")"
t_done
