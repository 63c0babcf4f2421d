#!/usr/bin/env bash
# run.sh - `make bench`: every row measured against its peer in the same run, then
# bench/results.md, bench/results.json and one plot per row (bench/plots/), and the summary
# table printed at the end. BENCH_QUICK=1: a smoke run (fewer and shorter runs).
# BENCH_ROWS="2 3": only those rows. BENCH_KEEP=1 keeps the other rows' results of the last
# run (each row's JSON names its own date and commit) and reports them all.
set -u
cd "$(dirname "$0")/../.."
ROOT=$PWD
export BUILD=${BUILD:-build}
OUT=${BENCH_OUT:-$ROOT/bench}
export BENCH_RESULTS=$OUT/.rows
QUICK=${BENCH_QUICK:-}
[ "$QUICK" = 0 ] && QUICK=
ROWS=${BENCH_ROWS:-1 2 3 4 5 6 7}

declare -A TITLES=([1]="XDP fast path" [2]="L4 lane" [3]="L7 lane, small prompts"
	[4]="L7 lane, 220 KB prompts" [5]="Streaming cost" [6]="Routing quality" [7]="Control plane")

[ "$(id -u)" -eq 0 ] || { echo "make bench needs root (network namespaces, XDP, bpffs)" >&2; exit 1; }
for cmd in jq wrk haproxy nginx gnuplot nft iptables-nft-restore; do
	command -v "$cmd" >/dev/null || { echo "make bench needs $cmd: run make deps" >&2; exit 1; }
done
if [ -n "${BENCH_KEEP:-}" ]; then
	for n in $ROWS; do rm -f "$BENCH_RESULTS/row$n".* "$BENCH_RESULTS/row${n}_"*; done
else
	rm -rf "$BENCH_RESULTS"
fi
mkdir -p "$BENCH_RESULTS" "$OUT/plots"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)

started=$(date +%s)
echo "== make bench${QUICK:+ (BENCH_QUICK: a smoke run)}: rows $ROWS"
for n in $ROWS; do
	# a row is one script (rowN_NAME.sh) or one per measurement (rowNa_NAME.sh, rowNb_...),
	# run in order; each of those leaves its part and rebuilds the row's results
	scripts=$(ls tools/bench/row${n}_*.sh tools/bench/row${n}[a-z]_*.sh 2>/dev/null)
	t0=$(date +%s)
	echo "== row $n: ${TITLES[$n]:-?}"
	if [ -z "$scripts" ]; then
		jq -n --arg row "row$n" --arg title "${TITLES[$n]:-?}" \
			'{row: $row, title: $title, status: "not measured", reason: "no bench script for this row", summary: []}' \
			>"$BENCH_RESULTS/row$n.json"
		continue
	fi
	# A row that dies still leaves a line in the results, with its last words.
	: >"$BENCH_RESULTS/row$n.log"
	for script in $scripts; do bash "$script" 2>>"$BENCH_RESULTS/row$n.log"; done
	[ -s "$BENCH_RESULTS/row$n.json" ] ||
		jq -n --arg row "row$n" --arg title "${TITLES[$n]:-?}" --arg reason "$(tail -3 "$BENCH_RESULTS/row$n.log")" \
			'{row: $row, title: $title, status: "not measured", reason: ("the row failed: " + $reason), summary: []}' \
			>"$BENCH_RESULTS/row$n.json"
	# when and on what this row was measured (BENCH_KEEP mixes runs)
	jq --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg commit "$commit" '. + {date: $date, commit: $commit}' \
		"$BENCH_RESULTS/row$n.json" >"$BENCH_RESULTS/row$n.json.tmp" && mv "$BENCH_RESULTS/row$n.json.tmp" "$BENCH_RESULTS/row$n.json"
	tail -n 40 "$BENCH_RESULTS/row$n.log" | grep -E '^\[' | tail -n 12
	jq -r --arg s "$(($(date +%s) - t0))" '"   \(.status) in \($s) s" + (if .reason then ": \(.reason)" else "" end)' \
		"$BENCH_RESULTS/row$n.json"
done
elapsed=$(($(date +%s) - started))

# ---- results.json ----
[ -n "${BENCH_KEEP:-}" ] && ROWS=$(ls "$BENCH_RESULTS" | sed -n 's/^row\([0-9]*\)\.json$/\1/p' | sort -n | xargs)
dirty=$(git status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)
cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
jq -s --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" --arg kernel "$(uname -r)" --arg cpu "$cpu" \
	--argjson ncpu "$(nproc)" --arg commit "$commit" --argjson dirty "$dirty" \
	--argjson quick "$([ -n "$QUICK" ] && echo true || echo false)" --argjson secs "$elapsed" \
	'{date: $date, kernel: $kernel, cpu: $cpu, cpus: $ncpu, commit: $commit, uncommitted_changes: $dirty,
	  quick: $quick, duration_s: $secs, rows: .}' "$BENCH_RESULTS"/row*.json >"$OUT/results.json.tmp" &&
	mv "$OUT/results.json.tmp" "$OUT/results.json"

