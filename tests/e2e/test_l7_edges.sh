#!/usr/bin/env bash
# test_l7_edges - the L7 lane at its edges, through the seed's gateway on port 8888: a LoRA
# adapter sticks to the pod that has it loaded; responses of many MB (Content-Length and
# chunked) arrive byte for byte; a slow client gets all of it while the agent's memory stays
# flat; pipelined requests are answered in order; an idle kept-alive connection is closed.
# L7_SPLICE=pipe runs it on the splice(2) path.
set -u
source "$(dirname "$0")/l7_topology.sh"
PEER=$(cd "$(dirname "$0")" && pwd)/l7_peer.py
BULK_HOST=bulk.default.example.com
BIG=$((16 << 20))


# A second route: Host bulk.default.example.com to pool bulk, pod 3 (l7_peer.py serve).
write_bulk_manifests() {
	{
		route_yaml bulk "$BULK_HOST" bulk
		pool_yaml bulk "" ""
		pod_yaml bulk-3 bulk 198.19.3.2
	} | put "$MANIFESTS/bulk.yaml"
}

# bulk_get [stream] [CURL ARGS...]: the bulk pod's answer through the gateway, on stdout.
bulk_get() {
	local stream=false
	[ "${1:-}" == stream ] && stream=true && shift
	nc curl -sS -m 120 "http://$GW:$GW_PORT/v1/completions" -H "Host: $BULK_HOST" \
		-H "Content-Type: application/json" -d '{"model":"bulk","prompt":"x","stream":'"$stream"'}' "$@"
}

agent_rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$(pgrep -P "$PID_agent" -x inferlb-agent || echo "$PID_agent")/status" 2>/dev/null; }

topology_up 3 || { not_ok "topology" "could not build the namespaces"; t_done; exit 1; }
# Real time, one adapter slot per pod: a loaded adapter is visible in the pod's metrics.
for i in 1 2; do sim_start "$i" --time-scale 1 --lora-modules sql-lora=/adapters/sql --max-loras 1; done
bg bulk ip netns exec "${T_PREFIX}p3" python3 "$PEER" serve 198.19.3.2 8000 "$BIG"
write_l7_manifests "1 2"
write_bulk_manifests
agent_start --idle-timeout 1500 --splice "${L7_SPLICE:-sockmap}"
wait_for 10 nn_host test -S "$SOCK"
wait_for 10 seed_curl -f -o /dev/null
wait_for 10 bulk_get -f -o /dev/null -r 0-0

# LoRA affinity: a long request for sql-lora holds the adapter on one pod; more requests
# for it go to that pod rather than load it on the other.
nc curl -sS -m 30 -N -o "$T_LOGDIR/long.out" "http://$GW:$GW_PORT/v1/completions" -H "Host: qwen.default.example.com" \
	-H "Content-Type: application/json" \
	-d '{"model":"sql-lora","prompt":"a long answer","max_tokens":400,"ignore_eos":true,"stream":true}' &
long=$!
holder=
for _ in $(seq 1 40); do
	for i in 1 2; do
		np "$i" curl -sf "http://198.19.$i.2:8000/metrics" | grep -q 'running_lora_adapters="sql-lora"' && holder=$i
	done
	[ -n "$holder" ] && break
	sleep 0.05
done
sleep 0.2 # a scrape of the agent sees it too
b1=$(served_on 1) b2=$(served_on 2)
for k in $(seq 1 6); do
	nc curl -sS -m 10 -o /dev/null "http://$GW:$GW_PORT/v1/completions" -H "Host: qwen.default.example.com" \
		-H "Content-Type: application/json" -d '{"model":"sql-lora","prompt":"question '"$k$RANDOM"'","max_tokens":2}'
done
d1=$(($(served_on 1) - b1)) d2=$(($(served_on 2) - b2))
if [ -n "$holder" ] && { { [ "$holder" == 1 ] && [ "$d1" -eq 6 ]; } || { [ "$holder" == 2 ] && [ "$d2" -eq 6 ]; }; }; then
	ok "LoRA: requests for sql-lora go to pod $holder, which has it loaded (6 of 6)"
else
	not_ok "LoRA: requests for sql-lora go to the pod that has it loaded" "holder pod ${holder:-none}; pod 1: $d1, pod 2: $d2"
fi
kill "$long" 2>/dev/null
wait "$long" 2>/dev/null

# Many MB, byte for byte, with Content-Length and chunked.
want=$(python3 "$PEER" body "$BIG" | sha256sum | cut -d' ' -f1)
got=$(bulk_get | sha256sum | cut -d' ' -f1)
[ "$got" == "$want" ] && ok "a 16 MiB response (Content-Length) arrives byte for byte" ||
	not_ok "a 16 MiB response (Content-Length) arrives byte for byte" "sha256 $got, want $want"
