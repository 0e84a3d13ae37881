#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# Build the bpfsplit image from deploy/Containerfile with podman, as root.
# Without a reachable registry the Debian base images come from debootstrap
# (scripts/image-base.sh, cached), hence --pull=never. The build runs on the host's
# network (apt reaches Debian's mirror; no bridge or firewall rule is created).
# Usage: IMAGE=name:tag [IIDFILE=file] scripts/build-image.sh   (IIDFILE: write the image id)
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-ghcr.io/bpfsplit/bpfsplit:0.1.0}
VERSION=0.1.0$(git rev-parse --short HEAD 2>/dev/null | sed "s/^/+g/" || true)
# crun refuses a hybrid cgroup layout and the engine's default ulimits cannot be raised
# without CAP_SYS_RESOURCE: runc, cgroupfs and explicit limits work everywhere.
PODMAN=(podman --runtime runc --cgroup-manager cgroupfs)

for tool in podman runc buildah debootstrap; do
	command -v "$tool" >/dev/null || { echo "build-image: $tool missing (scripts/install-deps.sh)" >&2; exit 1; }
done
scripts/image-base.sh
"${PODMAN[@]}" build --pull=never --network=host \
	--ulimit nofile=1024:1024 --ulimit nproc=1024:1024 \
	--build-arg VERSION="$VERSION" ${IIDFILE:+--iidfile "$IIDFILE"} \
	-f deploy/Containerfile -t "$IMAGE" .
echo "build-image: $IMAGE ($VERSION)"
