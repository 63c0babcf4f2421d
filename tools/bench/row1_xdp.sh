#!/usr/bin/env bash
# row1_xdp.sh - the XDP fast path: ns/packet of xdp_steer for a SYN and for a known flow
# against the parse-and-pass floor (bpf/xdp_floor.bpf.c), all through BPF_PROG_TEST_RUN
# with repeat=1 in the same process (the method of DESIGN.md, "Measuring the XDP fast path").
set -u
source "$(dirname "$0")/lib.sh"
B_ROW=row1
mkdir -p "$BENCH_RESULTS"
TITLE="XDP fast path"

RUNS=${RUNS:-$([ -n "$QUICK" ] && echo 3 || echo 5)}
PACKETS=${PACKETS:-$([ -n "$QUICK" ] && echo 100000 || echo 200000)}
declare -a FLOOR KNOWN SYN REUSED KR SR RR
for r in $(seq 1 "$RUNS"); do
	j=$(taskset -c "$CPU_SUT" "$BUILD/tests/bpf/test_xdp_steer" --bench "$PACKETS" 2>/dev/null | grep '^{' | tail -1)
	[ -z "$j" ] && { row_not_measured row1 "$TITLE" "test_xdp_steer --bench printed no result"; exit 0; }
	FLOOR+=("$(jget "$j" .floor_ns)")
	KNOWN+=("$(jget "$j" .known_ns)")
	SYN+=("$(jget "$j" .syn_ns)")
	REUSED+=("$(jget "$j" .syn_reused_ns)")
	RR+=("$(jget "$j" .syn_reused_ratio)")
	KR+=("$(jget "$j" .known_ratio)")
	SR+=("$(jget "$j" .syn_ratio)")
	log "row1 run $r: floor $(jget "$j" .floor_ns) ns, known $(jget "$j" .known_ns) ns, SYN $(jget "$j" .syn_ns) ns, SYN on a reused 5-tuple $(jget "$j" .syn_reused_ns) ns"
done

kr=$(stat3 "${KR[@]}" | cut -d' ' -f1)
sr=$(stat3 "${SR[@]}" | cut -d' ' -f1)
rr=$(stat3 "${RR[@]}" | cut -d' ' -f1)
met_k=$(awk -v r="$kr" 'BEGIN { print (r != "null" && r <= 2.5) ? "true" : "false" }')
met_r=$(awk -v r="$rr" 'BEGIN { print (r != "null" && r <= 3.2) ? "true" : "false" }')
met_s=$(awk -v r="$sr" 'BEGIN { print (r != "null" && r <= 3.2) ? "true" : "false" }')
{
	echo "### 1. XDP fast path: ns/packet vs the parse-and-pass floor"
	echo
	echo "BPF_PROG_TEST_RUN, repeat=1, $PACKETS packets per case, $RUNS runs on CPU $CPU_SUT; the kernel's"
	echo "own duration per run, averaged. A SYN picks a pod and writes the flow's two conntrack"
	echo "entries. \"Reused 5-tuple\": the same SYN every run, its previous connection marked closed"
	echo "between runs (not timed): the entries are replaced on warm memory, as a fixed test packet"
	echo "measures Katran's SYN path. \"New 5-tuple\": a different flow every run, so every insert"
	echo "lands on cold memory and, past the map's size, evicts; this is what a real SYN costs."
	echo
	echo "| case | ns/packet, median (min–max) | × floor | goal |"
	echo "| --- | --- | --- | --- |"
	echo "| parse-and-pass floor | $(fmt3 "$(stat3 "${FLOOR[@]}")") | 1 | – |"
	echo "| known flow (conntrack hit) | $(fmt3 "$(stat3 "${KNOWN[@]}")") | **$(fmt3 "$(stat3 "${KR[@]}")")** | ≤ 2.5 |"
	echo "| SYN, reused 5-tuple | $(fmt3 "$(stat3 "${REUSED[@]}")") | **$(fmt3 "$(stat3 "${RR[@]}")")** | ≤ 3.2 |"
	echo "| SYN, new 5-tuple every run | $(fmt3 "$(stat3 "${SYN[@]}")") | **$(fmt3 "$(stat3 "${SR[@]}")")** | ≤ 3.2 |"
	echo
} >"$BENCH_RESULTS/row1.md"

row_write --argjson floor "$(point_json "${FLOOR[@]}")" --argjson known "$(point_json "${KNOWN[@]}")" \
	--argjson syn "$(point_json "${SYN[@]}")" --argjson kr "$(point_json "${KR[@]}")" \
	--argjson sr "$(point_json "${SR[@]}")" --argjson mk "$met_k" --argjson ms "$met_s" \
	--argjson reused "$(point_json "${REUSED[@]}")" --argjson rr "$(point_json "${RR[@]}")" --argjson mr "$met_r" \
	--argjson runs "$RUNS" --argjson packets "$PACKETS" \
	'{row: "row1", title: "XDP fast path", status: "measured",
	  config: {runs: $runs, packets: $packets},
	  points: {floor_ns: $floor, known_ns: $known, syn_ns: $syn, known_ratio: $kr, syn_ratio: $sr,
	    syn_reused_ns: $reused, syn_reused_ratio: $rr},
	  plot: {ylabel: "ns/packet (median, min–max)", bars: [
	   {label: "floor", median: $floor.median, min: $floor.min, max: $floor.max},
	   {label: "known flow", median: $known.median, min: $known.min, max: $known.max},
	   {label: "SYN, reused 5-tuple", median: $reused.median, min: $reused.min, max: $reused.max},
	   {label: "SYN, new 5-tuple", median: $syn.median, min: $syn.min, max: $syn.max}]},
	  summary: [
	   {metric: "XDP known flow ns/packet / floor", inferlb: $known.median, peer: $floor.median,
	    ratio: $kr.median, goal: "≤ 2.5×", met: $mk},
	   {metric: "XDP SYN (reused 5-tuple) ns/packet / floor", inferlb: $reused.median, peer: $floor.median,
	    ratio: $rr.median, goal: "≤ 3.2×", met: $mr},
	   {metric: "XDP SYN (new 5-tuple) ns/packet / floor", inferlb: $syn.median, peer: $floor.median,
	    ratio: $sr.median, goal: "≤ 3.2×", met: $ms}]}'
