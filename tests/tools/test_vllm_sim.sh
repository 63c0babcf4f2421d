#!/usr/bin/env bash
# test_vllm_sim.sh - vllm-sim answers the OpenAI API as vLLM does (curl and the openai
# npm package), exposes vLLM's metrics, and models a GPU honestly: prefix-cache hits cut
# time to first token, load builds a waiting queue, LoRA adapters take slots.
set -u
source "$(dirname "$0")/../lib.sh"
t_init

SIM=$BUILD/vllm-sim
NODE_DIR=$ROOT/tests/node
HOST=127.0.0.1
MODEL=/models/Qwen1.5-4B-Chat/

if [ ! -x "$SIM" ]; then
	make -C "$ROOT" --no-print-directory "$SIM" >"$T_LOGDIR/make.log" 2>&1 ||
		{ not_ok "vllm-sim builds" "$(tail -5 "$T_LOGDIR/make.log")"; t_done; exit 1; }
fi

# A port nobody listens on, from a range this test keeps to itself.
NEXT_PORT=$((18100 + RANDOM % 400))
free_port() {
	while ss -Htln "sport = :$NEXT_PORT" | grep -q .; do NEXT_PORT=$((NEXT_PORT + 1)); done
	PORT=$NEXT_PORT
	NEXT_PORT=$((NEXT_PORT + 1))
}

# start_sim NAME ARGS...: runs a simulator on a free port, sets PORT, waits for /health.
start_sim() {
	local name=$1
	shift
	free_port
	bg "$name" "$SIM" --host $HOST --port "$PORT" "$@"
	wait_for 5 curl -sf "http://$HOST:$PORT/health"
}

# jget EXPR: evaluates a JS expression over the JSON on stdin, bound to j.
jget() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{let j;try{j=JSON.parse(s)}catch(e){console.log("(not json)");return}let v;try{v=eval(process.argv[1])}catch(e){v="(error)"}console.log(typeof v==="object"?JSON.stringify(v):String(v))})' "$1"; }

post() { curl -s -H 'content-type: application/json' "http://$HOST:$1$2" -d "$3"; }
metric() { curl -s "http://$HOST:$1/metrics" | awk -v n="$2" '$1 ~ "^"n"[{ ]" {print $2; exit}'; }

chat_body() { # MODEL PROMPT MAX_TOKENS [STREAM]
	printf '{"model":"%s","messages":[{"role":"user","content":"%s"}],"max_tokens":%s%s}' \
		"$1" "$2" "$3" "${4:+,\"stream\":true,\"stream_options\":{\"include_usage\":true}}"
}

# --- the API, through curl
start_sim api --model "$MODEL" --served-model-name "$MODEL" qwen --lora-modules sql=/adapters/sql \
	--time-scale 0.05 --seed 7 || not_ok "vllm-sim starts and answers /health" "$(cat "$T_LOGDIR/api.log")"
P=$PORT

models=$(curl -s "http://$HOST:$P/v1/models")
check_eq "models list holds every served name and the adapter" "$MODEL,qwen,sql" \
	"$(echo "$models" | jget 'j.data.map(m=>m.id).join()')"
check_eq "an adapter's parent is the base model" "$MODEL" "$(echo "$models" | jget 'j.data[2].parent')"

r=$(post $P /v1/chat/completions "$(chat_body "$MODEL" "Hello there" 5)")
check_eq "chat answers with choices[0].message.content" "chat.completion assistant string" \
	"$(echo "$r" | jget '[j.object, j.choices[0].message.role, typeof j.choices[0].message.content].join(" ")')"
check_eq "chat honours max_tokens" "5 length" \
	"$(echo "$r" | jget 'j.usage.completion_tokens+" "+j.choices[0].finish_reason')"
check_eq "chat content is ~4 characters per token" "20" "$(echo "$r" | jget 'j.choices[0].message.content.length')"
check_eq "chat response has id, created, model" "chatcmpl- number $MODEL" \
	"$(echo "$r" | jget '[j.id.slice(0,9), typeof j.created, j.model].join(" ")')"

r=$(post $P /v1/completions '{"model":"qwen","prompt":"Once upon a time","max_tokens":3}')
check_eq "completion answers with choices[0].text and usage" "text_completion 3 4 7" \
	"$(echo "$r" | jget '[j.object, j.usage.completion_tokens, j.usage.prompt_tokens, j.usage.total_tokens].join(" ")')"

