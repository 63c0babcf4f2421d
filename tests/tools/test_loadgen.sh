#!/usr/bin/env bash
# test_loadgen.sh - loadgen against loadgen-testsrv, whose timing and failures are known:
# percentiles, counts by status, timeouts, keep-alive and Connection: close, the open
# loop's Poisson rate, 1,000 concurrent streams, seeded workloads and the JSON outputs.
set -uo pipefail
source "$(dirname "$0")/../lib.sh"
t_init

LG=$BUILD/loadgen
SRV=$BUILD/loadgen-testsrv
# eight ports from 17300 up, offset by pid so that two runs side by side do not collide
PORT=$((17300 + ($$ % 80) * 8))
D=$T_LOGDIR

for b in "$LG" "$SRV"; do
	[ -x "$b" ] || { not_ok "$(basename "$b") is built" "missing: $b (make build/loadgen build/loadgen-testsrv)"; t_done; exit 1; }
done

# within DESC VALUE LO HI: passes when LO <= VALUE <= HI.
within() {
	if awk -v v="$2" -v lo="$3" -v hi="$4" 'BEGIN { exit !(v != "" && v != "null" && v >= lo && v <= hi) }'; then
		ok "$1 ($2)"
	else
		not_ok "$1" "expected: $3 .. $4" "got:      $2"
	fi
}

# srv NAME PORT ARGS...: starts a test server and waits until it answers.
srv() {
	local name=$1 port=$2
	shift 2
	bg "$name" "$SRV" --listen "127.0.0.1:$port" "$@"
	wait_for 5 curl -sf "http://127.0.0.1:$port/stats" || not_ok "server $name starts" "$(cat "$D/$name.log")"
}

stop() {
	local v="PID_$1"
	kill "${!v}" 2>/dev/null
	wait "${!v}" 2>/dev/null
}

# --- flags
out=$("$LG" --help)
missing=""
for f in url host header netns model workload seed qps concurrency duration requests timeout stream \
	no-stream groups prompts-per-group system-tokens question-tokens output-tokens prompt-bytes \
	json records dump-requests dry-run; do
	grep -q -- "--$f" <<<"$out" || missing+=" --$f"
done
check_eq "--help lists every option" "" "$missing"
out=$("$LG" --bogus 2>&1)
check_eq "an unknown option fails and points to --help" "1 Use --help for the options." "$? $(tail -n1 <<<"$out")"
"$LG" --dry-run --requests 1 --workload lora-mix >/dev/null 2>&1
check_eq "lora-mix without adapters is refused" 1 $?

# --- seeded workloads
SP=(--workload shared-prefix --groups 6 --prompts-per-group 4 --system-tokens 100 --question-tokens 20)
for w in shared-prefix sharegpt-like long-prompt "lora-mix --model base --model ad1"; do
	# shellcheck disable=SC2086
	"$LG" --dry-run --requests 30 --seed 7 --workload $w --dump-requests "$D/a.jsonl"
	# shellcheck disable=SC2086
	"$LG" --dry-run --requests 30 --seed 7 --workload $w --dump-requests "$D/b.jsonl"
	# shellcheck disable=SC2086
	"$LG" --dry-run --requests 30 --seed 8 --workload $w --dump-requests "$D/c.jsonl"
	check_cmd "${w%% *}: same seed, same 30 bodies" cmp "$D/a.jsonl" "$D/b.jsonl"
	check_cmd "${w%% *}: another seed, other bodies" bash -c "! cmp -s '$D/a.jsonl' '$D/c.jsonl'"
done

"$LG" --dry-run --requests 24 "${SP[@]}" --dump-requests "$D/sp.jsonl"
check_eq "shared-prefix: 24 prompts over 6 system prompts, 4 each" "4 4 4 4 4 4" \
	"$(jq -r '.messages[0].content' "$D/sp.jsonl" | sort | uniq -c | awk '{print $1}' | xargs)"
check_eq "shared-prefix: the system prompt is system-tokens x 4 characters" 400 \
	"$(jq -r '.messages[0].content | length' "$D/sp.jsonl" | sort -u | xargs)"
