#!/usr/bin/env bash
# test_l7 - the L7 lane end to end: the seed's gateway on port 8888 (sk_lookup to the agent,
# responses spliced in the kernel) in front of vllm-sim pods in namespaces; real clients
# (curl, the openai npm package, node streams); bad requests; agent SIGKILL fail-open.
# L7_SPLICE=pipe runs it all on the splice(2) path instead of the sockmap.
set -u
source "$(dirname "$0")/l7_topology.sh"
NODE_DIR=$(cd "$(dirname "$0")/../node" && pwd)

agent_l7_start() {
	agent_argv
	bg agent "${AGENT_ARGV[@]}" --metrics-addr "$(node_metrics_addr)" --keep --max-body 200000 \
		--header-timeout 1000 --splice "${L7_SPLICE:-sockmap}" -v
}


# raw REQUEST: bytes to the gateway on one connection; prints the answer.
raw() {
	nc bash -c "exec 3<>/dev/tcp/$GW/$GW_PORT; printf '%b' \"\$1\" >&3; timeout 5 cat <&3" _ "$1"
}

topology_up 2 || { not_ok "topology" "could not build the namespaces"; t_done; exit 1; }
sim_start 1
sim_start 2
write_l7_manifests "1 2"
agent_l7_start
wait_for 10 nn_host test -S "$SOCK"

out=$(wait_for 10 seed_curl -f >/dev/null; seed_curl)
if grep -q '"choices"' <<<"$out" && grep -q '"content"' <<<"$out"; then ok "the seed's curl (Host qwen.default.example.com, port 8888) gets choices"; else
	not_ok "the seed's curl gets choices" "got: ${out:0:300}" "$(grep -v libbpf "$T_LOGDIR/agent.log" | tail -5)"
fi

# Each answered request counts its pod's response and time to first byte (the kernel's
# events on the sockmap, the agent's own reads on the pipe path).
read -r responses ttft <<<"$(nn_host curl -sf -m 2 http://127.0.0.1:9464/metrics | awk '
	/^inferlb_pod_responses_total/ { r += $NF } /^inferlb_pod_ttft_seconds_sum/ { t += $NF }
	END { printf "%d %.6f\n", r, t }')"
if [ "${responses:-0}" -ge 1 ] && awk -v t="${ttft:-0}" -v r="${responses:-0}" 'BEGIN { exit !(t > 0 && t / r < 5) }'; then
	ok "the pods' responses ($responses) and time to first byte (${ttft} s summed) are counted"
else
	not_ok "the pods' responses and time to first byte are counted" "responses ${responses:-?}, ttft sum ${ttft:-?} s"
fi

# The seed's answer (one write of the pod, under 4 KiB) comes to the agent inside its end
# event on the sockmap path; the pipe path reads every answer itself.
inline=$($BUILD/inferlb --pin-dir "$PIN_DIR" stats -j 2>/dev/null | jq -r '.counters.l7_inline // "none"')
if [ "${L7_SPLICE:-sockmap}" = pipe ]; then want_inline='^0$'; else want_inline='^[1-9][0-9]*$'; fi
[[ "$inline" =~ $want_inline ]] && ok "answers carried in their end event: $inline (${L7_SPLICE:-sockmap} path)" ||
	not_ok "answers carried in their end event (${L7_SPLICE:-sockmap} path)" "l7_inline: $inline"

out=$(nc curl -s -m 5 "http://$GW:$GW_PORT/v1/models" -H "Host: qwen.default.example.com")
if grep -q '"object":"list"' <<<"$out" && grep -q "\"id\":\"$SEED_MODEL\"" <<<"$out"; then ok "GET /v1/models on the gateway lists the pods' model"; else
	not_ok "GET /v1/models on the gateway lists the pods' model" "${out:0:300}"
fi
# A client that takes the gateway for a proxy sends the absolute form: routed by its path.
picks() { $BUILD/inferlb --socket "$SOCK" backends -j | jq '[.[].picks] | add'; }
p0=$(picks)
out=$(nc curl -s -m 5 -x "http://$GW:$GW_PORT" "http://qwen.default.example.com/v1/models?x=1")
p1=$(picks)
if grep -q '"object":"list"' <<<"$out" && [ "$p0" == "$p1" ]; then
	ok "an absolute-form target (http://host/v1/models) is routed by its path: the gateway answers"
else
	not_ok "an absolute-form target is routed by its path" "picks $p0 -> $p1" "${out:0:300}"
fi

# Two requests on one connection: keep-alive on the client side, routed one by one.
out=$(nc curl -sv -m 10 "http://$GW:$GW_PORT/v1/completions" -H "Host: qwen.default.example.com" \
	-d '{"model":"'"$SEED_MODEL"'","prompt":"a","max_tokens":4}' --next "http://$GW:$GW_PORT/v1/completions" \
	-H "Host: qwen.default.example.com" -d '{"model":"'"$SEED_MODEL"'","prompt":"b","max_tokens":4}' 2>&1)
