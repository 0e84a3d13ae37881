# SPDX-License-Identifier: BSD-2-Clause
"""The agent's attachments, in a network namespace this test creates: /readyz stays
not ready (and says why) while a configured interface is missing even though the maps
match the cluster; the attachment is made as soon as the interface appears; a link
detached behind the agent's back (bpftool link detach: the pin stays, the link is
defunct) or a classic tc filter deleted (tc filter del) is attached again, counted in
/metrics and logged. The socket hooks on a cgroup (--cgroup) are kept the same way, and
--nat/--node-addr reach the maps. Run once with tcx links and once with the classic
clsact + cls_bpf attach forced (BPFSPLIT_TC_ATTACH=classic)."""

import ctypes
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
import fake_apiserver as fa  # noqa: E402

BUILD = os.environ.get("BPFSPLIT_BUILD", os.path.join(ROOT, "build"))
AGENT = os.path.join(BUILD, "bpfsplit-agent")
CLI = os.path.join(BUILD, "bpfsplit")
REF = os.environ.get("BPFSPLIT_K8S_REFERENCE", os.path.join(ROOT, "tests", "fixtures", "k8s"))
SEED = ["httproute-canary-30.json", "gateway-agentgateway-proxy.json", "service-stable.json",
        "service-canary.json", "endpointslice-list.json", "rollout-paused-step1-weight30.json"]
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def wait_for(fn, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def sh(*argv, check=True):
    p = subprocess.run(list(argv), capture_output=True, text=True, timeout=30)
    if check and p.returncode:
        raise AssertionError(f"{' '.join(argv)}: {p.returncode} {p.stderr.strip()}")
    return p


@unittest.skipUnless(os.geteuid() == 0 and os.path.ismount("/sys/fs/bpf"), "needs root and bpffs")
@unittest.skipUnless(os.access(AGENT, os.X_OK), f"{AGENT} not built")
class AgentAttachTcx(unittest.TestCase):
    tc_attach = "tcx"

    def setUp(self):
        self.id = uuid.uuid4().hex[:6]
        self.ns = f"bsa{self.id}"
        self.ifname = "bsa0"
        self.tmp = tempfile.mkdtemp(prefix="bs-agent-attach-")
        self.pin_root = f"/sys/fs/bpf/bs-agent-attach-{self.id}"
        self.agent = None
        self.cgroup = None
        sh("ip", "netns", "add", self.ns)
        sh("ip", "-n", self.ns, "link", "set", "lo", "up")
        self.srv = fa.FakeApiServer(os.path.join(self.tmp, "api"), token="attach-token", bookmark_interval=0.5)
        for name in SEED:
            self.srv.load_file(os.path.join(REF, name))
        # The API server listens inside the namespace, where the agent runs.
        back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
        fd = os.open(f"/run/netns/{self.ns}", os.O_RDONLY)
        try:
            self.assertEqual(_libc.setns(fd, CLONE_NEWNET), 0)
            self.srv.start()
        finally:
            self.assertEqual(_libc.setns(back, CLONE_NEWNET), 0)
            os.close(fd)
            os.close(back)
        self.kubeconfig = self.srv.write_kubeconfig(os.path.join(self.tmp, "kubeconfig"))

    def tearDown(self):
        if self.agent and self.agent.poll() is None:
            self.agent.send_signal(signal.SIGTERM)
            self.agent.wait(10)
        if self.agent:
            self.log_file.close()
        self.srv.stop()
        subprocess.run(["nsenter", f"--net=/run/netns/{self.ns}", CLI, "--pin-root", self.pin_root, "dataplane",
                        "unload"], capture_output=True)
        shutil.rmtree(self.pin_root, ignore_errors=True)
        if self.cgroup:
            os.rmdir(self.cgroup)
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start_agent(self, *extra):
        self.log_path = os.path.join(self.tmp, "agent.log")
        self.log_file = open(self.log_path, "w")
        env = dict(os.environ, BPFSPLIT_TC_ATTACH=self.tc_attach)
        # nsenter keeps the mount namespace (bpffs); ip netns exec would remount /sys.
        self.agent = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.ns}", AGENT, "--kubeconfig", self.kubeconfig, "--pin-root",
             self.pin_root, "--gateway-class", "agentgateway", "--metrics-addr", "127.0.0.1:0",
             "--max-conns", "4096", "--max-frontends", "256", "--max-backends", "256", *extra],
            stdout=self.log_file, stderr=subprocess.STDOUT, env=env)
        m = wait_for(lambda: self.alive() and re.search(r"serving /metrics.* port=(\d+)", self.log()),
                     what="the metrics listener")
        self.port = int(m.group(1))

    def alive(self):
        if self.agent.poll() is not None:
            raise AssertionError(f"agent exited {self.agent.returncode}:\n{self.log()[-3000:]}")
        return True

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def get(self, path):
        p = sh("nsenter", f"--net=/run/netns/{self.ns}", "curl", "-s", "-w", "\n%{http_code}",
               f"http://127.0.0.1:{self.port}{path}", check=False)
        body, _, code = p.stdout.rpartition("\n")
        return int(code or 0), body

    def metric(self, name, entry):
        _, text = self.get("/metrics")
        m = re.search(r'^%s\{ifname="%s",entry="%s"[^}]*\} (\S+)$' % (name, self.ifname, entry), text, re.M)
        return float(m.group(1)) if m else None

    def make_interface(self):
        sh("ip", "-n", self.ns, "link", "add", self.ifname, "type", "veth", "peer", "name", "bsa1")
        sh("ip", "-n", self.ns, "link", "set", self.ifname, "up")

    def lose_ingress(self):
        """Detach the tc-ingress attachment behind the agent's back, keeping its pin."""
        pin = [p for p in os.listdir(os.path.join(self.pin_root, "links")) if p.startswith("tc-ingress@")]
        self.assertEqual(len(pin), 1, pin)
        self.assertNotIn("@classic", pin[0])
        info = json.loads(sh("bpftool", "-j", "link", "show", "pinned",
                             os.path.join(self.pin_root, "links", pin[0])).stdout)
        sh("bpftool", "link", "detach", "id", str(info["id"]))

    def test_not_ready_until_attached_then_lost_link_comes_back(self):
        self.start_agent("--attach", f"tc-ingress:{self.ifname}", "--attach", f"tc-egress:{self.ifname}")
        wait_for(lambda: 'msg="the maps match the cluster"' in self.log(), what="the first full sync")
        code, body = self.get("/readyz")
        self.assertEqual(code, 503, body)
        self.assertIn(f"tc-ingress on {self.ifname} not attached (No such device)", body)
        self.assertEqual(self.metric("bpfsplit_agent_link", "tc-ingress"), 0.0)
        self.make_interface()
        wait_for(lambda: self.get("/readyz")[0] == 200, what="/readyz once the interface exists")
        self.assertEqual(self.metric("bpfsplit_agent_link", "tc-ingress"), 1.0)
        self.assertEqual(self.metric("bpfsplit_agent_link", "tc-egress"), 1.0)
        how = "tc classic ingress" if self.tc_attach == "classic" else "tcx ingress"
        self.assertIn(f'msg="attached" ifname={self.ifname} entry=tc-ingress how="{how}"', self.log())
        self.lose_ingress()
        wait_for(lambda: self.metric("bpfsplit_agent_link_reattached_total", "tc-ingress") == 1.0,
                 what="the lost link attached again")
        self.assertIn(f'msg="attachment was lost (detached or unpinned by someone); attached again" '
                      f'ifname={self.ifname} entry=tc-ingress how="{how}" reattached=1', self.log())
        self.assertEqual(self.get("/readyz")[0], 200)
        self.assertEqual(self.metric("bpfsplit_agent_link_reattached_total", "tc-egress"), 0.0)


    def make_cgroup(self):
        """A child of the cgroup v2 hierarchy (the unified one on a hybrid host) standing
        for the node's cgroup root; removed by tearDown after unload detached the hooks."""
        for base in ("/sys/fs/cgroup/unified", "/sys/fs/cgroup"):
            if os.path.isdir(base) and sh("stat", "-f", "-c", "%T", base).stdout.strip() == "cgroup2fs":
                self.cgroup = os.path.join(base, f"bs-agent-cg-{self.id}")
                os.mkdir(self.cgroup)
                return self.cgroup
        self.fail("no cgroup v2 hierarchy at /sys/fs/cgroup or /sys/fs/cgroup/unified")

    def cgroup_metric(self, name):
        _, text = self.get("/metrics")
        m = re.search(r'^%s\{ifname="%s",entry="cgroup"[^}]*\} (\S+)$' % (name, re.escape(self.cgroup)), text, re.M)
        return float(m.group(1)) if m else None

    def hooks_on_cgroup(self):
        out = sh("bpftool", "-j", "cgroup", "show", self.cgroup).stdout
        return sorted(p["attach_type"] for p in json.loads(out or "[]"))

    def test_cgroup_hooks_kept_and_node_nat_written(self):
        cgroup = self.make_cgroup()
        self.make_interface()
        self.start_agent("--attach", f"tc-egress:{self.ifname}", "--cgroup", cgroup, "--nat", "snat",
                         "--node-addr", "10.123.0.1")
        wait_for(lambda: self.get("/readyz")[0] == 200, what="/readyz with the hooks attached")
        self.assertEqual(self.cgroup_metric("bpfsplit_agent_link"), 1.0)
        want = sorted(["cgroup_inet4_connect", "cgroup_inet6_connect", "cgroup_udp4_sendmsg", "cgroup_udp6_sendmsg",
                       "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg", "cgroup_inet4_getpeername",
                       "cgroup_inet6_getpeername"])
        self.assertEqual(self.hooks_on_cgroup(), want)
        self.assertIn(f'msg="socket hooks attached" cgroup={cgroup}', self.log())
        node = json.loads(sh(CLI, "--pin-root", self.pin_root, "-j", "node", "show").stdout)
        self.assertEqual((node["nat"], node["addr4"]), ("snat", "10.123.0.1"))
        # Someone detaches them: attached again, counted and logged; readiness comes back.
        sh(CLI, "--pin-root", self.pin_root, "cgroup", "detach", cgroup)
        wait_for(lambda: self.cgroup_metric("bpfsplit_agent_link_reattached_total") == 1.0,
                 what="the lost socket hooks attached again")
        self.assertEqual(self.hooks_on_cgroup(), want)
        self.assertIn(f'msg="socket hooks were lost (detached or unpinned by someone); attached again" '
                      f'cgroup={cgroup} reattached=1', self.log())
        self.assertEqual(self.get("/readyz")[0], 200)

    def test_snat_without_node_address_is_refused(self):
        p = subprocess.run([AGENT, "--kubeconfig", self.kubeconfig, "--pin-root", self.pin_root, "--nat", "snat"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("--nat snat needs --node-addr", p.stderr)

    def test_pinned_maps_keep_their_sizes_and_say_so(self):
        self.start_agent()  # --max-conns 4096 ...
        wait_for(lambda: 'msg="map sizes" conns=4096 frontends=256 backends=256' in self.log(), what="sizes")
        self.agent.send_signal(signal.SIGTERM)
        self.assertEqual(self.agent.wait(10), 0)
        self.log_file.close()
        self.start_agent("--max-conns", "8192")  # the later flag wins; the pinned map stays
        wait_for(lambda: 'msg="map sizes" conns=4096' in self.log(), what="the pinned size")
        self.assertIn('--max-conns takes effect after bpfsplit dataplane unload" map=bs_conns asked=8192 has=4096',
                      self.log())


class AgentAttachClassic(AgentAttachTcx):
    tc_attach = "classic"

    def lose_ingress(self):
        """Delete our cls_bpf filter with tc, as an operator might."""
        out = sh("ip", "netns", "exec", self.ns, "tc", "filter", "show", "dev", self.ifname, "ingress").stdout
        self.assertIn("bs_tc_ingress", out)
        sh("ip", "netns", "exec", self.ns, "tc", "filter", "del", "dev", self.ifname, "ingress", "pref", "1",
           "handle", "0xb5", "bpf")
        out = sh("ip", "netns", "exec", self.ns, "tc", "filter", "show", "dev", self.ifname, "ingress").stdout
        self.assertNotIn("bs_tc_ingress", out)


if __name__ == "__main__":
    unittest.main()