check_eq "shared-prefix: every (group, question) pair once per pass" 24 \
	"$(jq -c '.messages' "$D/sp.jsonl" | sort -u | wc -l)"
"$LG" --dry-run --requests 24 "${SP[@]}" --url http://127.0.0.1:1/v1/completions --dump-requests "$D/spc.jsonl"
check_eq "shared-prefix completions: prompts share their group's 400-character prefix" "6 24" \
	"$(jq -r '.prompt[0:400]' "$D/spc.jsonl" | sort -u | wc -l) $(jq -c '.prompt' "$D/spc.jsonl" | sort -u | wc -l)"
check_eq "shared-prefix completions: prefix and question are what chat sends" \
	"$(jq -r '.messages[0].content + "\n\n" + .messages[1].content' "$D/sp.jsonl" | md5sum)" \
	"$(jq -r '.prompt' "$D/spc.jsonl" | md5sum)"

"$LG" --dry-run --requests 3000 --workload sharegpt-like --dump-requests "$D/sg.jsonl"
read -r in_mean out_mean in_max out_max < <(jq -r '[(.messages[0].content | length) / 4, .max_tokens] | @tsv' "$D/sg.jsonl" |
	awk '{ i += $1; o += $2; if ($1 > mi) mi = $1; if ($2 > mo) mo = $2 } END { print i / NR, o / NR, mi, mo }')
within "sharegpt-like: mean input tokens" "$in_mean" 200 300
within "sharegpt-like: mean output tokens" "$out_mean" 170 230
within "sharegpt-like: input capped at 4096" "$in_max" 1000 4096
within "sharegpt-like: output capped at 2048" "$out_max" 500 2048

"$LG" --dry-run --requests 2 --workload long-prompt --dump-requests "$D/lp.jsonl"
check_eq "long-prompt: 220 KB prompts" "225280" "$(jq -r '.messages[0].content | length' "$D/lp.jsonl" | sort -u | xargs)"

"$LG" --dry-run --requests 4000 --workload lora-mix --model base:2 --model ad1 --model ad2 --dump-requests "$D/lm.jsonl"
within "lora-mix: base:2 ad1 ad2 sends half to the base" "$(jq -r .model "$D/lm.jsonl" | grep -c '^base$')" 1880 2120
check_eq "lora-mix: every adapter is used" "3" "$(jq -r .model "$D/lm.jsonl" | sort -u | wc -l)"

# --- measured against a server with known timing
P=$PORT
srv fixed $P --latency-ms 20 --interval-ms 5 --tokens 10
URL=http://127.0.0.1:$P/v1/chat/completions
"$LG" --url "$URL" --concurrency 8 --requests 200 --quiet --json "$D/s.json" --records "$D/s.rec" \
	--host model.example --header "x-loadgen-test: yes"
check_eq "stream: 200 requests, all ok" "200 200 0" "$(jq -r '[.requests.total, .requests.ok, .errors.total] | @tsv' "$D/s.json" | xargs)"
within "stream: TTFT p50 ~ 20 ms (the role chunk before it does not count)" "$(jq .ttft_ms.p50 "$D/s.json")" 19.5 26
within "stream: TTFT p99 ~ 20 ms" "$(jq .ttft_ms.p99 "$D/s.json")" 19.5 40
within "stream: TPOT p50 ~ 5 ms" "$(jq .tpot_ms.p50 "$D/s.json")" 4.7 5.6
within "stream: TPOT p90 ~ 5 ms" "$(jq .tpot_ms.p90 "$D/s.json")" 4.7 7
within "stream: E2E p50 ~ 20 + 9 x 5 ms" "$(jq .e2e_ms.p50 "$D/s.json")" 64.5 75
check_eq "stream: output tokens from usage" 2000 "$(jq .tokens.output "$D/s.json")"
check_eq "stream: keep-alive, one connection per stream" 8 "$(jq .connections.opened "$D/s.json")"
stats=$(curl -s "http://127.0.0.1:$P/stats")
check_eq "stream: the server saw 200 requests on 8 connections (+2 asking /stats)" "200 10" \
	"$(jq -r '[.requests, .connections] | @tsv' <<<"$stats" | xargs)"
