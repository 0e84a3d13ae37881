#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Install the Debian packages that building, testing, the demo and the benchmarks need.
# Idempotent and quick when everything is present: apt runs only for what is missing.
set -euo pipefail

PACKAGES=(
	# build
	make gcc clang llvm libbpf-dev bpftool libelf-dev zlib1g-dev
	# fuzzing and sanitizers: libFuzzer, ASan and UBSan runtimes of clang
	libclang-rt-14-dev
	libcurl4-openssl-dev libcjson-dev libyaml-dev uthash-dev libmicrohttpd-dev libcmocka-dev
	# lab, tests, demo
	iproute2 ethtool openssl python3 python3-yaml jq curl procps
	# canary health: a real Prometheus (and promtool) for the analysis tests and the demo,
	# headless Chromium for the live page's test
	prometheus chromium
	# benchmark peers
	nftables iptables haproxy wrk
	# the image (make image, tests/image): podman with runc, a debootstrapped Debian base
	podman runc buildah debootstrap
)

missing=()
for p in "${PACKAGES[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

# kubectl renders deploy/ (kubectl kustomize): any kubectl on PATH, else Debian's.
if ! command -v kubectl >/dev/null; then
	missing+=(kubernetes-client)
fi

if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "install-deps: missing packages: ${missing[*]} (run as root to install them)" >&2
		exit 1
	fi
	echo "install-deps: installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The BPF filesystem, where the maps are pinned.
if [ "$(id -u)" -eq 0 ] && ! mount | grep -q ' /sys/fs/bpf type bpf'; then
	mount -t bpf bpf /sys/fs/bpf
fi