n_ok=$(grep -c '"object":"text_completion"' <<<"$out")
if [ "$n_ok" -eq 2 ] && grep -q "Re-using existing connection" <<<"$out"; then ok "two requests on one kept-alive client connection both answered"; else
	not_ok "two requests on one kept-alive client connection" "answers: $n_ok" "$(grep -E '^[<>*]' <<<"$out" | head -20)"
fi

# Streaming through the kernel: SSE chunks end with [DONE].
out=$(gw_post '{"model":"'"$SEED_MODEL"'","stream":true,"max_tokens":20,"messages":[{"role":"user","content":"hi"}]}' -N)
chunks=$(grep -c '^data: {' <<<"$out")
if [ "$chunks" -ge 20 ] && [ "$(grep '^data:' <<<"$out" | tail -1)" == "data: [DONE]" ]; then ok "a streamed response arrives whole ($chunks chunks, then [DONE])"; else
	not_ok "a streamed response arrives whole" "chunks: $chunks" "${out: -300}"
fi

# The openai package, through the gateway and directly to the pod: the same answer.
if [ -d "$NODE_DIR/node_modules/openai" ]; then
	write_l7_manifests "1"
	sleep 1
	for s in 0 1; do
		via=$(nc node "$NODE_DIR/openai-client.mjs" "http://$GW:$GW_PORT/v1" "$SEED_MODEL" $s "Tell me about GPUs." 24 2>&1)
		direct=$(nc node "$NODE_DIR/openai-client.mjs" "http://198.19.1.2:8000/v1" "$SEED_MODEL" $s "Tell me about GPUs." 24 2>&1)
		if [ -n "$via" ] && [ "$via" == "$direct" ] && grep -q "^usage [0-9]* 24$" <<<"$via"; then
			ok "openai npm client (stream=$s): the gateway's answer equals the pod's"
		else
			not_ok "openai npm client (stream=$s): the gateway's answer equals the pod's" "via: ${via:0:200}" "direct: ${direct:0:200}"
		fi
	done
	write_l7_manifests "1 2"
	sleep 1
else
	not_ok "openai npm client" "tests/node/node_modules/openai is missing (make deps installs it)"
fi

# A shared prefix stays on one pod while load allows.
b1=$(served_on 1) b2=$(served_on 2)
prefix=$(printf 'You are a helpful assistant for a GPU platform team. %.0s' $(seq 1 40))
for i in $(seq 1 12); do
	gw_post '{"model":"'"$SEED_MODEL"'","max_tokens":2,"messages":[{"role":"system","content":"'"$prefix"'"},{"role":"user","content":"question '"$i"'"}]}' -o /dev/null
done
d1=$(($(served_on 1) - b1)) d2=$(($(served_on 2) - b2))
if [ $((d1 + d2)) -eq 12 ] && { [ "$d1" -ge 11 ] || [ "$d2" -ge 11 ]; }; then ok "a shared prefix sticks to one pod ($d1/$d2 of 12)"; else
	not_ok "a shared prefix sticks to one pod" "pod 1: $d1, pod 2: $d2 of 12"
fi

# Bad requests: each answered with OpenAI-style JSON and the right status.
check_error() {
	local desc=$1 want=$2 got
	shift 2
	got=$(nc curl -s -m 10 -o "$T_LOGDIR/err.json" -w '%{http_code}' "$@")
	if [ "$got" == "$want" ] && grep -q '"error":{' "$T_LOGDIR/err.json" && grep -q "\"code\":$want" "$T_LOGDIR/err.json"; then
		ok "$desc: $want with an OpenAI error body"
	else
		not_ok "$desc: $want with an OpenAI error body" "got $got: $(head -c 300 "$T_LOGDIR/err.json")"
	fi
}
URL="http://$GW:$GW_PORT/v1/chat/completions"
H="Host: qwen.default.example.com"
check_error "bad JSON" 400 "$URL" -H "$H" -d '{"model": '
check_error "no model" 400 "$URL" -H "$H" -d '{"messages":[]}'
check_error "a Host no route names" 404 "$URL" -H "Host: nothing.default.example.com" -d '{"model":"x"}'
check_error "an unknown model (answered by the pod)" 404 "$URL" -H "$H" -d '{"model":"no-such-model","messages":[{"role":"user","content":"hi"}]}'
head -c 300000 /dev/zero | tr '\0' 'a' >"$T_LOGDIR/big.txt"
check_error "a body over --max-body" 413 "$URL" -H "$H" --data-binary "@$T_LOGDIR/big.txt"
check_error "a header over 8 KiB" 431 "$URL" -H "$H" -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' 'b')" -d '{}'
out=$(raw 'POST /v1/completions HTTP/1.1\r\nHost: qwen.default.example.com\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n')
if grep -q "^HTTP/1.1 400" <<<"$out" && grep -qi "connection: close" <<<"$out"; then ok "Content-Length with Transfer-Encoding: 400 and the connection closed"; else
	not_ok "Content-Length with Transfer-Encoding: 400 and close" "${out:0:300}"