check_eq "--host and --header are sent" "model.example yes" "$(jq -r '[.last_host, .last_test_header] | @tsv' <<<"$stats" | xargs)"
check_eq "records: one line per request" 200 "$(wc -l <"$D/s.rec")"
check_eq "records: every line has its fields" 200 \
	"$(jq -c 'select(has("index") and has("status") and has("error") and has("ttft_ms") and has("tpot_ms") and has("e2e_ms") and has("out_tokens") and has("bytes_recv"))' "$D/s.rec" | wc -l)"
missing=$(jq -r '[["config","duration_s","requests","errors","error_samples","throughput","ttft_ms","tpot_ms","e2e_ms","tokens","bytes","connections","models"][] as $k | select(has($k) | not) | $k] + [("ttft_ms","tpot_ms","e2e_ms") as $m | ("n","mean","p50","p90","p99","min","max") as $f | select(.[$m] | has($f) | not) | "\($m).\($f)"] + [("req_per_s","output_tokens_per_s","offered_qps") as $f | select(.throughput | has($f) | not) | $f] | join(" ")' "$D/s.json")
check_eq "json: every summary field is there" "" "$missing"

"$LG" --url "http://127.0.0.1:$P/v1/completions" --concurrency 4 --requests 40 --quiet --json "$D/c.json"
check_eq "completions endpoint, streaming: all ok" "40 400" "$(jq -r '[.requests.ok, .tokens.output] | @tsv' "$D/c.json" | xargs)"
"$LG" --url "$URL" --no-stream --concurrency 4 --requests 40 --quiet --json "$D/n.json"
check_eq "no-stream: all ok, tokens from usage" "40 400" "$(jq -r '[.requests.ok, .tokens.output] | @tsv' "$D/n.json" | xargs)"
within "no-stream: TTFT (first byte) p50 ~ 20 ms" "$(jq .ttft_ms.p50 "$D/n.json")" 19.5 26
within "no-stream: E2E p50 ~ 20 ms" "$(jq .e2e_ms.p50 "$D/n.json")" 19.5 26
check_eq "no-stream: no TPOT without a stream" 0 "$(jq .tpot_ms.n "$D/n.json")"
stop fixed

# delays 20, 30, ..., 110 ms, 20 requests each: p50 65, p90 101, p99 110 (interpolated)
srv steps $((P + 1)) --latency-ms 20 --latency-step-ms 10
"$LG" --url "http://127.0.0.1:$((P + 1))/v1/chat/completions" --no-stream --concurrency 10 --requests 200 --quiet --json "$D/st.json"
within "known distribution: p50 ~ 65 ms" "$(jq .e2e_ms.p50 "$D/st.json")" 64 70
within "known distribution: p90 ~ 101 ms" "$(jq .e2e_ms.p90 "$D/st.json")" 100 110
within "known distribution: p99 ~ 110 ms" "$(jq .e2e_ms.p99 "$D/st.json")" 109 125
within "known distribution: min ~ 20 ms" "$(jq .e2e_ms.min "$D/st.json")" 19.5 24
stop steps

# --- errors: every 10th request 500, every 7th (not 10th) 429: 10 and 13 of 100
srv fail $((P + 2)) --latency-ms 5 --tokens 3 --fail 500:10 --fail 429:7
"$LG" --url "http://127.0.0.1:$((P + 2))/v1/chat/completions" --concurrency 4 --requests 100 --quiet --json "$D/e.json"
check_eq "errors by status: 500 x10, 429 x13, 77 ok" "10 13 77 23" \
	"$(jq -r '[.errors.by_status["500"], .errors.by_status["429"], .requests.ok, .errors.total] | @tsv' "$D/e.json" | xargs)"
check_eq "errors: the server's message is kept" "injected 500" "$(jq -r '.error_samples["500"]' "$D/e.json")"
check_eq "errors: latencies count successes only" 77 "$(jq .ttft_ms.n "$D/e.json")"
stop fail

# --- timeouts: every 10th request is never answered
srv hang $((P + 3)) --latency-ms 5 --tokens 3 --hang-every 10
"$LG" --url "http://127.0.0.1:$((P + 3))/v1/chat/completions" --concurrency 4 --requests 40 --timeout 0.3 --quiet --json "$D/h.json"
check_eq "timeouts: 4 of 40 time out, 36 ok" "4 36" "$(jq -r '[.errors.timeout, .requests.ok] | @tsv' "$D/h.json" | xargs)"
stop hang