# ---- plots: each row's bars (its "plot", or the req/s of its configurations) ----
plot_row() { # plot_row ROWJSON
	local f=$1 name data title ylabel
	name=$(jq -r .row "$f")
	data=$(jq -r '(.plot.bars // ((.points // {}) | to_entries | map(select(.value.rps.median != null)
		| {label: .key, median: .value.rps.median, min: .value.rps.min, max: .value.rps.max})))
		| .[] | "\"\(.label)\" \(.median) \(.min // .median) \(.max // .median)"' "$f" 2>/dev/null)
	[ -n "$data" ] || return 0
	title=$(jq -r '"\(.row | sub("row"; "")). \(.title)"' "$f")
	ylabel=$(jq -r '.plot.ylabel // "requests/s (median, min–max)"' "$f")
	printf '%s\n' "$data" >"$BENCH_RESULTS/$name.dat"
	gnuplot 2>/dev/null <<GP || true
set terminal svg size 720,400 dynamic font "sans,11"
set output "$OUT/plots/$name.svg"
set title "$title"
set ylabel "$ylabel"
set style fill solid 0.6 border -1
set boxwidth 0.6
set yrange [0:*]
set grid ytics
set xtics noenhanced
unset key
plot "$BENCH_RESULTS/$name.dat" using 0:2:xtic(1) with boxes lc rgb "#4a7ebb", \
     "" using 0:2:3:4 with yerrorbars lc rgb "black" pt -1
GP
}
rm -f "$OUT"/plots/*.svg
for f in "$BENCH_RESULTS"/row*.json; do plot_row "$f"; done
# plots a row drew itself (row 6's CDFs)
for f in "$BENCH_RESULTS"/*.svg; do [ -e "$f" ] && cp "$f" "$OUT/plots/"; done

# ---- results.md ----
summary_table() {
	echo "| row | metric | inferlb | peer | ratio | goal | met |"
	echo "| --- | --- | --- | --- | --- | --- | --- |"
	jq -r '.rows[] | . as $r | if (.summary | length) == 0 then
		"| \(.row | sub("row"; "")). \(.title) | \(.status): \(.reason // "") | | | | | |"
	else .summary[] |
		"| \($r.row | sub("row"; "")). \($r.title) | \(.metric) | \(.inferlb // "–") | \(.peer // "–") | \(if .ratio == null then "–" else (.ratio | tostring) + "×" end) | \(.goal) | \(if .met == true then "yes" elif .met == false then "**no**" else "–" end) |"
	end' "$OUT/results.json"
}
{
	echo "# make bench results"
	echo
	jq -r '"\(.date), kernel \(.kernel), \(.cpus) × \(.cpu), commit \(.commit)\(if .uncommitted_changes then " (with uncommitted changes)" else "" end)" +
		(if .quick then ", BENCH_QUICK (smoke run: fewer, shorter runs)" else "" end) + ", \(.duration_s) s."' "$OUT/results.json"
	echo
	if [ -n "${BENCH_KEEP:-}" ]; then
		echo "Ratios are inferlb / peer, each peer measured in its row's run on the same machine and namespaces;"
		echo "rows were measured in more than one run (BENCH_KEEP): each row names its date and commit."
	else
		echo "Ratios are inferlb / peer, measured in this run on the same machine and namespaces."
	fi
	echo
	summary_table
	echo
	for n in $ROWS; do
		if [ -s "$BENCH_RESULTS/row$n.md" ]; then
			cat "$BENCH_RESULTS/row$n.md"
			[ -n "${BENCH_KEEP:-}" ] && jq -r '"Measured \(.date // "?"), commit \(.commit // "?")."' "$BENCH_RESULTS/row$n.json" && echo
		else
			echo "### $n. ${TITLES[$n]:-?}"
			echo
			jq -r '"Not measured: \(.reason // "?")"' "$BENCH_RESULTS/row$n.json"
			echo
		fi
		[ -s "$OUT/plots/row$n.svg" ] && echo "![row $n](plots/row$n.svg)" && echo
	done
} >"$OUT/results.md"

echo
echo "== summary (bench/results.md, bench/results.json, bench/plots/)"
summary_table | sed 's/\*\*//g' | column -t -s '|' -o '|' 2>/dev/null || summary_table
exit 0
