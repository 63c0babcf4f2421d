#!/usr/bin/env bash
# test_demo - `make demo` and `make demo-up` / `make demo-down` (tools/demo/demo.sh) as a user
# runs them: the seed's answer and the final table, the scale-from-zero step (a request to the
# Service smollm held until the demo's scaler starts a pod, then answered), nothing left behind
# after a run, an interrupted run (also while the scaler's pod starts) or a failed step; up and
# down twice each; build/demo.env answers the seed's
# curl. DEMO_QUICK keeps the load small (32 requests, vllm-sim's clock x0.1).
set -u
source "$(dirname "$0")/../lib.sh"
t_init
DEMO=$ROOT/tools/demo/demo.sh
ENV_FILE=$BUILD/demo.env
export DEMO_QUICK=1 INFERLB_BUILD=$BUILD

# leftovers: what a demo may have left: its namespaces, pins, state dir, env file, processes.
leftovers() {
	ip netns list | awk '$1 ~ /^ilbdemo/ { print "netns " $1 }'
	[ -e /sys/fs/bpf/ilbdemo ] && echo "pin dir /sys/fs/bpf/ilbdemo"
	[ -e /run/inferlb-demo ] && echo "state /run/inferlb-demo"
	[ -e "$ENV_FILE" ] && echo "env $ENV_FILE"
	ps -eo pid=,args= | awk '/ilbdemo|inferlb-demo|\/demo\/manifests|--host 10\.244\.[0-9]+\.2/ && !/awk/ { print "process " $0 }'
	return 0
}

check_clean() {
	local left
	left=$(leftovers)
	if [ -z "$left" ]; then ok "$1: nothing left behind"; else not_ok "$1: nothing left behind" "$(head -5 <<<"$left")"; fi
}

if [ -n "$(leftovers)" ]; then
	echo "ok 1 # SKIP a demo is running on this machine (make demo-down first): $(leftovers | head -1)"
	exit 0
fi
# Whatever a failing test leaves, the demo's own 'down' removes.
on_cleanup "$DEMO" down

# make demo, stdin not a terminal.
start=$SECONDS
timeout --kill-after=20 300 "$DEMO" run </dev/null >"$T_LOGDIR/run.out" 2>&1
rc=$? took=$((SECONDS - start))
if [ "$rc" -eq 0 ] && [ "$took" -lt 300 ]; then ok "demo.sh run exits 0 by itself (${took}s)"; else
	not_ok "demo.sh run exits 0 by itself" "exit $rc after ${took}s" "$(tail -5 "$T_LOGDIR/run.out")"
fi
out=$(cat "$T_LOGDIR/run.out")
if grep -q '^{"id":"chatcmpl-.*"choices":\[{"index":0,"message":{"role":"assistant","content":"' <<<"$out"; then
	ok "the seed's curl is answered with choices"
else
	not_ok "the seed's curl is answered with choices" "$(grep -A2 "step 5" <<<"$out" | head -3)"
fi
if grep -q '"object":"text_completion".*"model":"sql-lora' <<<"$out"; then ok "sql-assistant is answered by its LoRA adapter on the llama pool"; else
	not_ok "sql-assistant is answered by its LoRA adapter" "$(grep -A3 "model routing" <<<"$out" | head -4)"
fi
n_top=$(grep -c '^inferlb top ' <<<"$out")
if [ "$n_top" -ge 2 ] && grep -q '^default/qwen .*ready 3/3' <<<"$out" && grep -q 'Lane counters' <<<"$out"; then
	ok "inferlb top prints periodic text while the load runs ($n_top refreshes)"
else
	not_ok "inferlb top prints periodic text while the load runs" "refreshes: $n_top"
fi
row='[0-9]+\.[0-9] ms +[0-9]+\.[0-9] ms +[0-9]+\.[0-9]{2} ms +0 +[0-9]+% hit +[0-9]+/[0-9]+/[0-9]+$'
table=$(grep -A3 '^The same 32 shared-prefix requests' <<<"$out")
if grep -Eq "^  inferlb +$row" <<<"$table" && grep -Eq "^  round-robin +$row" <<<"$table"; then
	ok "the final table: inferlb and round-robin, TTFT p50/p90, TPOT p90, no errors"
else
	not_ok "the final table" "$table" "$(tail -3 <<<"$out")"