got=$(bulk_get stream --raw | python3 -c '
import sys
data, out = sys.stdin.buffer.read(), bytearray()
while True:
    line, _, data = data.partition(b"\r\n")
    n = int(line.split(b";")[0], 16)
    if n == 0:
        break
    out += data[:n]
    data = data[n + 2:]
sys.stdout.buffer.write(out)' | sha256sum | cut -d' ' -f1)
[ "$got" == "$want" ] && ok "a 16 MiB chunked response arrives byte for byte" ||
	not_ok "a 16 MiB chunked response arrives byte for byte" "sha256 $got, want $want"
# Then the next request on the same connection still works (the framing was followed).
out=$(nc curl -sS -m 60 -o /dev/null -w '%{http_code} ' "http://$GW:$GW_PORT/v1/completions" -H "Host: $BULK_HOST" \
	-H "Content-Type: application/json" -d '{"model":"bulk","prompt":"x"}' --next -sS -m 60 -o /dev/null -w '%{http_code}' \
	"http://$GW:$GW_PORT/v1/completions" -H "Host: $BULK_HOST" -H "Content-Type: application/json" -d '{"model":"bulk","prompt":"y"}' -v 2>"$T_LOGDIR/two.err")
if [ "$out" == "200 200" ] && grep -q "Re-using existing connection" "$T_LOGDIR/two.err"; then
	ok "two 16 MiB responses on one kept-alive connection"
else
	not_ok "two 16 MiB responses on one kept-alive connection" "codes: $out" "$(grep -E '^\*' "$T_LOGDIR/two.err" | tail -3)"
fi

# A pod that sends bytes after its answer (in the answer's last write, then on the idle
# connection): the client gets exactly the answer, and the next requests are answered
# exactly on a connection that was not spoiled.
l7_counter() { $BUILD/inferlb --pin-dir "$PIN_DIR" stats -j 2>/dev/null | jq -r ".counters.$1 // 0"; }
u0=$(l7_counter l7_unsolicited)
out=$(nc curl -sS -m 60 -o "$T_LOGDIR/extra.out" -w '%{http_code} ' "http://$GW:$GW_PORT/v1/completions" -H "Host: $BULK_HOST" 	-H "Content-Type: application/json" -d '{"model":"bulk","prompt":"extra"}' --next -sS -m 60 -o "$T_LOGDIR/after.out" 	-w '%{http_code}' "http://$GW:$GW_PORT/v1/completions" -H "Host: $BULK_HOST" -H "Content-Type: application/json" 	-d '{"model":"bulk","prompt":"y"}' -v 2>"$T_LOGDIR/extra.err")
sleep 0.5
after2=$(bulk_get | sha256sum | cut -d' ' -f1)
u1=$(l7_counter l7_unsolicited)
got=$(sha256sum <"$T_LOGDIR/extra.out" | cut -d' ' -f1)
got2=$(sha256sum <"$T_LOGDIR/after.out" | cut -d' ' -f1)
if [ "$out" == "200 200" ] && [ "$got" == "$want" ] && [ "$got2" == "$want" ] && [ "$after2" == "$want" ] &&
	! grep -qi "excess" "$T_LOGDIR/extra.err" && grep -q "Re-using existing connection" "$T_LOGDIR/extra.err"; then
	ok "bytes a pod sends after its answer reach no client; the kept client connection and the next requests are exact"
else
	not_ok "bytes a pod sends after its answer reach no client" "codes $out, sha256 $got / $got2 / $after2 (want $want)" \
		"$(grep -iE 'excess|^\*' "$T_LOGDIR/extra.err" | tail -3)"
fi
if [ "${L7_SPLICE:-sockmap}" == sockmap ]; then
	[ "$((u1 - u0))" -ge 1 ] && ok "the verdict program counted them (l7_unsolicited +$((u1 - u0)))" ||
		not_ok "the verdict program counts bytes nobody asked for" "l7_unsolicited $u0 -> $u1"
fi

# A slow client (4 MiB/s) reads all 16 MiB; the agent's memory does not grow with it.
rss0=$(agent_rss_kb)
got=$(bulk_get --limit-rate 4M | sha256sum | cut -d' ' -f1)
rss1=$(agent_rss_kb)
if [ "$got" == "$want" ] && [ -n "$rss0" ] && [ -n "$rss1" ] && [ $((rss1 - rss0)) -lt 4096 ]; then
	ok "a slow client gets the whole 16 MiB; the agent's RSS moved $((rss1 - rss0)) kB"
else
	not_ok "a slow client gets the whole response, agent memory flat" "sha256 $got; RSS ${rss0:-?} -> ${rss1:-?} kB"
fi

# A client that shuts its sending side after its request (Connection: close) while most of
# the answer, all passed on by the kernel, still waits for it: the agent waits for the drain
# without spinning on the half-close, and the client gets the whole answer. (On the pipe
# path the answer is still streaming then, and a half-close mid-stream ends it, as nginx
# ends a request whose client closes.)
if [ "${L7_SPLICE:-sockmap}" == sockmap ]; then
	agent_pid=$(pgrep -P "$PID_agent" -x inferlb-agent || echo "$PID_agent")
	read -r spent whole <<<"$(nc python3 "$PEER" halfclose "$GW" "$GW_PORT" "$BULK_HOST" "$BIG" "$agent_pid" 2>&1)"
	if [ "$whole" == whole ] && [ -n "$spent" ] && [ "$spent" -lt 500 ]; then
		ok "a half-closed client waiting for its answer costs the agent ${spent} ms of CPU in 2 s, and gets it whole"
	else
		not_ok "a half-closed client costs the agent no spinning, and gets its answer" "agent CPU ${spent:-?} ms in 2 s, body ${whole:-?}"
	fi
fi

# Pipelining: three requests in one write, answered in order.
out=$(nc python3 "$PEER" pipeline "$GW" "$GW_PORT" qwen.default.example.com "$SEED_MODEL" 3 7 5 2>&1)
[ "$out" == "3 7 5" ] && ok "three pipelined requests answered in order (completion tokens $out)" ||
	not_ok "pipelined requests answered in order" "got: $out (want 3 7 5)"

# Pipelined behind a 16 MiB answer the client has not read yet, a request the gateway
# answers itself (400) and then one for the pod: the three answers arrive in order, whole.
out=$(nc python3 "$PEER" pipeline-error "$GW" "$GW_PORT" "$BULK_HOST" "$BIG" 2>&1)
[ "$out" == "200-whole 400 200-whole" ] && ok "a gateway's own answer between two pod answers keeps its place ($out)" ||
	not_ok "a gateway's own answer between two pod answers keeps its place" "got: ${out:0:300}"

# The same with a short answer in the middle, in one write or its head and body apart: on the
# sockmap path the kernel hands it to the agent in events while the first answer's bytes still
# wait in the kernel for the client.
for how in short split; do
	out=$(nc python3 "$PEER" pipeline-$how "$GW" "$GW_PORT" "$BULK_HOST" "$BIG" 2>&1)
	[ "$out" == "200-whole 200-short 200-whole" ] &&
		ok "a short answer ($how) between two 16 MiB answers keeps its place ($out)" ||
		not_ok "a short answer ($how) between two 16 MiB answers keeps its place" "got: ${out:0:300}"
done

# A pod that sends a short answer's head and closes before its body: the client gets that
# head and then the close (curl: 18, partial), as when the head had been redirected, never a
# second answer of the gateway's in the first one's body.
out=$(nc curl -sS -m 10 -o "$T_LOGDIR/cut.out" -w '%{http_code}' "http://$GW:$GW_PORT/v1/completions" \
	-H "Host: $BULK_HOST" -H "Content-Type: application/json" -d '{"model":"bulk","prompt":"cut"}' 2>/dev/null)
rc=$?
[ "$rc" = 18 ] && [ "$out" = 200 ] && [ ! -s "$T_LOGDIR/cut.out" ] &&
	ok "a pod gone after a short answer's head: the client sees the head and the close (curl $rc)" ||
	not_ok "a pod gone after a short answer's head closes the client" "curl $rc, status $out, body: $(head -c 200 "$T_LOGDIR/cut.out")"

# An idle kept-alive connection is closed after --idle-timeout (1.5 s).
out=$(nc python3 "$PEER" idle "$GW" "$GW_PORT" qwen.default.example.com "$SEED_MODEL" 2>&1)
if awk -v s="$out" 'BEGIN { exit !(s + 0 >= 1.3 && s + 0 <= 4) }' && [[ "$out" =~ ^[0-9.]+$ ]]; then
	ok "an idle kept-alive connection is closed after --idle-timeout (${out} s)"
else
	not_ok "an idle kept-alive connection is closed after --idle-timeout" "got: $out"
fi

infl=$($BUILD/inferlb --socket "$SOCK" backends -j | jq '[.[].in_flight] | add')
[ "$infl" == 0 ] && ok "nothing left in flight" || not_ok "nothing left in flight" "in_flight: $infl"

t_done
