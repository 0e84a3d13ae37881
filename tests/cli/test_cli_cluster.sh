#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# The bpfsplit CLI's cluster commands against a real data path in a private pin root:
# cgroup attach/list/detach on a child cgroup of the unified hierarchy this test creates,
# node set/show (snat, addresses, ports) with its refusals, flow predict, and unload
# detaching the cgroup links. Usage: tests/cli/test_cli_cluster.sh [BUILD_DIR] (root).
# Every pin and cgroup it creates is removed on every exit path.

set -u

ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT_DIR/build}" && pwd)
BIN=$BUILD/bpfsplit
PIN=/sys/fs/bpf/bs-cli-cluster-$$
CG=/sys/fs/cgroup/unified/bs-cli-cluster-$$
FE=10.96.0.10:80/tcp
TMP=$(mktemp -d /tmp/bs-cli-cluster.XXXXXX)

cleanup() {
	"$BIN" --pin-root "$PIN" dataplane unload >/dev/null 2>&1
	rmdir "$CG" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ "$(id -u)" != 0 ]; then
	echo "skipped: loading BPF programs and creating cgroups needs root"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
if [ ! -d /sys/fs/cgroup/unified ] || ! grep -q cgroup2 <(stat -f -c %T /sys/fs/cgroup/unified 2>/dev/null); then
	echo "skipped: no cgroup v2 hierarchy at /sys/fs/cgroup/unified"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi

# shellcheck source=tests/cli/lib.sh
. "$ROOT_DIR/tests/cli/lib.sh"

mkdir "$CG"
run bs cgroup help
expect "cgroup help" 0 'connect4/6'
run bs node help
expect "node help" 0 'snat'
run bs dataplane load --max-conns 4096 --max-frontends 64 --max-backends 64 --max-tables 64
expect "dataplane load" 0 'loaded'

# ---- cgroup ----
run bs cgroup attach "$TMP"
expect "attach to a directory that is no cgroup v2: error names the cause" 1 'not a cgroup v2 directory'
run bs cgroup attach "$CG"
expect "cgroup attach" 0 "cgroup $CG: cgroup links"
run bs cgroup attach "$CG"
expect "attach twice: already attached" 1 'already attached'
run bs -j cgroup list
jcheck "cgroup list -j names the cgroup" ". == [\"$CG\"]"
run bpftool -j cgroup show "$CG"
jcheck "bpftool sees the eight hooks" '[.[].attach_type] | sort == ["cgroup_inet4_connect","cgroup_inet4_getpeername","cgroup_inet6_connect","cgroup_inet6_getpeername","cgroup_udp4_recvmsg","cgroup_udp4_sendmsg","cgroup_udp6_recvmsg","cgroup_udp6_sendmsg"]'
run bs cgroup detach "$CG"
expect "cgroup detach" 0 'detached'
run bpftool -j cgroup show "$CG"
jcheck "no hook left on the cgroup" 'length == 0'
run bs cgroup detach "$CG"
expect "detach again: not found (exit 4)" 4 ''

# ---- node ----
run bs -j node show
jcheck "node show -j: nat none by default" '.nat == "none"'
run bs node set --nat snat
expect "snat without an address is refused" 1 'needs the node'
run bs node set --nat fast
expect "unknown nat mode: usage error" 2 "expected snat or none"
run bs node set --nat snat --node-addr 10.0.0.11 --snat-ports 70000-80000
expect "ports above 65535: usage error" 2 'LO-HI'
run bs node set --nat snat --node-addr 10.0.0.11 --snat-ports 50000-40000
expect "reversed port range refused" 1 'SNAT port range'
run bs node set --nat snat --node-addr 10.0.0.11 --node-addr fd00::11 --snat-ports 62000-62999
expect "node set" 0 'nat snat'
run bs -j node show
jcheck "node show -j" '.nat == "snat" and .addr4 == "10.0.0.11" and .addr6 == "fd00::11" and .snat_port_lo == 62000 and .snat_port_hi == 62999 and .snat_hold_s == 60'
run bs node set --snat-hold 5
run bs -j node show
jcheck "node set --snat-hold" '.snat_hold_s == 5 and .snat_port_lo == 62000'
run bs node set --snat-hold soon
expect "--snat-hold takes seconds" 2 'expected seconds'
run bs node set --nat none
run bs -j node show
jcheck "back to none, addresses kept" '.nat == "none" and .addr4 == "10.0.0.11"'

# ---- flow predict ----
cat >"$TMP/fe.json" <<JSON
{"frontend": "$FE", "groups": [
 {"name": "stable", "weight": 70, "backends": [{"address": "10.244.1.10:8080"}, {"address": "10.244.2.10:8080"}]},
 {"name": "canary", "weight": 30, "backends": [{"address": "10.244.1.11:8080"}]}]}
JSON
run bs frontend apply "$TMP/fe.json"
run bs -j flow predict $FE --client 10.244.3.10 --ports 40000-40999
jcheck "predict: one answer per port, every backend named, about 30% canary" 'length == 1000 and ([.[].backend] | unique) == ["10.244.1.10:8080","10.244.1.11:8080","10.244.2.10:8080"] and ([.[] | select(.group == 1)] | length) > 230 and ([.[] | select(.group == 1)] | length) < 370 and all(.[]; (.group == 1) == (.backend == "10.244.1.11:8080"))'
run bs flow predict $FE --client fd00::1 --ports 1-2
expect "predict: client of another family refused" 2 "frontend's family"
run bs flow predict 10.96.0.99:80/tcp --client 10.0.0.1 --ports 1
expect "predict: unknown frontend (exit 4)" 4 ''
cat >"$TMP/zero.json" <<JSON
{"frontend": "$FE", "groups": [{"name": "stable", "weight": 0, "backends": [{"address": "10.244.1.10:8080"}]}]}
JSON
run bs frontend apply "$TMP/zero.json"
run bs flow predict $FE --client 10.244.3.10 --ports 40000
expect "predict: zero weights are refused" 0 '^40000 -1 refused$'

# ---- unload detaches the cgroup links ----
run bs cgroup attach "$CG"
run bs dataplane unload
expect "unload" 0 'unloaded'
run bpftool -j cgroup show "$CG"
jcheck "unload detached the hooks" 'length == 0'
[ ! -e "$PIN" ] && ok "pins removed" || not_ok "pins removed" "$PIN still exists"

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
