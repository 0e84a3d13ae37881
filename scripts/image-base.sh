#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The Debian 12 base of the image when no container registry is reachable: a minbase
# bookworm made with debootstrap (once; the tarball is cached) and imported under the
# names the Containerfile's FROM lines use (debian:12, debian:12-slim). With a registry,
# none of this is needed: `podman build` pulls those images.
# Usage: scripts/image-base.sh            (root; idempotent; quick when cached)
set -euo pipefail

CACHE=${BPFSPLIT_IMAGE_CACHE:-/var/cache/bpfsplit}
MIRROR=${BPFSPLIT_DEBIAN_MIRROR:-http://deb.debian.org/debian}
TAR=$CACHE/debian-12-minbase.tar
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)
NAMES=(localhost/debian:12 localhost/debian:12-slim docker.io/library/debian:12 docker.io/library/debian:12-slim)

have_all() {
	for n in "${NAMES[@]}"; do "${PODMAN[@]}" image exists "$n" || return 1; done
}
if have_all; then
	exit 0
fi

if [ ! -s "$TAR" ]; then
	mkdir -p "$CACHE"
	dir=$(mktemp -d "$CACHE/rootfs.XXXXXX")
	trap 'rm -rf "$dir"' EXIT
	echo "image-base: debootstrap --variant=minbase bookworm (about a minute, once)"
	debootstrap --variant=minbase bookworm "$dir" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1 || {
		tail -20 "$CACHE/debootstrap.log" >&2
		echo "image-base: debootstrap failed (log: $CACHE/debootstrap.log)" >&2
		exit 1
	}
	rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*
	tar -C "$dir" -cf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
fi
"${PODMAN[@]}" import -q "$TAR" "${NAMES[0]}" >/dev/null
for n in "${NAMES[@]:1}"; do
	"${PODMAN[@]}" tag "${NAMES[0]}" "$n"
done
echo "image-base: ${NAMES[*]} from $TAR"