# --- Connection: close on every 5th response: honoured, nothing lost
srv close $((P + 4)) --latency-ms 2 --tokens 3 --close-every 5
"$LG" --url "http://127.0.0.1:$((P + 4))/v1/chat/completions" --concurrency 2 --requests 50 --quiet --json "$D/cl.json"
check_eq "Connection: close: 50 ok, no I/O errors" "50 0" "$(jq -r '[.requests.ok, .errors.io] | @tsv' "$D/cl.json" | xargs)"
check_eq "Connection: close: 10 closes seen, a new connection after each but the last" "10 11" \
	"$(jq -r '[.connections.closed_by_server, .connections.opened] | @tsv' "$D/cl.json" | xargs)"
stop close

# --- connect errors: nothing listens
"$LG" --url "http://127.0.0.1:$((P + 7))/v1/chat/completions" --concurrency 2 --requests 5 --timeout 2 --quiet --json "$D/r.json"
check_eq "refused connections count as connect errors" "5 0" "$(jq -r '[.errors.connect, .requests.ok] | @tsv' "$D/r.json" | xargs)"

# --- open loop: Poisson arrivals at 200/s for 3 s
srv open $((P + 5)) --latency-ms 20 --interval-ms 5 --tokens 5
"$LG" --url "http://127.0.0.1:$((P + 5))/v1/chat/completions" --qps 200 --duration 3 --seed 3 --quiet \
	--json "$D/o.json" --records "$D/o.rec"
within "open loop: requests in 3 s at 200/s" "$(jq .requests.total "$D/o.json")" 540 660
within "open loop: offered rate ~ 200/s" "$(jq .throughput.offered_qps "$D/o.json")" 180 220
within "open loop: completed rate ~ 200/s" "$(jq .throughput.req_per_s "$D/o.json")" 170 220
cv=$(jq -r .t_sched_ms "$D/o.rec" | sort -n | awk 'NR > 1 { g = $1 - p; s += g; q += g * g; n++ } { p = $1 }
	END { m = s / n; print sqrt(q / n - m * m) / m }')
within "open loop: inter-arrival gaps are exponential (CV ~ 1)" "$cv" 0.85 1.15
within "open loop: TTFT p50 unaffected by the arrival pattern" "$(jq .ttft_ms.p50 "$D/o.json")" 19.5 26
stop open

# --- 1,000 concurrent streams from one thread (latency bounds are loose: the two processes
# share two cores with whatever else the machine runs)
srv many $((P + 6)) --latency-ms 100 --interval-ms 20 --tokens 10
"$LG" --url "http://127.0.0.1:$((P + 6))/v1/chat/completions" --concurrency 1000 --requests 3000 --quiet --json "$D/m.json"
check_eq "1,000 concurrent streams: 3000 ok over 1000 connections" "3000 1000" \
	"$(jq -r '[.requests.ok, .connections.opened] | @tsv' "$D/m.json" | xargs)"
within "1,000 concurrent streams: TTFT p50 ~ 100 ms" "$(jq .ttft_ms.p50 "$D/m.json")" 99 200
within "1,000 concurrent streams: TPOT p50 ~ 20 ms" "$(jq .tpot_ms.p50 "$D/m.json")" 19 30
stop many

# --- --netns: the server lives in a namespace of its own
NS=${T_PREFIX}lg
if netns_add "$NS"; then
	bg nssrv ip netns exec "$NS" "$SRV" --listen "127.0.0.1:$P" --latency-ms 2 --tokens 2
	wait_for 5 ip netns exec "$NS" curl -sf "http://127.0.0.1:$P/stats"
	"$LG" --netns "$NS" --url "http://127.0.0.1:$P/v1/chat/completions" --requests 5 --quiet --json "$D/ns.json"
	check_eq "--netns: requests reach a server only that namespace can see" 5 "$(jq .requests.ok "$D/ns.json")"
else
	not_ok "--netns: create a namespace" "ip netns add $NS failed"
fi

t_done