fi
sums=$(grep -E '^  (inferlb|round-robin) ' <<<"$table" | awk '{ n = split($NF, r, "/"); s = 0; for (i = 1; i <= n; i++) s += r[i]; printf "%d ", s }')
check_eq "the qwen pods finished the 32 requests of each run" "32 32 " "$sums"
# Scale from zero: the request is pending, the scaler starts the pod, then the answer (200).
sfz=$(sed -n '/^==> scale from zero/,/^==> removing/p' <<<"$out")
order=$(grep -nE '^scaler: default/smollm has [1-9][0-9]* pending request|^scaler: pod ilbdemo-smollm-1 .* started|^answered: HTTP 200 after [0-9]+ ms waiting' <<<"$sfz" |
	cut -d: -f1 | tr '\n' ' ')
waited=$(grep -oE '^answered: HTTP 200 after [0-9]+ ms' <<<"$sfz" | grep -oE '[0-9]+ ms$')
if [ "$(wc -w <<<"$order")" -eq 3 ] && tr ' ' '\n' <<<"${order% }" | sort -nC &&
	grep -q '^{"id":"chatcmpl-.*"model":"HuggingFaceTB/SmolLM2-360M-Instruct","choices":\[{' <<<"$sfz" &&
	grep -q '^content: .' <<<"$sfz"; then
	ok "scale from zero: smollm's request pending, the scaler starts ilbdemo-smollm-1, answered 200 after $waited"
else
	not_ok "scale from zero: pending, the scaler's pod, answered 200 with the wait time" "${sfz:0:1500}"
fi
if grep -Eq '^default/smollm .* 0/0 +[0-9]+ +1 ' <<<"$sfz" && grep -Eq '^default/smollm .* 1/1 +[0-9]+ +0 ' <<<"$sfz"; then
	ok "inferlb pools: smollm with no pod and 1 pending, then 1/1 with none"
else
	not_ok "inferlb pools: smollm pending 1, then 1/1 with none" "$(grep '^default/smollm' <<<"$sfz")"
fi
check_clean "after demo.sh run"

# up twice: one topology; demo.env's gateway answers the seed's curl; down twice.
"$DEMO" up </dev/null >"$T_LOGDIR/up1.out" 2>&1
rc1=$?
agent1=$(pgrep -f -- '--socket /run/inferlb-demo/agent.sock' | head -1)
"$DEMO" up </dev/null >"$T_LOGDIR/up2.out" 2>&1
rc2=$?
agents=$(pgrep -f -- '--socket /run/inferlb-demo/agent.sock' | tr '\n' ' ')
n_ns=$(ip netns list | grep -c '^ilbdemo')
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$n_ns" -eq 6 ] && [ -n "$agent1" ] && [ "$agents" == "$agent1 " ]; then
	ok "demo.sh up twice: one topology (6 namespaces, agent $agent1)"
else
	not_ok "demo.sh up twice: one topology" "exits $rc1 $rc2, namespaces $n_ns, agents '$agents' (first $agent1)" \
		"$(tail -3 "$T_LOGDIR/up1.out")" "$(tail -3 "$T_LOGDIR/up2.out")"
fi
if grep -q "ip netns exec \$CLIENT_NS curl http://\${GATEWAY_HOST}:8888/v1/chat/completions" "$T_LOGDIR/up1.out" &&
	grep -q 'inferlb --socket /run/inferlb-demo/agent.sock .* top' "$T_LOGDIR/up1.out"; then
	ok "demo.sh up says how to send the seed's curl and how to run inferlb top"
else
	not_ok "demo.sh up says how to send the seed's curl and run top" "$(tail -12 "$T_LOGDIR/up1.out")"
fi
(
	GATEWAY_HOST="" GATEWAY_PORT="" CLIENT_NS="" CONTROL_SOCKET="" PIN_DIR=""
	# shellcheck disable=SC1090
	source "$ENV_FILE" || exit 1
	[ "$GATEWAY_PORT" == 8888 ] && [ -n "$GATEWAY_HOST" ] && [ -n "$CLIENT_NS" ] && [ -S "$CONTROL_SOCKET" ] && [ -d "$PIN_DIR" ] || exit 2
	# the guide's step 5 (tools/lib/topology.sh) to what demo.env names
	NS_CLIENT=$CLIENT_NS GW=$GATEWAY_HOST GW_PORT=$GATEWAY_PORT seed_curl
) >"$T_LOGDIR/env_curl.out" 2>&1
rc=$?
if [ "$rc" -eq 0 ] && grep -q '"choices":\[{' "$T_LOGDIR/env_curl.out" && grep -q '"content":"' "$T_LOGDIR/env_curl.out"; then
	ok "build/demo.env: the seed's curl from CLIENT_NS to GATEWAY_HOST:8888 gets choices"
