#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-2-Clause
# End-to-end tests of the bpfsplit CLI against a real data path: a private pin root,
# frontends written and read back (plain and JSON), the documented exit statuses and
# messages, bpftool's view of the maps, attach/detach on a veth pair inside throwaway
# network namespaces, connection records from real TCP through tc entry points, and
# status: route/rollout info, observed shares over a window, open connections.
# Usage: tests/cli/test_cli.sh [BUILD_DIR]   (needs root; last line "N passed, N failed")
# Every pin and namespace it creates is removed on every exit path.

set -u

ROOT_DIR=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=$(cd "${1:-$ROOT_DIR/build}" && pwd)
BIN=$BUILD/bpfsplit
PIN=/sys/fs/bpf/bs-cli-test-$$
NS=bsclitest$$    # attach/detach, and the node of the traffic test
NSC=bsclitestc$$  # the client of the traffic test
FE=10.96.0.10:80/tcp
TMP=$(mktemp -d /tmp/bs-cli-test.XXXXXX)
SERVER_PID=
HOLDER_PID=
STATUS_PID=
STATUS_PLAIN_PID=

cleanup() {
	[ -n "$HOLDER_PID" ] && kill "$HOLDER_PID" 2>/dev/null
	[ -n "$STATUS_PID" ] && kill "$STATUS_PID" 2>/dev/null
	[ -n "$STATUS_PLAIN_PID" ] && kill "$STATUS_PLAIN_PID" 2>/dev/null
	[ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null
	"$BIN" --pin-root "$PIN" dataplane unload >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	ip netns del "$NSC" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

if [ "$(id -u)" != 0 ]; then
	echo "skipped: loading BPF programs and creating network namespaces needs root"
	echo "0 passed, 0 failed, 1 skipped"
	exit 0
fi
if [ ! -x "$BIN" ]; then
	echo "not ok - $BIN is not built (make)"
	echo "0 passed, 1 failed"
	exit 1
fi

# shellcheck source=tests/cli/lib.sh
. "$ROOT_DIR/tests/cli/lib.sh"

# ---- Before anything is loaded ----
run "$BIN" version
expect "version" 0 '^bpfsplit [0-9]'
run "$BIN" --help
expect "--help documents the exit statuses" 0 'Exit status'
run "$BIN" frontend help
expect "frontend help" 0 'set-weights'
run "$BIN" status help
expect "status help is the help of status" 0 '^Usage: bpfsplit status \[--window'
run "$BIN" watch help
expect "watch help is the help of watch" 0 '^Usage: bpfsplit watch \[--interval'
run "$BIN" help stats
expect "help stats is the help of stats" 0 '^Usage: bpfsplit stats$'
run "$BIN"
expect "no object is a usage error" 2
run "$BIN" bogus list
expect "unknown object is a usage error" 2 "unknown object 'bogus'"
run "$BIN" f list
expect "ambiguous prefix is a usage error" 2 'ambiguous: frontend, flow'
run bs frontend list
expect "no data path: exit 3" 3 "pin root $PIN: no data path pinned"
run bs frontend lst
expect "unknown command is a usage error" 2 "frontend: unknown command 'lst'"

# ---- Load ----
run bs dataplane load --max-conns 8192 --max-frontends 64 --max-backends 512 --max-tables 256
expect "dataplane load" 0 "pinned under $PIN"
[ -e "$PIN/bs_frontends" ] && ok "maps pinned" || not_ok "maps pinned" "$PIN/bs_frontends missing"
run bs -j dataplane load
jcheck "load again reuses the pins" '.maps == "reused" and .max_entries.bs_conns == 8192'
jcheck "load -j sizes every map, bs_members 4 x the larger of --max-frontends and --max-backends" '(.max_entries | keys) == (["bs_backends","bs_be_stats","bs_conns","bs_fe_info","bs_fe_splits","bs_fe_stats","bs_frontends","bs_groups","bs_health","bs_maglev","bs_maglev_large","bs_members","bs_reasons","bs_rnat","bs_settings","bs_splits","bs_state"]) and .max_entries.bs_members == 2048'
run bs -j dataplane show
jcheck "dataplane show -j: defaults" '.links == [] and .settings.linger_ns == 2000000000 and .settings.udp_idle_ns == 30000000000 and (.settings.hash_key | length) == 32'
run bs dataplane set --linger-ms 5000 --udp-idle-s 60 --hash-key 00112233445566778899aabbccddeeff
expect "dataplane set" 0 'linger_ns 2000000000 -> 5000000000'
run bs -j dataplane show
jcheck "settings written" '.settings.linger_ns == 5000000000 and .settings.udp_idle_ns == 60000000000 and .settings.hash_key == "00112233445566778899aabbccddeeff"'
run bs dataplane set --hash-key xyz
expect "bad hash key is a usage error" 2 'expected 32 hex digits'
run bs dataplane set --linger-ms 0
expect "linger 0 is a usage error" 2 'linger-ms'

# ---- Apply ----
cat >"$TMP/web.json" <<EOF
{"frontend": "$FE", "affinity": "connection",
 "groups": [
   {"name": "stable", "weight": 70,
    "backends": [{"address": "10.201.1.2:8080", "state": "ready"},
                 {"address": "10.201.1.3:8080", "state": "ready"}]},
   {"name": "canary", "weight": 30,
    "backends": [{"address": "10.201.2.2:8080"}]}]}
EOF
run bs frontend apply --check "$TMP/web.json"
expect "apply --check" 0 'valid, 1 frontend'
run bs frontend apply "$TMP/web.json"
expect "apply creates" 0 "frontend $FE: created: group stable added: weight 70"
run bs frontend apply - <"$TMP/web.json"
expect "apply from stdin again: unchanged" 0 "frontend $FE: unchanged"

run bs frontend list
expect "frontend list" 0 "^10\.96\.0\.10:80/tcp +[0-9]+ +connection +2 +stable=70 canary=30"
run bs -j frontend list
jcheck "frontend list -j" 'length == 1 and .[0].frontend == "10.96.0.10:80/tcp" and .[0].id > 0 and .[0].n_groups == 2 and [.[0].groups[].weight] == [70,30]'
run bs frontend show $FE
expect "frontend show" 0 'stable +70 +70\.0%'
if grep -qE 'canary +30 +30\.0% +[0-9]+ +10\.201\.2\.2:8080 +[0-9]+ ready' <<<"$OUT"; then
	ok "frontend show: canary row"
else
	not_ok "frontend show: canary row"
fi
run bs -j fr sh $FE
jcheck "frontend show -j (by prefixes)" '.frontend == "10.96.0.10:80/tcp" and .affinity == "connection" and .weight_total == 100 and (.groups | length) == 2 and .groups[0].name == "stable" and .groups[0].share_pct == 70 and .groups[0].table_id > 0 and (.groups[0].backends | length) == 2 and .groups[0].backends[0].id > 0 and .groups[0].backends[0].state == "ready" and .groups[1].backends[0].address == "10.201.2.2:8080" and (.counters | has("packets") and has("bytes") and has("new_conns") and has("rejected"))'
run bs -p frontend show 10.96.0.10:80
jcheck "-p pretty JSON, tcp by default" '.groups[1].weight == 30'
[ "$(wc -l <<<"$OUT")" -gt 5 ] && ok "-p is indented" || not_ok "-p is indented"
run bs frontend list -j
jcheck "-j after the command" '.[0].n_groups == 2'

# ---- verify: the maps against what was written ----
run bs dataplane verify
expect "dataplane verify: clean" 0 "data path consistent"
run bs -j dataplane verify
jcheck "dataplane verify -j: clean" '.clean == true and .differences == []'

# ---- set-weights ----
run bs frontend set-weights $FE stable=40 canary=60
expect "set-weights" 0 "weight stable 70 -> 40; weight canary 30 -> 60"
grep -q 'bpfsplit-agent' <<<"$ERR" && not_ok "no agent serves the pins: no note about one" || ok "no agent serves the pins: no note about one"
run bs -j frontend show $FE
jcheck "weights changed" '[.groups[].weight] == [40,60] and .groups[1].share_pct == 60'
run bs -j frontend set-weights $FE 0=25 1=75
jcheck "set-weights by index, JSON result" '.[0].result == "updated" and (.[0].changes | length) == 2'
run bs frontend set-weights $FE canary=2000000
expect "set-weights out of range: exit 1" 1 "frontend $FE: group canary: weight 2000000 out of range 0\.\.1000000"
run bs frontend set-weights $FE blue=5
expect "set-weights unknown group: exit 4" 4 "group \"blue\": not found \(groups: stable, canary\)"
run bs frontend set-weights $FE canary
expect "set-weights without =: usage" 2 "expected GROUP=WEIGHT"
run bs -j frontend show $FE
jcheck "failed set-weights changed nothing" '[.groups[].weight] == [25,75]'

# ---- drain / undrain ----
run bs backend drain 10.201.1.3:8080
expect "backend drain" 0 "backend 10\.201\.1\.3:8080 in stable: ready -> draining"
run bs -j frontend show $FE
jcheck "drained backend is draining" '.groups[0].backends[] | select(.address == "10.201.1.3:8080") | .state == "draining"'
jcheck "one ready backend left in stable" '.groups[0].ready_backends == 1'
run bs -j backend list
jcheck "backend list -j" 'length == 3 and (.[] | select(.address == "10.201.1.3:8080") | .state == "draining" and .id > 0 and .members[0].group == "stable")'
run bs backend list
expect "backend list" 0 '10\.201\.1\.3:8080 +draining'
run bs backend undrain 10.201.1.3:8080 --frontend $FE
expect "backend undrain" 0 'draining -> ready'
run bs backend drain 10.201.9.9:8080
expect "drain unknown backend: exit 4" 4 'backend 10\.201\.9\.9:8080: not found in any frontend'
run bs backend drain 10.201.1.3:8080 --frontend 10.96.0.99:80/tcp
expect "drain in unknown frontend: exit 4" 4 'frontend 10\.96\.0\.99:80/tcp: not found'

# ---- Invalid documents: exit 1, nothing written ----
printf '{"frontend": "%s",\n "groups": [{"name": "a", "weight": 1,}]}\n' $FE >"$TMP/bad.json"
run bs frontend apply "$TMP/bad.json"
expect "malformed JSON: exit 1 with line and column" 1 "bad\.json: line 2, column [0-9]+: malformed JSON"
sed 's/"weight": 30/"weight": 2000000/' "$TMP/web.json" >"$TMP/range.json"
run bs frontend apply "$TMP/range.json"
expect "weight out of range: exit 1" 1 "frontend $FE: groups\[1\]\.weight: 2000000 out of range 0\.\.1000000"
cat >"$TMP/two.json" <<EOF
{"frontends": [
  {"frontend": "10.96.0.20:80/tcp", "groups": [{"name": "stable", "weight": 1, "backends": ["10.201.1.2:8080"]}]},
  {"frontend": "10.96.0.21:80/tcp", "groups": [{"name": "stable", "weight": 1, "backends": ["[fd00::1]:8080"]}]}]}
EOF
run bs frontend apply "$TMP/two.json"
expect "invalid second frontend: exit 1" 1 'frontend 10\.96\.0\.21:80/tcp: groups\[0\]\.backends\[0\]: \[fd00::1\]:8080: an IPv6 backend for an IPv4 frontend'
run bs -j frontend list
jcheck "invalid document wrote nothing" 'length == 1 and .[0].groups[1].weight == 75'
printf '{"frontend": "%s", "groups": [], "colour": "blue"}' $FE >"$TMP/unknown.json"
run bs frontend apply "$TMP/unknown.json"
expect "unknown field: exit 1" 1 'unknown field "colour"'
printf '{"groups": []}' >"$TMP/nokey.json"
run bs frontend apply "$TMP/nokey.json"
expect "missing frontend field: exit 1" 1 'field "frontend": missing'
run bs frontend apply "$TMP/does-not-exist.json"
expect "missing file: exit 4" 4 'does-not-exist\.json: not found'

# ---- Not found, malformed arguments ----
run bs frontend show 10.96.0.11:80/tcp
expect "show unknown frontend: exit 4" 4 'frontend 10\.96\.0\.11:80/tcp: not found'
run bs frontend remove 10.96.0.11:80/tcp
expect "remove unknown frontend: exit 4" 4 'frontend 10\.96\.0\.11:80/tcp: not found'
run bs frontend show not-an-address
expect "malformed frontend argument: usage" 2 "frontend 'not-an-address': not ADDRESS:PORT"

# ---- bpftool sees named fields ----
run bpftool -j map dump pinned "$PIN/bs_frontends"
jcheck "bpftool: bs_frontends fields" '.[0].formatted.key | has("addr") and has("port") and has("family") and has("proto")'
jcheck "bpftool: bs_frontends value fields" '.[0].formatted.value | has("id") and has("reserved")'
run bpftool -j map dump pinned "$PIN/bs_fe_splits"
jcheck "bpftool: bs_fe_splits value fields" '[.[].formatted.value | select(.split_id > 0)] | length >= 1'
run bpftool -j map dump pinned "$PIN/bs_groups"
jcheck "bpftool: bs_groups names" '[.[].formatted.value.name] | sort == ["canary","stable"]'

# ---- export round trip ----
run bs frontend export
jcheck "export" '.frontends[0].frontend == "10.96.0.10:80/tcp" and [.frontends[0].groups[].weight] == [25,75]'
echo "$OUT" >"$TMP/export.json"
run bs frontend apply "$TMP/export.json"
expect "export applies back unchanged" 0 "frontend $FE: unchanged"

# ---- stats, flows (empty) ----
run bs -j stats
jcheck "stats -j" '(.reasons | length) == 28 and (.reasons | has("fwd_new") and has("pass_not_frontend") and has("reject_zero_weight")) and (.frontends | length) == 1 and (.backends | length) == 3'
run bs stats
expect "stats" 0 'fwd_new +0'
run bs flow list
expect "flow list, empty" 0 '^0 flows$'
run bs -j flow gc
jcheck "flow gc -j" '.deleted == 0'
run bs status --window 0
expect "status" 0 'not attached anywhere'
expect "status: a frontend without info is written by hand" 0 "^frontend $FE  written by hand$"
run bs -j status --window 0
jcheck "status -j: info null, cumulative" '.observed == "cumulative" and .window_s == 0 and .frontends[0].info == null and .frontends[0].active_conns == 0 and (.frontends[0].groups[0].observed_share_pct == null)'
run bs status --window x
expect "status --window junk: usage" 2 "status: --window 'x': expected seconds"
run bs status extra
expect "status takes no arguments" 2 'takes no arguments'

# ---- Route and rollout info beside a frontend (what the agent stores; set by hand here) ----
run bs frontend set-info $FE --route default/argo-rollouts-http-route --rollout default/rollouts-demo --step 1/6 --phase Paused --paused --canary-weight 30
expect "frontend set-info" 0 "frontend $FE: info stored"
run bs frontend set-info 10.96.0.11:80/tcp --route default/x
expect "set-info on an unknown frontend: exit 4" 4 'frontend 10\.96\.0\.11:80/tcp: not found'
run bs frontend set-info $FE --route no-namespace
expect "set-info --route without a namespace: usage" 2 "expected NAMESPACE/NAME"
run bs frontend set-info $FE --step 1/0
expect "set-info --step with 0 steps: usage" 2 "expected STEP or STEP/STEPS"
run bs frontend set $FE 0=25
expect "'frontend set' still means set-weights" 0 "frontend $FE: unchanged"
run bs status --window 0
expect "status header: route, rollout, step, phase" 0 "^frontend $FE  route default/argo-rollouts-http-route  rollout default/rollouts-demo  step 1/6  Paused  canary weight 30%$"
expect "status: groups with weight and observed share" 0 '^  group stable  weight 25 \(25\.0%\)  observed - \(0/0\)$'
expect "status: backend rows" 0 '^    10\.201\.2\.2:8080 +ready +0 +0 +0 +0 +[0-9]+$'
run bs -j status --window 0
jcheck "status -j: info" '.frontends[0].info | .route == "default/argo-rollouts-http-route" and .rollout == "default/rollouts-demo" and .step == 1 and .n_steps == 6 and .phase == "Paused" and .paused == true and .aborted == false and .rollout_canary_weight_pct == 30 and .updated_unix_ns > 0'
run bs frontend set-info $FE --route default/other
run bs -j status --window 0
jcheck "set-info stores what it is given, the rest unknown" '.frontends[0].info | .route == "default/other" and .rollout == null and .step == null and .n_steps == null and .phase == null and .paused == false'
bs frontend set-info $FE --route default/argo-rollouts-http-route --rollout default/rollouts-demo --step 1/6 --phase Paused --paused --canary-weight 30 >/dev/null

# ---- An agent serving the pins (its claim held here with flock): writes to its frontends say it restores them ----
mkdir -p "$PIN/agent"
exec {CLAIM_FD}<"$PIN/agent"
flock -x "$CLAIM_FD"
run bs frontend set-weights $FE 0=30 1=70
expect "set-weights under an agent" 0 "frontend $FE: updated"
grep -q "note: frontend $FE was written, but it belongs to route default/argo-rollouts-http-route, served by the bpfsplit-agent on pin root $PIN (pid [0-9]*): the agent will restore it" <<<"$ERR" \
	&& ok "set-weights on the agent's frontend says the agent restores it" \
	|| not_ok "set-weights on the agent's frontend says the agent restores it" "stderr: $ERR"
exec {CLAIM_FD}<&-
run bs frontend set-weights $FE 0=25 1=75
grep -q 'bpfsplit-agent' <<<"$ERR" && not_ok "agent gone: no note" || ok "agent gone: no note"

# ---- Attach / detach, on a veth pair in a namespace of our own ----
ip netns add "$NS" && ip netns add "$NSC" || { not_ok "create network namespaces"; }
ip link add c0 netns "$NSC" type veth peer name n0 netns "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" link set n0 up
ip -n "$NSC" link set lo up
ip -n "$NSC" link set c0 up
ip -n "$NS" link add va type veth peer name vb
ip -n "$NS" link set va up
ip -n "$NS" link set vb up

run bs --netns "$NS" dataplane attach va --entry xdp
expect "attach xdp (--netns)" 0 '^attached xdp \((native|generic)\) on va$'
run nsenter --net=/run/netns/"$NS" "$BIN" --pin-root "$PIN" -j dataplane attach vb --entry tc-ingress --xdp-mode native
expect "--xdp-mode with tc entry: usage" 2 'xdp-mode applies to --entry xdp only'
run nsenter --net=/run/netns/"$NS" "$BIN" --pin-root "$PIN" -j dataplane attach vb --entry tc-ingress
jcheck "attach tc-ingress (nsenter) -j" '.ifname == "vb" and .entry == "tc-ingress" and .mode == "tcx"'
run bs --netns "$NS" dataplane attach va --entry xdp
expect "attach twice: exit 1" 1 'xdp on va: already attached'
run bs --netns "$NS" dataplane attach nosuch0 --entry xdp
expect "attach to a missing interface: exit 4" 4 'interface nosuch0: not found'
run bs dataplane attach va --entry xdp
expect "the namespace's interface is not in the host's" 4 'interface va: not found'
run bs dataplane attach va
expect "attach without --entry looks the interface up first" 4 'interface va: not found'
run bs --netns "$NS" -j dataplane show
jcheck "dataplane show -j lists links" '(.links | length) == 2 and ([.links[] | .ifname + "/" + .entry] | sort) == ["va/xdp","vb/tc-ingress"] and (.links[] | .prog_id > 0)'
jcheck "dataplane show -j: xdp mode" '.links[] | select(.entry == "xdp") | .mode == "native" or .mode == "generic"'
run ip netns exec "$NS" "$BIN" --pin-root "$PIN" frontend list
expect "inside ip netns exec: exit 3 with the fix" 3 'not on a bpf filesystem.*--netns'
run bs --netns "$NS" dataplane detach va --entry tc-egress
expect "detach what is not attached: exit 4" 4 'tc-egress on va: not attached'
run bs --netns "$NS" dataplane detach va --entry xdp
expect "detach xdp" 0 'detached xdp from va'
run ip -n "$NS" -j link show va
jcheck "no XDP program left on va" '.[0] | has("xdp") | not'
run bs --netns "$NS" -j dataplane detach vb
jcheck "detach every entry of vb" '.detached == [{"ifname":"vb","entry":"tc-ingress"}]'
run bs --netns "$NS" dataplane detach vb
expect "detach again: exit 4" 4 'interface vb: nothing of ours attached'
run bs --netns "$NS" dataplane attach vb
expect "attach without --entry: the loader chooses tc-ingress on a veth and says why" 0 '^vb: tc-ingress for ingress \(driver veth.*tc-egress for replies'
run bs --netns "$NS" -j dataplane show
jcheck "auto attach: tc-ingress and tc-egress on vb" '([.links[] | select(.ifname == "vb") | .entry] | sort) == ["tc-egress","tc-ingress"]'
run bs --netns "$NS" dataplane detach vb
expect "detach the auto-attached entries" 0 'detached tc-egress from vb'
run bs --netns "$NS" dataplane attach va --entry xdp --xdp-mode generic
expect "attach xdp generic" 0 'attached xdp \(generic\) on va'

# ---- Connection records from real TCP: client ns -> tc on the node's veth -> local backends ----
ip -n "$NS" addr add 10.200.0.1/24 dev n0
ip -n "$NSC" addr add 10.200.0.2/24 dev c0
ip -n "$NSC" route add default via 10.200.0.1
for a in 10.201.1.2 10.201.1.3 10.201.2.2; do ip -n "$NS" addr add $a/32 dev lo; done
cat >"$TMP/server.py" <<'EOF'
import socket, socketserver
class H(socketserver.BaseRequestHandler):
    def handle(self):
        self.request.sendall((self.request.getsockname()[0] + "\n").encode())
        while self.request.recv(4096):  # the client closes first: open until then
            pass
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer(("0.0.0.0", 8080), H).serve_forever()
EOF
cat >"$TMP/client.py" <<'EOF'
import socket, sys
seen = {}
for i in range(int(sys.argv[1])):
    with socket.create_connection(("10.96.0.10", 80), timeout=3) as s:
        who = s.makefile().readline().strip()
        seen[who] = seen.get(who, 0) + 1
print(" ".join(f"{k}={v}" for k, v in sorted(seen.items())))
EOF
cat >"$TMP/holder.py" <<'EOF'
import socket, sys, time
held = [socket.create_connection(("10.96.0.10", 80), timeout=3) for _ in range(int(sys.argv[1]))]
print(" ".join(s.makefile().readline().strip() for s in held), flush=True)
time.sleep(60)  # killed by the test
EOF
ip netns exec "$NS" /usr/bin/python3 "$TMP/server.py" >/dev/null 2>&1 &
SERVER_PID=$!
bs dataplane set --linger-ms 100 >/dev/null
run bs --netns "$NS" dataplane attach n0 --entry tc-ingress,tc-egress
expect "attach tc-ingress,tc-egress" 0 'attached tc-egress \(tcx\) on n0'
for _ in $(seq 50); do
	ip netns exec "$NS" ss -ltn 2>/dev/null | grep -q ':8080 ' && break
	sleep 0.1
done
run ip netns exec "$NSC" /usr/bin/python3 "$TMP/client.py" 20
expect "20 connections through the frontend" 0 '^(10\.201\.[12]\.[23]=[0-9]+ ?)+$'
run bs -j flow list
jcheck "flow list -j: 20 records" 'length == 20'
jcheck "flow records name client, frontend, backend, group" 'all(.[]; (.client | startswith("10.200.0.2:")) and .frontend == "10.96.0.10:80/tcp" and (.group_name == "stable" or .group_name == "canary") and .flags.from_syn and .age_ns > 0)'
jcheck "backends of flow records are the frontend's" 'all(.[]; .backend == "10.201.1.2:8080" or .backend == "10.201.1.3:8080" or .backend == "10.201.2.2:8080")'
run bs -j flow list --limit 3
jcheck "flow list --limit" 'length == 3'
run bs -j flow list --backend 10.201.2.2:8080
jcheck "flow list --backend" 'all(.[]; .backend == "10.201.2.2:8080")'
run bs -j flow list --client 10.200.0.9
jcheck "flow list --client (none)" 'length == 0'
run bs flow list --frontend $FE --limit 2
expect "flow list plain" 0 '2 flows shown \(--limit reached\)'
run bs -j stats
jcheck "stats count the connections" '.reasons.fwd_new == 20 and .frontends[0].counters.new_conns == 20 and ([.backends[].counters.new_conns] | add) == 20 and .reasons.reply_nat > 0'
run bs -j frontend show $FE
jcheck "frontend show counters" '.counters.new_conns == 20 and .counters.packets > 0 and .counters.bytes > 0'
run bs status
expect "status lists links and frontends" 0 'tc-ingress on n0'
run bs -j watch --interval 0.1 --count 2
if [ "$(grep -c '"frontends"' <<<"$OUT")" = 2 ] && jq -e '.frontends[0].groups | length == 2' >/dev/null 2>&1 <<<"$(tail -1 <<<"$OUT")"; then
	ok "watch prints one JSON document a round"
else
	not_ok "watch prints one JSON document a round"
fi
sleep 0.3
run bs -j flow gc
jcheck "flow gc deletes closed connections" '.deleted > 0'
run bs -j flow list
jcheck "fewer records after gc" 'length < 20'

# ---- status: observed shares from real connections, open connections ----
run bs -j status --window 0
jcheck "status -j --window 0: cumulative shares of every connection so far" '.observed == "cumulative" and .frontends[0].observed_new_conns == 20 and ([.frontends[0].groups[].observed_new_conns] | add) == 20 and ([.frontends[0].groups[].observed_share_pct] | add) > 99.9 and .frontends[0].info.step == 1'
bs frontend set-weights $FE stable=100 canary=0 >/dev/null 2>&1
bs -j status --window 3 >"$TMP/status.json" 2>"$TMP/status.err" &
STATUS_PID=$!
bs status --window 3 >"$TMP/status.txt" 2>&1 &
STATUS_PLAIN_PID=$!
sleep 0.5
run ip netns exec "$NSC" /usr/bin/python3 "$TMP/client.py" 10
expect "10 more connections at 100/0" 0 '^10\.201\.1\.[23]=[0-9]+( 10\.201\.1\.[23]=[0-9]+)?$'
wait "$STATUS_PID"
RC=$?
STATUS_PID=
wait "$STATUS_PLAIN_PID"
STATUS_PLAIN_PID=
OUT=$(cat "$TMP/status.txt")
ERR=
expect "status plain --window 3: stable observed 100% (10/10) at 100/0" 0 '^  group stable  weight 100 \(100\.0%\)  observed 100\.0% \(10/10\)$'
expect "status plain --window 3: canary observed 0% (0/10)" 0 '^  group canary  weight 0 \(0\.0%\)  observed 0\.0% \(0/10\)$'
expect "status plain --window 3: says what observed means" 0 '^observed: share of the new connections of the last 3\.[0-9]+s \(--window\)$'
OUT=$(cat "$TMP/status.json")
ERR=$(cat "$TMP/status.err")
expect "status --window 3 during the traffic" 0
jcheck "status -j --window: 100% observed for stable at 100/0 (10/10)" '.observed == "window" and .window_s >= 2.9 and .frontends[0].observed_new_conns == 10 and .frontends[0].groups[0].name == "stable" and .frontends[0].groups[0].weight == 100 and .frontends[0].groups[0].share_pct == 100 and .frontends[0].groups[0].observed_share_pct == 100 and .frontends[0].groups[0].observed_new_conns == 10 and .frontends[0].groups[1].observed_share_pct == 0 and .frontends[0].groups[1].observed_new_conns == 0'
jcheck "status -j --window: backends' observed connections add up" '([.frontends[0].groups[0].backends[].observed_new_conns] | add) == 10 and ([.frontends[0].groups[0].backends[].counters.new_conns] | add) >= 10'
ip netns exec "$NSC" /usr/bin/python3 "$TMP/holder.py" 5 >"$TMP/holder.out" 2>&1 &
HOLDER_PID=$!
for _ in $(seq 50); do [ -s "$TMP/holder.out" ] && break; sleep 0.1; done
run bs -j status --window 0
jcheck "status -j: 5 open connections, all to stable backends" '.frontends[0].active_conns == 5 and ([.frontends[0].groups[0].backends[].active_conns] | add) == 5 and .frontends[0].groups[1].backends[0].active_conns == 0 and .frontends[0].active_conns_unlisted == 0'
run bs status --window 0.2
expect "status plain: observed share over the window" 0 '^  group stable  weight 100 \(100\.0%\)  observed - \(0/0\)$'
if grep -qE '^    10\.201\.1\.[23]:8080 +ready +[1-5] +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$' <<<"$OUT" &&
	grep -q 'share of the new connections of the last 0\.2' <<<"$OUT"; then
	ok "status plain: open connections per backend, window named"
else
	not_ok "status plain: open connections per backend, window named"
fi
kill "$HOLDER_PID" 2>/dev/null
wait "$HOLDER_PID" 2>/dev/null
HOLDER_PID=
for _ in $(seq 30); do
	run bs -j status --window 0
	jq -e '.frontends[0].active_conns == 0' >/dev/null 2>&1 <<<"$OUT" && break
	sleep 0.1
done
jcheck "closed connections are no longer open" '.frontends[0].active_conns == 0'
run bs -j watch --interval 0.2 --count 1
jcheck "watch -j: the status document with a window and a time" '.observed == "window" and .window_s > 0 and (.time | test("T")) and .frontends[0].info.rollout == "default/rollouts-demo" and (.frontends[0].groups[0] | has("observed_share_pct") and has("new_conns_per_s") and has("observed_failure_ratio") and has("handshake_p99_s"))'

# ---- status per version: a backend listed by both groups counts once, in its group ----
# (Argo's steady state: the stable and the canary Service select the same pods.)
cat >"$TMP/both.json" <<'EOF'
{"frontend": "10.96.0.10:80/tcp", "groups": [
  {"name": "stable", "weight": 100, "backends": [{"address": "10.201.1.2:8080"}, {"address": "10.201.1.3:8080"}]},
  {"name": "canary", "weight": 0, "backends": [{"address": "10.201.1.2:8080"}]}]}
EOF
run bs frontend apply "$TMP/both.json"
expect "one backend in both groups" 0 "frontend $FE"
bs -j status --window 3 >"$TMP/both-status.json" 2>&1 &
STATUS_PID=$!
bs status --window 3 >"$TMP/both-status.txt" 2>&1 &
STATUS_PLAIN_PID=$!
sleep 0.5
run ip netns exec "$NSC" /usr/bin/python3 "$TMP/client.py" 10
expect "10 connections at 100/0 with a shared backend" 0 '^10\.201\.1\.[23]='
wait "$STATUS_PID"
STATUS_PID=
wait "$STATUS_PLAIN_PID"
STATUS_PLAIN_PID=
OUT=$(cat "$TMP/both-status.txt")
ERR=
expect "status: canary at weight 0 sharing a backend observes 0% (0/10)" 0 '^  group canary  weight 0 \(0\.0%\)  observed 0\.0% \(0/10\)$'
expect "status: stable observes 100% (10/10)" 0 '^  group stable  weight 100 \(100\.0%\)  observed 100\.0% \(10/10\)$'
expect "status: per version failure ratio and handshake latency" 0 '^    failed 0\.0% \(0/10\)  handshake p50 [0-9.e+-]+ ms  p99 [0-9.e+-]+ ms$'
expect "status: no connection, no latency" 0 '^    failed - \(0/0\)  handshake p50 -  p99 -$'
OUT=$(cat "$TMP/both-status.json")
jcheck "status -j: the shared backend's connections count in stable only" '.frontends[0].groups[0].observed_new_conns == 10 and .frontends[0].groups[1].observed_new_conns == 0 and .frontends[0].groups[1].observed_share_pct == 0 and ([.frontends[0].groups[0].backends[].observed_new_conns] | add) == 10 and .frontends[0].groups[1].backends[0].observed_new_conns == 0'
jcheck "status -j: failure ratio and handshake quantiles per version" '.frontends[0].groups[0].observed_failed == 0 and .frontends[0].groups[0].observed_failure_ratio == 0 and .frontends[0].groups[0].handshake_p50_s > 0 and .frontends[0].groups[0].handshake_p99_s >= .frontends[0].groups[0].handshake_p50_s and .frontends[0].groups[1].observed_failure_ratio == null and .frontends[0].groups[1].handshake_p99_s == null'

# ---- Remove, unload ----
run bs frontend remove $FE
expect "frontend remove" 0 "frontend $FE: removed"
run bs -j frontend list
jcheck "no frontend left" 'length == 0'
run bs dataplane unload
expect "dataplane unload" 0 'unloaded'
[ ! -e "$PIN" ] && ok "pins removed" || not_ok "pins removed" "$PIN still exists"
run ip -n "$NS" -j link show va
jcheck "unload detached the namespace's links" '.[0] | has("xdp") | not'
run bs dataplane unload
expect "unload again: exit 3" 3 'no data path pinned'

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" = 0 ]
