#!/usr/bin/env bash
# run.sh - runs the kernel-facing tests (build/tests/bpf/test_*) inside qemu on another
# kernel, by default Debian 12's own 6.1 LTS kernel, and ends with the line tests/run.sh
# ends with: "N passed, N failed".
#
# The guest is a kernel plus an initramfs built here: static busybox, the test binaries
# with their shared libraries and loader, bpftool and ip, the BPF objects and a few of the
# kernel's modules. Its /init mounts proc, sysfs, devtmpfs, bpffs and debugfs, runs each
# test and powers off. Test output leaves the guest on a second serial port of its own, so
# kernel messages on the console never mix with TAP. qemu runs with TCG (nested KVM hangs
# on our machines): about half a minute for the tests here, most of it the BPF tests
# themselves. With VMTEST_E2E=1, tests/e2e/test_*.sh run too, on the host's own files
# (its / over virtio-9p under a tmpfs overlay): minutes each.
#
#   vmtest/run.sh [FILTER]     only the tests whose name contains FILTER
#
# Environment:
#   VMTEST_E2E=1                    also the end-to-end tests of tests/e2e
#   VMTEST_KERNEL=path/to/vmlinuz   boot this kernel instead of Debian's 6.1
#   VMTEST_MODULES=DIR              that kernel's lib/modules/RELEASE (uncompressed .ko),
#                                   for the e2e tests
#   VMTEST_KERNEL_PKG=NAME          the Debian kernel package to fetch (default: what
#                                   bookworm's linux-image-amd64 depends on)
#   VMTEST_TIMEOUT=900              seconds the whole VM may run (plus 600 per e2e test)
#   VMTEST_TEST_TIMEOUT=600         seconds one test may run inside the VM
#   VMTEST_MEM=2048 VMTEST_SMP=1    guest memory (MiB) and CPUs (2 CPUs by default with e2e
#                                   tests: curl, nginx and the agent share them)
#   VMTEST_ACCEL=tcg                qemu accelerator
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
CACHE=${VMTEST_CACHE:-$BUILD/vmtest}
LOG_DIR=$BUILD/test-logs
TIMEOUT=${VMTEST_TIMEOUT:-900}
TEST_TIMEOUT=${VMTEST_TEST_TIMEOUT:-600}
QEMU=${QEMU:-qemu-system-x86_64}
BUSYBOX=${BUSYBOX:-/bin/busybox}
only=${1:-}

die() {
	echo "vmtest: $*" >&2
	exit 2
}