fi
out=$(raw 'POST /v1/completions HTTP/1.1\r\nHost: qwen.default.example.com\r\nX-A: 1\r\n folded\r\nContent-Length: 2\r\n\r\n{}')
grep -q "^HTTP/1.1 400" <<<"$out" && ok "obs-fold: 400" || not_ok "obs-fold: 400" "${out:0:300}"
start=$(date +%s%N)
out=$(raw 'POST /v1/completions HTTP/1.1\r\nHost: qwen')
ms=$((($(date +%s%N) - start) / 1000000))
if grep -q "^HTTP/1.1 408" <<<"$out" && [ "$ms" -lt 4000 ]; then ok "a head that stops arriving: 408 after --header-timeout (${ms} ms)"; else
	not_ok "a head that stops arriving: 408" "after $ms ms: ${out:0:200}"
fi
out=$(seed_curl -w '%{http_code}' -o /dev/null)
check_eq "the gateway still answers after the bad requests" "200" "$out"

# A client that leaves mid-stream frees the pod; a pod that dies mid-stream closes the client.
nc curl -s -N -m 2 -o /dev/null "$URL" -H "$H" \
	-d '{"model":"'"$SEED_MODEL"'","stream":true,"max_tokens":3000,"ignore_eos":true,"messages":[{"role":"user","content":"long"}]}'
sleep 0.5
infl=$($BUILD/inferlb --socket "$SOCK" backends -j | jq '[.[].in_flight] | add')
check_eq "a client gone mid-stream releases the pod's in-flight count" "0" "$infl"

# 1000 concurrent streams through the gateway.
out=$(nc node "$NODE_DIR/streams.mjs" "$URL" "$SEED_MODEL" 1000 8 2>&1 | tail -1)
check_eq "1,000 concurrent streams complete" "done 1000 of 1000" "$out"

# bpftool reads the L7 maps with field names: the kept backend connections' slots, and the
# stream state of the first slot handed out.
slots=$(bpftool -j map dump pinned "$PIN_DIR/l7_stream_slots" 2>&1)
n_slots=$(jq 'length' <<<"$slots" 2>/dev/null || echo 0)
dump=$(bpftool map lookup pinned "$PIN_DIR/l7_stream_state" key 0 0 0 0 2>&1)
# The pipe path keeps no backend socket in the kernel's maps.
want_slots=$([ "${L7_SPLICE:-sockmap}" = pipe ] && echo 0 || echo 1)
if { [ "$want_slots" = 0 ] && [ "${n_slots:-0}" -eq 0 ]; } || { [ "$want_slots" = 1 ] && [ "${n_slots:-0}" -ge 1 ]; } &&
	grep -q '"client_cookie"' <<<"$dump" && grep -q '"state"' <<<"$dump"; then
	ok "bpftool dumps l7_stream_slots ($n_slots kept connections) and l7_stream_state with field names"
else
	not_ok "bpftool dumps l7_stream_slots and l7_stream_state" "slots ${slots:0:100} state ${dump:0:200}"
fi

# Agent SIGKILL: FailOpen keeps serving through XDP; a restart takes the gateway back.
kill -9 "$PID_agent"; wait "$PID_agent" 2>/dev/null
sleep 1.5
out=$(seed_curl -w '%{http_code}' -o /dev/null)
check_eq "FailOpen: the gateway answers 1.5 s after an agent SIGKILL" "200" "$out"
agent_l7_start
wait_for 10 nn_host test -S "$SOCK"
sleep 1
out=$(seed_curl -w '%{http_code}' -o /dev/null)
check_eq "the restarted agent takes the gateway back" "200" "$out"
grep -q "sk_lookup adopted" "$T_LOGDIR/agent.log" && ok "the restart adopted the sk_lookup link" ||
	not_ok "the restart adopted the sk_lookup link" "$(grep -v libbpf "$T_LOGDIR/agent.log" | tail -3)"

# FailClose: without the agent, connections are refused at once.
write_l7_manifests "1 2" FailClose
sleep 1
kill -9 "$PID_agent"; wait "$PID_agent" 2>/dev/null
sleep 1.5
start=$(date +%s%N)
out=$(seed_curl -w '%{http_code}' -o /dev/null 2>&1)
ms=$((($(date +%s%N) - start) / 1000000))
if [[ "$out" == *"000"* ]] && [ "$ms" -lt 2000 ]; then ok "FailClose: refused at once without the agent (${ms} ms)"; else
	not_ok "FailClose: refused at once without the agent" "got $out after $ms ms"
fi
agent_l7_start
wait_for 10 nn_host test -S "$SOCK"
sleep 1
nn_host "$BUILD/inferlb-agent" --cleanup --iface uplink --pin-dir "$PIN_DIR" >/dev/null 2>&1
kill "$PID_agent" 2>/dev/null
routes=$(nn ip route show table local | grep -c "$GW")
check_eq "--cleanup removes the gateway's local route" "0" "$routes"
t_done
