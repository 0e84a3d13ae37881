#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# `make bench` runs this after building: bench/run.sh BUILD. BENCH_QUICK=1 for a fast run.
# Everything (building the benchmark's own binaries, running, writing
# bench/results/latest.json and BENCHMARKS.md) is done by bench/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
exec /usr/bin/python3 bench/run.py "${1:-build}"