else
	not_ok "build/demo.env: the seed's curl gets choices" "exit $rc: $(head -c 300 "$T_LOGDIR/env_curl.out")" "$(cat "$ENV_FILE" 2>&1)"
fi
out=$("$BUILD/inferlb" --socket /run/inferlb-demo/agent.sock pools 2>&1)
if grep -q '^default/qwen .*3/3' <<<"$out" && grep -q '^default/llama .*1/1' <<<"$out"; then ok "inferlb pools on the demo's socket: qwen 3/3, llama 1/1"; else
	not_ok "inferlb pools on the demo's socket" "$out"
fi
"$DEMO" down </dev/null >"$T_LOGDIR/down1.out" 2>&1
rc1=$?
check_clean "after demo.sh down"
"$DEMO" down </dev/null >"$T_LOGDIR/down2.out" 2>&1
rc2=$?
if [ "$rc1" -eq 0 ] && [ "$rc2" -eq 0 ]; then ok "demo.sh down twice exits 0 both times"; else
	not_ok "demo.sh down twice exits 0" "exits $rc1 $rc2" "$(cat "$T_LOGDIR/down2.out")"
fi

# interrupted: SIGINT once the agent is up, and once the load is running.
# interrupt_at DESC MARKER [NS]: SIGINT a second after MARKER is printed (NS must exist then).
interrupt_at() {
	local desc=$1 marker=$2 ns=${3:-} pid rc start had_ns=
	# A background job of a script ignores SIGINT unless told otherwise.
	env --default-signal=INT "$DEMO" run </dev/null >"$T_LOGDIR/int.out" 2>&1 &
	pid=$!
	wait_for 60 grep -q "$marker" "$T_LOGDIR/int.out"
	sleep 1
	[ -n "$ns" ] && [ -e "/run/netns/$ns" ] && had_ns=1
	kill -INT "$pid"
	start=$SECONDS
	wait "$pid"
	rc=$?
	if [ "$rc" -eq 130 ] && grep -q '^demo: failed at step: ' "$T_LOGDIR/int.out" && { [ -z "$ns" ] || [ -n "$had_ns" ]; }; then
		ok "SIGINT $desc: exit 130 after $((SECONDS - start))s, the step named${ns:+ ($ns existed)}"
	else
		not_ok "SIGINT $desc: exit 130, the step named${ns:+, $ns existed}" "exit $rc${ns:+, $ns existed: ${had_ns:-no}}" \
			"$(tail -3 "$T_LOGDIR/int.out")"
	fi
	check_clean "SIGINT $desc"
}
interrupt_at "with the agent up" '^==> agent'
interrupt_at "during the load" '^==> shared-prefix load through inferlb'
# (the scaler's pod takes DEMO_COLD_START, 2 s, to start: the SIGINT comes while it starts)
interrupt_at "while the scaler's pod starts" '^scaler: default/smollm has 1 pending' ilbdemo-smollm-1

# A step that fails: a model server that does not start.
fake=$T_LOGDIR/fakebuild
mkdir -p "$fake"
for b in inferlb-agent inferlb loadgen; do ln -s "$BUILD/$b" "$fake/$b"; done
printf '#!/bin/sh\necho "vllm-sim: no GPU today" >&2\nexit 1\n' >"$fake/vllm-sim"
chmod +x "$fake/vllm-sim"
INFERLB_BUILD=$fake "$DEMO" run </dev/null >"$T_LOGDIR/fail.out" 2>&1
rc=$?
failed=$(grep -c '^demo: failed at step: ' "$T_LOGDIR/fail.out")
if [ "$rc" -ne 0 ] && [ "$failed" -eq 1 ] && grep -q '^demo: failed at step: pods' "$T_LOGDIR/fail.out"; then
	ok "a failing step: exit $rc, named in one line ($(grep '^demo: failed' "$T_LOGDIR/fail.out"))"
else
	not_ok "a failing step: non-zero exit, named in one line" "exit $rc" "$(tail -3 "$T_LOGDIR/fail.out")"
fi
check_clean "after a failing step"

t_done