tmp=
qpid=
cleanup() {
	if [ -n "$qpid" ] && kill -0 "$qpid" 2>/dev/null; then
		kill "$qpid" 2>/dev/null
		sleep 1
		kill -9 "$qpid" 2>/dev/null
		wait "$qpid" 2>/dev/null
	fi
	[ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
trap 'echo "vmtest: interrupted" >&2; exit 130' INT TERM HUP

command -v "$QEMU" >/dev/null || die "$QEMU not found (Debian: qemu-system-x86; make deps)"
command -v cpio >/dev/null || die "cpio not found (make deps)"
[ -x "$BUSYBOX" ] || die "$BUSYBOX not found (Debian: busybox-static; make deps)"
ldd "$BUSYBOX" >/dev/null 2>&1 && die "$BUSYBOX is dynamically linked; the guest needs busybox-static"

tests=()
for t in "$BUILD"/tests/bpf/test_*; do
	[ -x "$t" ] || continue
	[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
	tests+=("$t")
done
# vm/load_objects: every object of $BUILD/bpf loaded with bpftool.
objs=("$BUILD"/bpf/*.bpf.o)
load_check=
[ -e "${objs[0]}" ] && { [ -z "$only" ] || [[ vm/load_objects == *"$only"* ]]; } && load_check=1
# With VMTEST_E2E=1, the end-to-end tests too, on the host's own files (see below).
e2e=()
if [ -n "${VMTEST_E2E:-}" ] && [ "$VMTEST_E2E" != 0 ]; then
	for t in tests/e2e/test_*.sh; do
		[ -x "$t" ] || continue
		[ -n "$only" ] && [[ "$t" != *"$only"* ]] && continue
		e2e+=("$t")
	done
fi
[ ${#tests[@]} -gt 0 ] || [ -n "$load_check" ] || [ ${#e2e[@]} -gt 0 ] ||
	die "no test in $BUILD/tests/bpf${only:+ matching $only} (make all first)"
SMP=${VMTEST_SMP:-1}
if [ ${#e2e[@]} -gt 0 ]; then
	TIMEOUT=${VMTEST_TIMEOUT:-$((900 + 600 * ${#e2e[@]}))}
	SMP=${VMTEST_SMP:-2}
fi

# The kernel: VMTEST_KERNEL, or Debian's package, fetched once into $CACHE/PACKAGE/:
# vmlinuz and the modules the e2e tests need (with what they depend on), nothing else.
MODULES="veth sch_ingress cls_bpf 9p 9pnet_virtio virtio_pci overlay"

# mod_closure TREE NAME...: the .ko files of NAMEs and of their dependencies in TREE,
# dependencies first. A name without a file is taken to be built into the kernel.
mod_closure() {
	local tree=$1 seen=" " out=()
	shift
	visit() {
		local n=${1//-/_} f d
		[[ "$seen" == *" $n "* ]] && return
		seen+="$n "
		f=$(find "$tree" \( -name "$n.ko" -o -name "${n//_/-}.ko" \) -print -quit)
		[ -n "$f" ] || return 0
		for d in $(tr '\0' '\n' <"$f" | sed -n 's/^depends=//p' | tr ',' ' '); do visit "$d"; done
		out+=("$f")
	}
	for n in "$@"; do visit "$n"; done
	[ ${#out[@]} -eq 0 ] || printf '%s\n' "${out[@]}"
}

kernel=${VMTEST_KERNEL:-}
kernel_desc=
mod_files=()
if [ -n "$kernel" ]; then
	[ -r "$kernel" ] || die "VMTEST_KERNEL=$kernel is not readable"
	kernel_desc="$kernel"
	if [ -n "${VMTEST_MODULES:-}" ]; then
		[ -d "$VMTEST_MODULES" ] || die "VMTEST_MODULES=$VMTEST_MODULES is not a directory"
		mapfile -t mod_files < <(mod_closure "$VMTEST_MODULES" $MODULES)
	fi
else
	pkg=${VMTEST_KERNEL_PKG:-$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')}
	[ -n "$pkg" ] || die "apt does not know linux-image-amd64 (apt-get update?); or set VMTEST_KERNEL=path/to/vmlinuz"
	kdir=$CACHE/$pkg
	kernel=$kdir/vmlinuz
	kernel_desc="Debian $pkg"
	if [ ! -s "$kernel" ] || [ "$(cat "$kdir/modules.want" 2>/dev/null)" != "$MODULES" ]; then
		mkdir -p "$CACHE"
		echo "# vmtest: fetching $pkg into $kdir"
		fetch=$(mktemp -d "$CACHE/fetch.XXXXXX") || die "mktemp failed"
		tmp=$fetch # removed on exit, whatever happens
		sandbox=()
		[ "$(id -u)" -eq 0 ] && sandbox=(-o APT::Sandbox::User=root)
		(cd "$fetch" && apt-get -qq "${sandbox[@]}" download "$pkg") || die "apt-get download $pkg failed"
		dpkg-deb -x "$fetch"/*.deb "$fetch/x" || die "dpkg-deb -x failed"
		rm -rf "$kdir"
		mkdir -p "$kdir/modules"
		cp "$fetch"/x/boot/vmlinuz-* "$kdir/vmlinuz.part" || die "no vmlinuz in $pkg"
		mod_closure "$fetch"/x/lib/modules/* $MODULES >"$kdir/modules/order" || die "no modules in $pkg"
		while read -r f; do cp "$f" "$kdir/modules/"; done <"$kdir/modules/order"
		sed -i 's,.*/,,' "$kdir/modules/order"
		echo "$MODULES" >"$kdir/modules.want"
		mv "$kdir/vmlinuz.part" "$kernel"
		rm -rf "$fetch"
		tmp=
	fi
	mapfile -t mod_files < <(sed "s,^,$kdir/modules/," "$kdir/modules/order")
fi

# The initramfs.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/inferlb-vmtest.XXXXXX") || die "mktemp failed"
root=$tmp/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,lib,lib64,etc,proc,sys,dev,tmp,run,inferlb/tests/bpf}
cp "$BUSYBOX" "$root/bin/busybox"
for applet in $("$BUSYBOX" --list); do
	[ -e "$root/bin/$applet" ] || ln -s busybox "$root/bin/$applet"
done
bins=()
for b in bpftool ip; do
	p=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin:$PATH command -v "$b") || die "$b not found (make deps)"
	cp -L "$p" "$root/usr/sbin/$b"
	bins+=("$p")
done
for t in "${tests[@]}"; do
	cp "$t" "$root/inferlb/tests/bpf/"
	bins+=("$t")
done
# Shared libraries all go to /lib (a directory the loader always searches); the loader
# goes where the binaries' PT_INTERP says.
libs=$(ldd "${bins[@]}" 2>/dev/null |
	awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// && $1 !~ /:$/ { print $1 }' | sort -u)
for l in $libs; do
	case $l in
	*/ld-linux*) mkdir -p "$root$(dirname "$l")" && cp -L "$l" "$root$l" ;;
	*) cp -L "$l" "$root/lib/" ;;
	esac
done
echo "root:x:0:0:root:/:/bin/sh" >"$root/etc/passwd"
echo "root:x:0:" >"$root/etc/group"

install -m 755 vmtest/init "$root/init"
: >"$root/inferlb/tests.list"
if [ -n "$load_check" ]; then
	mkdir -p "$root/inferlb/bpf" "$root/inferlb/tests/vm"
	cp "${objs[@]}" "$root/inferlb/bpf/"
	install -m 755 vmtest/load_objects.sh "$root/inferlb/tests/vm/load_objects"
	echo vm/load_objects >>"$root/inferlb/tests.list"
fi
for t in "${tests[@]}"; do
	echo "bpf/${t##*/}" >>"$root/inferlb/tests.list"
done
mkdir -p "$root/inferlb/modules"
: >"$root/inferlb/modules/order"
for f in "${mod_files[@]}"; do
	cp "$f" "$root/inferlb/modules/"
	echo "${f##*/}" >>"$root/inferlb/modules/order"
done
# The e2e tests need the host's userland (bash, curl, nginx, node, ...): the guest mounts
# the host's / read-only over 9p under a tmpfs overlay, makes it its root and runs them
# there, from this same directory.
qemu_e2e=()
if [ ${#e2e[@]} -gt 0 ]; then
	for t in "${e2e[@]}"; do
		echo "${t#tests/}" >>"$root/inferlb/tests.list"
	done
	echo "$PWD" >"$root/inferlb/project"
	case $BUILD in /*) echo "$BUILD" ;; *) echo "$PWD/$BUILD" ;; esac >"$root/inferlb/build"
	qemu_e2e=(-fsdev local,id=hostroot,path=/,security_model=none,readonly=on,multidevs=remap
		-device virtio-9p-pci,fsdev=hostroot,mount_tag=hostroot)
fi
(cd "$root" && find . | cpio -o -H newc --quiet) >"$tmp/initramfs.cpio" || die "cpio failed"

mkdir -p "$LOG_DIR"
console=$LOG_DIR/vmtest-console.log
results=$tmp/results.log
: >"$console"
: >"$results"

passed=0
failed=0
failed_names=()
reported=0

# report I [WHY]: prints the I-th test block of the results, as tests/run.sh does; WHY
# tells why a test that never ended did not.
report() {
	local i=$1 unfinished=${2:-}
	local block name rc secs log out err p f
	block=$(tr -d '\r' <"$results" | awk -v i="$i" '
		/^@@vmtest begin / { n++ }
		n == i { print }
		n == i && /^@@vmtest end / { exit }')
	name=$(sed -n '1s/^@@vmtest begin //p' <<<"$block")
	log=$LOG_DIR/vmtest-$(echo "$name" | tr '/ ' '__').log
	printf '%s\n' "$block" >"$log"
	out=$(sed '1d; /^@@vmtest stderr$/,$d; /^@@vmtest end /d' <<<"$block")
	err=$(sed -n '/^@@vmtest stderr$/,$p' <<<"$block" | sed '1d; /^@@vmtest end /d')
	read -r _ _ _ rc secs < <(grep '^@@vmtest end ' <<<"$block")
	echo "# --- $name"
	grep -E '^(not )?ok ' <<<"$out" | sed 's/^/  /'
	p=$(grep -cE '^ok ' <<<"$out")
	f=$(grep -cE '^not ok ' <<<"$out")
	if [ -n "$unfinished" ]; then
		f=$((f + 1))
		echo "  not ok $name did not finish: $unfinished; last lines:"
		tail -n 15 <<<"$out" | sed 's/^/    /'
		secs="?"
	elif [ "${rc:-1}" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		[ "$rc" -eq 137 ] || [ "$rc" -eq 143 ] && echo "  not ok $name killed after ${TEST_TIMEOUT}s" ||
			echo "  not ok $name exited with status $rc; last lines:"
		tail -n 15 <<<"$out" | sed 's/^/    /'
	elif [ "$f" -gt 0 ]; then
		grep -E -A8 '^not ok ' <<<"$out" | grep -vE '^(not )?ok |^--$' | head -40 | sed 's/^/    /'
	fi
	[ "$p" -eq 0 ] && [ "$f" -eq 0 ] && { f=1; echo "  not ok $name ran no test"; }
	# A program the kernel refused: libbpf's account of it, with the end of the verifier log.
	if [ "$f" -gt 0 ] && grep -q 'libbpf: ' <<<"$err"; then
		echo "    libbpf (full log in $log):"
		grep -E 'libbpf: .*(failed|error|Error|unsupported|not supported|invalid|Invalid)' <<<"$err" |
			head -n 10 | sed 's/^/      /'
		awk '/-- BEGIN PROG LOAD LOG --/ { keep = 1; n = 0 } keep { l[++n] = $0 }
			/-- END PROG LOAD LOG --/ { keep = 0; s = n > 25 ? n - 25 : 0; for (j = s + 1; j <= n; j++) print l[j]; exit }' \
			<<<"$err" | sed 's/^/      /'
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" -gt 0 ] && failed_names+=("$name")
	echo "# $name: $p passed, $f failed (${secs}s in the VM)"
}

# The end of the guest's console, without the firmware's terminal escapes.
console_tail() {
	tr -d '\r' <"$console" | sed 's/\x1b\[[0-9;?]*[a-zA-Z]//g; s/\x1bc//g' | tail -n 25 | sed 's/^/    /'
	echo
}

# Prints the guest's notes and every test that has ended since the last call.
notes_shown=0
drain() {
	local ended notes
	notes=$(tr -d '\r' <"$results" | sed -n 's/^@@vmtest note /# vmtest: /p')
	if [ -n "$notes" ] && [ "$(wc -l <<<"$notes")" -gt "$notes_shown" ]; then
		tail -n +$((notes_shown + 1)) <<<"$notes"
		notes_shown=$(wc -l <<<"$notes")
	fi
	ended=$(grep -c '^@@vmtest end ' "$results")
	while [ "$reported" -lt "$ended" ]; do
		reported=$((reported + 1))
		report "$reported"
	done
}

echo "# vmtest: $kernel_desc, qemu ${VMTEST_ACCEL:-tcg}, ${VMTEST_MEM:-2048} MiB, $SMP CPU(s); $(wc -l <"$root/inferlb/tests.list") test(s); timeout ${TIMEOUT}s"
start=$SECONDS
"$QEMU" -accel "${VMTEST_ACCEL:-tcg}" -cpu max -m "${VMTEST_MEM:-2048}" -smp "$SMP" \
	-nodefaults -nographic -no-reboot -monitor none \
	-kernel "$kernel" -initrd "$tmp/initramfs.cpio" "${qemu_e2e[@]}" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4 VMTEST_TEST_TIMEOUT=$TEST_TIMEOUT" \
	-serial "file:$console" -serial "file:$results" </dev/null >"$tmp/qemu.out" 2>&1 &
qpid=$!

timed_out=
booted=
done_at=
while kill -0 "$qpid" 2>/dev/null; do
	if [ -z "$booted" ] && grep -q '^@@vmtest start' "$results"; then
		booted=1
		echo "# vmtest: booted $(tr -d '\r' <"$results" | sed -n 's/^@@vmtest start //p') after $((SECONDS - start))s"
	fi
	drain
	# After the last test, the guest powers off; give it a moment, then stop it anyway.
	if [ -z "$done_at" ] && grep -q '^@@vmtest done' "$results"; then
		done_at=$SECONDS
	fi
	if [ -n "$done_at" ] && [ $((SECONDS - done_at)) -ge 30 ]; then
		break
	fi
	if [ $((SECONDS - start)) -ge "$TIMEOUT" ]; then
		timed_out=1
		break
	fi
	sleep 1
done
if kill -0 "$qpid" 2>/dev/null; then
	kill "$qpid" 2>/dev/null
	sleep 1
	kill -9 "$qpid" 2>/dev/null
fi
wait "$qpid" 2>/dev/null
qpid=
drain

if ! grep -q '^@@vmtest start' "$results"; then
	failed=$((failed + 1))
	failed_names+=(boot)
	echo "# --- boot"
	if [ -n "$timed_out" ]; then
		echo "  not ok 1 - the VM never reached the tests within ${TIMEOUT}s; console's last lines:"
	else
		echo "  not ok 1 - the VM stopped before reaching the tests; console's last lines:"
	fi
	console_tail
	sed 's/^/    qemu: /' "$tmp/qemu.out"
elif ! grep -q '^@@vmtest done' "$results"; then
	if [ -n "$timed_out" ]; then why="the VM ran out of its ${TIMEOUT}s"; else why="the VM stopped"; fi
	if [ "$(grep -c '^@@vmtest begin ' "$results")" -gt "$reported" ]; then
		report $((reported + 1)) "$why"
	else
		failed=$((failed + 1))
		failed_names+=(vm)
		echo "# --- vm"
		echo "  not ok 1 - $why between two tests"
	fi
	echo "  # console's last lines:"
	console_tail
fi

echo "# vmtest: $((SECONDS - start))s in qemu; the guest's console in $console"
[ ${#failed_names[@]} -gt 0 ] && echo "# failed: ${failed_names[*]} (logs in $LOG_DIR)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