r=$(post $P /v1/completions '{"model":"qwen","prompt":"Once upon a time","max_tokens":3,"seed":1}')
r2=$(post $P /v1/completions '{"model":"qwen","prompt":"Once upon a time","max_tokens":3,"seed":1}')
check_eq "answers repeat under the same seeds" "$(echo "$r" | jget 'j.choices[0].text')" \
	"$(echo "$r2" | jget 'j.choices[0].text')"

sse=$(post $P /v1/chat/completions "$(chat_body qwen "Stream please" 4 1)")
check_eq "SSE stream ends with data: [DONE]" "data: [DONE]" "$(echo "$sse" | grep -v '^$' | tail -1)"
check_eq "SSE stream has a role chunk and one content chunk per token" "1 4" \
	"$(echo "$sse" | grep -c '"role":"assistant"') $(echo "$sse" | grep -c '"delta":{"content":"[^"]')"
check_eq "include_usage adds a usage chunk with empty choices" "0 4" \
	"$(echo "$sse" | grep '"usage"' | sed 's/^data: //' | jget 'j.choices.length+" "+j.usage.completion_tokens')"
check_eq "the last content chunk carries finish_reason" "length" \
	"$(echo "$sse" | grep '"finish_reason":"' | sed 's/^data: //' | jget 'j.choices[0].finish_reason')"
ctype=$(curl -s -o /dev/null -w '%{content_type}' -H 'content-type: application/json' \
	"http://$HOST:$P/v1/completions" -d '{"model":"qwen","prompt":"x","max_tokens":2,"stream":true}')
check_eq "SSE content type" "text/event-stream; charset=utf-8" "$ctype"

code=$(curl -s -o "$T_LOGDIR/404.json" -w '%{http_code}' "http://$HOST:$P/v1/chat/completions" \
	-d "$(chat_body nosuch hi 2)")
check_eq "unknown model is 404 with vLLM's error object" "404 NotFoundError 404 null The model \`nosuch\` does not exist." \
	"$code $(jget '[j.error.type, j.error.code, JSON.stringify(j.error.param), j.error.message].join(" ")' <"$T_LOGDIR/404.json")"
code=$(curl -s -o "$T_LOGDIR/400.json" -w '%{http_code}' "http://$HOST:$P/v1/chat/completions" -d '{"model":')
check_eq "bad JSON is 400 BadRequestError" "400 BadRequestError" \
	"$code $(jget 'j.error.type' <"$T_LOGDIR/400.json")"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$P/v1/chat/completions" -d '{"model":"qwen"}')
check_eq "chat without messages is 400" "400" "$code"
code=$(curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$P/v1/completions" \
	-d '{"model":"qwen","prompt":"x","max_tokens":100000}')
check_eq "prompt plus max_tokens over max-model-len is 400" "400" "$code"
check_eq "/health is 200" "200" "$(curl -s -o /dev/null -w '%{http_code}' "http://$HOST:$P/health")"

conns=$(curl -s -o /dev/null -o /dev/null -w '%{num_connects} ' "http://$HOST:$P/v1/models" "http://$HOST:$P/health")
check_eq "keep-alive: two requests over one connection" "1 0 " "$conns"
conns=$(curl -s -o /dev/null -w '%{num_connects} ' "http://$HOST:$P/v1/chat/completions" \
	-d "$(chat_body qwen "first" 3 1)" --next -s -o /dev/null -w '%{num_connects} ' \
	"http://$HOST:$P/v1/chat/completions" -d "$(chat_body qwen "second" 3)")
check_eq "keep-alive: a plain request after an SSE stream reuses the connection" "1 0 " "$conns"

r=$(post $P /v1/chat/completions "$(chat_body sql "adapter please" 3)")
check_eq "a LoRA adapter is served by name" "sql 3" "$(echo "$r" | jget 'j.model+" "+j.usage.completion_tokens')"

metrics=$(curl -s "http://$HOST:$P/metrics")
missing=""
for m in vllm:num_requests_waiting vllm:num_requests_running vllm:kv_cache_usage_perc vllm:lora_requests_info \
	vllm:cache_config_info vllm:time_to_first_token_seconds_bucket vllm:time_per_output_token_seconds_count \
	vllm:prefix_cache_hits_total; do
	echo "$metrics" | grep -q "^$m{.*model_name=\"$MODEL\"" || missing+=" $m"
done
check_eq "vLLM metric names, each with model_name" "" "$missing"
check_eq "cache_config_info gives block_size and num_gpu_blocks" "16 2048" \
	"$(echo "$metrics" | sed -n 's/^vllm:cache_config_info{.*block_size="\([0-9]*\)".*num_gpu_blocks="\([0-9]*\)".*/\1 \2/p')"
check_eq "lora_requests_info has max_lora and its value is a timestamp" "1 yes" \
	"$(echo "$metrics" | awk '/^vllm:lora_requests_info/ {match($0, /max_lora="[0-9]+"/); print substr($0, RSTART+10, RLENGTH-11), ($NF > 1.6e9 ? "yes" : "no")}')"
check_eq "the old gpu_cache_usage_perc is off without --legacy-metrics" "0" \
	"$(echo "$metrics" | grep -c '^vllm:gpu_cache_usage_perc')"

# --- the openai npm package
if [ ! -d "$NODE_DIR/node_modules/openai" ]; then
	(cd "$NODE_DIR" && npm install --no-audit --no-fund) >"$T_LOGDIR/npm.log" 2>&1
fi
out=$(node "$NODE_DIR/openai-client.mjs" "http://$HOST:$P/v1" "$MODEL" 0 "Hi from node" 6 2>&1)
check_eq "openai package, non-streaming: content and usage" "24 usage 16 6" \
	"$(echo "$out" | head -1 | tr -d '\n' | wc -c) $(echo "$out" | tail -1)"
out=$(node "$NODE_DIR/openai-client.mjs" "http://$HOST:$P/v1" qwen 1 "Hi from node" 6 2>&1)
check_eq "openai package, streaming: content and usage" "24 usage 16 6" \
	"$(echo "$out" | head -1 | tr -d '\n' | wc -c) $(echo "$out" | tail -1)"

# --- a batch and a waiting queue
# At real speed a batch of two 200-token requests decodes for about 2 s, so the queue holds
# 2 running and 8 waiting long after the last request arrives (at 0.05 it drained in 0.5 s,
# and the sample could land between two batches).
start_sim queue --model m --max-num-seqs 2 --time-scale 1 || not_ok "queue simulator starts"
Q=$PORT
check_eq "the queue is empty at rest" "0.0 0.0" "$(metric $Q vllm:num_requests_waiting) $(metric $Q vllm:num_requests_running)"
clients=()
for i in $(seq 1 10); do
	curl -s -o /dev/null "http://$HOST:$Q/v1/completions" \
		-d "{\"model\":\"m\",\"prompt\":\"load $i\",\"max_tokens\":200,\"ignore_eos\":true,\"stream\":true}" &
	clients+=($!)
done
wait_for 3 bash -c "[ \"\$(curl -s http://$HOST:$Q/metrics | awk '/^vllm:num_requests_waiting/ {print int(\$2)}')\" -ge 8 ]"
check_eq "10 requests over max-num-seqs 2: 2 running, the rest waiting" "2.0 8.0" \
	"$(metric $Q vllm:num_requests_running) $(metric $Q vllm:num_requests_waiting)"
kv=$(metric $Q vllm:kv_cache_usage_perc)
check_cmd "KV cache usage rises with the batch ($kv)" awk -v v="$kv" 'BEGIN { exit !(v > 0) }'
kill "${clients[@]}" 2>/dev/null # the queue is what was measured, not the answers
wait "${clients[@]}" 2>/dev/null

# --- prefix-cache affinity: one warm pod against four cold pods picked at random
PREFIX=$(printf 'You are a helpful assistant for the inferlb project. %.0s' $(seq 1 120))
SIMARGS=(--model m --time-scale 0.2 --seed 1)
start_sim affinity "${SIMARGS[@]}" || not_ok "affinity pod starts"
AFF=$PORT
SPREAD=()
for i in 1 2 3 4; do
	start_sim "spread$i" "${SIMARGS[@]}" || not_ok "spread pod $i starts"
	SPREAD+=("$PORT")
done
ttft() { # PORT QUESTION
	curl -s -o /dev/null -w '%{time_starttransfer}\n' "http://$HOST:$1/v1/chat/completions" \
		-d "{\"model\":\"m\",\"max_tokens\":2,\"stream\":true,\"messages\":[{\"role\":\"system\",\"content\":\"$PREFIX\"},{\"role\":\"user\",\"content\":\"$2\"}]}"
}
RANDOM=42
aff_sum=0
spread_sum=0
for q in $(seq 1 12); do
	aff_sum=$(awk -v a="$aff_sum" -v b="$(ttft $AFF "question $q")" 'BEGIN { print a + b }')
	pod=${SPREAD[$((RANDOM % 4))]}
	spread_sum=$(awk -v a="$spread_sum" -v b="$(ttft "$pod" "question $q")" 'BEGIN { print a + b }')
done
check_cmd "shared prefix: one pod's TTFT ($aff_sum s for 12) beats four cold pods' ($spread_sum s)" \
	awk -v a="$aff_sum" -v s="$spread_sum" 'BEGIN { exit !(a * 1.5 < s) }'
hits=$(metric $AFF vllm:prefix_cache_hits_total)
check_cmd "the warm pod reports prefix-cache hits ($hits tokens)" awk -v h="$hits" 'BEGIN { exit !(h > 11 * 800) }'

# --- LoRA slots
start_sim lora --model base --lora-modules a=/l/a b=/l/b --max-loras 1 --time-scale 0.05 || not_ok "lora pod starts"
L=$PORT
curl -s -o /dev/null "http://$HOST:$L/v1/completions" -d '{"model":"a","prompt":"x","max_tokens":300,"ignore_eos":true}' &
clients=($!)
wait_for 3 bash -c "curl -s http://$HOST:$L/metrics | grep -q 'running_lora_adapters=\"a\"'"
curl -s -o /dev/null "http://$HOST:$L/v1/completions" -d '{"model":"b","prompt":"x","max_tokens":2}' &
clients+=($!)
wait_for 3 bash -c "curl -s http://$HOST:$L/metrics | grep -q 'waiting_lora_adapters=\"b\"'"
check_eq "max-loras 1: a runs, b waits for the slot" 'running_lora_adapters="a",waiting_lora_adapters="b"' \
	"$(curl -s "http://$HOST:$L/metrics" | grep -o 'running_lora_adapters="[^"]*",waiting_lora_adapters="[^"]*"')"
wait "${clients[@]}"
t1=$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://$HOST:$L/v1/completions" -d '{"model":"a","prompt":"y","max_tokens":2,"stream":true}')
t2=$(curl -s -o /dev/null -w '%{time_starttransfer}' "http://$HOST:$L/v1/completions" -d '{"model":"a","prompt":"z","max_tokens":2,"stream":true}')
check_cmd "loading an adapter into the slot costs time once ($t1 s, then $t2 s)" \
	awk -v a="$t1" -v b="$t2" 'BEGIN { exit !(a > b + 0.005) }'

# --- other engines' metric names, legacy names
start_sim sglang --model m --engine sglang --time-scale 0 || not_ok "sglang pod starts"
check_cmd "--engine sglang exposes sglang:num_queue_reqs, num_running_reqs, token_usage" bash -c \
	"curl -s http://$HOST:$PORT/metrics | grep -c -E '^sglang:(num_queue_reqs|num_running_reqs|token_usage)\\{model_name=\"m\"\\}' | grep -qx 3"
start_sim trtllm --model m --engine trtllm --time-scale 0 || not_ok "trtllm pod starts"
check_cmd "--engine trtllm exposes trtllm_num_requests_waiting, _running, kv_cache_utilization" bash -c \
	"curl -s http://$HOST:$PORT/metrics | grep -c -E '^trtllm_(num_requests_waiting|num_requests_running|kv_cache_utilization)\\{' | grep -qx 3"
start_sim legacy --model m --legacy-metrics --time-scale 0 || not_ok "legacy pod starts"
check_cmd "--legacy-metrics adds vllm:gpu_cache_usage_perc" bash -c \
	"curl -s http://$HOST:$PORT/metrics | grep -q '^vllm:gpu_cache_usage_perc{'"

# --- instant mode and many concurrent streams
start_sim instant --model m --time-scale 0 || not_ok "instant pod starts"
r=$(post "$PORT" /v1/completions '{"model":"m","prompt":"fast","max_tokens":64,"ignore_eos":true}')
check_eq "--time-scale 0 answers at once with the full length" "64" "$(echo "$r" | jget 'j.usage.completion_tokens')"
start_sim streams --model m --time-scale 0.05 || not_ok "streams pod starts"
check_eq "1000 concurrent SSE streams all complete" "done 1000 of 1000" \
	"$(timeout 60 node "$NODE_DIR/streams.mjs" "http://$HOST:$PORT/v1/chat/completions" m 1000 16 2>&1)"
check_eq "the streams pod is idle after them" "0.0 0.0" \
	"$(metric "$PORT" vllm:num_requests_running) $(metric "$PORT" vllm:num_requests_waiting)"

check_cmd "bad flags are refused with a hint" bash -c "'$SIM' --bogus 2>&1 | grep -q 'Use --help'"
check_cmd "--help lists the flags" bash -c "'$SIM' --help | grep -q -- '--served-model-name'"

t_done
