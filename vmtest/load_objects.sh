#!/bin/sh
# load_objects.sh - runs inside the guest: loads every BPF object of build/bpf (copied to
# /inferlb/bpf) with bpftool, one object at a time on an empty bpffs, so that a program no
# test loads (xdp_floor) is checked too. TAP on stdout; bpftool's and libbpf's account of
# a refused program (the verifier log) on stderr.
n=0
failed=0
for o in /inferlb/bpf/*.bpf.o; do
	[ -e "$o" ] || continue
	name=$(basename "$o" .bpf.o)
	n=$((n + 1))
	rm -rf /sys/fs/bpf/* 2>/dev/null
	if out=$(bpftool prog loadall "$o" "/sys/fs/bpf/$name" 2>&1); then
		progs=$(for p in /sys/fs/bpf/"$name"/*; do
			bpftool prog show pinned "$p" | sed -n '1s/^[0-9]*: *\([a-z_]*\) *name \([^ ]*\).*/\2 (\1)/p'
		done | tr '\n' ' ')
		echo "ok $n - $name.bpf.o loads: ${progs% }"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name.bpf.o does not load"
		echo "$out" | grep -E '^Error: |BPF program load failed|: failed to ' | head -n 5 | sed 's/^/#   /'
		echo "$out" | sed "s/^/[$name] /" >&2
	fi
done
rm -rf /sys/fs/bpf/* 2>/dev/null
[ "$n" -gt 0 ] || echo "not ok 1 - no BPF object to load"
echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$n" -gt 0 ]
