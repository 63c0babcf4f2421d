#!/usr/bin/env bash
# deps.sh - installs the Debian packages inferlb builds, tests and benchmarks with.
# Idempotent and silent when everything is present.
set -euo pipefail

packages=(
	make gcc clang llvm pkg-config libelf-dev zlib1g-dev
	libbpf-dev libxdp-dev xdp-tools bpftool
	libcjson-dev libmnl-dev libcurl4-openssl-dev libxxhash-dev libyaml-dev
	libcmocka-dev libmicrohttpd-dev node-llhttp libncurses-dev
	iproute2 ethtool curl openssl wrk gnuplot-nox
	haproxy nginx-light iptables nftables procps psmisc bc jq python3-yaml
	libclang-rt-14-dev
	qemu-system-x86 busybox-static cpio
)
# These commands may already come from other packages; install Debian's only when absent.
command -v kubectl >/dev/null 2>&1 || packages+=(kubernetes-client)
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# The tests' real OpenAI client: the openai npm package, pinned by tests/node/package-lock.json.
node_deps() {
	local dir
	dir="$(dirname "$0")/../tests/node"
	[ -d "$dir/node_modules/openai" ] && return 0
	echo "deps: installing the npm packages of tests/node"
	(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
}

if [ ${#missing[@]} -eq 0 ]; then
	node_deps
	exit 0
fi

echo "deps: installing ${missing[*]}"
if [ "$(id -u)" -ne 0 ]; then
	echo "deps: need root to install packages" >&2
	exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Distribution-started servers would hold the ports the benchmarks use.
for svc in haproxy nginx; do
	systemctl disable --now "$svc" >/dev/null 2>&1 || true
done
node_deps
