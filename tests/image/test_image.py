# SPDX-License-Identifier: BSD-2-Clause
"""The image, run as the DaemonSet says. `make image` (scripts/build-image.sh) builds
deploy/Containerfile with podman; the DaemonSet is rendered with `kubectl kustomize
deploy/`, and its agent container runs with exactly the rendered image, args, env,
securityContext (capabilities, seccomp, no-new-privileges, read-only root, user),
volume mounts and memory limit (tests/image/podspec.py). Its "host network" is the
node namespace of a lab (tests/lab), whose default route goes out of the
client-facing veth - the uplink that --interfaces=auto must find. The test API
server listens in that namespace and the container reaches it the way a pod does
(KUBERNETES_SERVICE_HOST, the service-account token and CA mounted).

Proven here: the data path loads under the limit and attaches (tc on the veth,
chosen by driver), /readyz turns 200 only then, the agent syncs, real connections
split by the route's weights, the bpfsplit CLI in the image inspects with the pod's
capabilities, a detached link is re-attached; and that the same image under the
engine's default seccomp profile, or without CAP_PERFMON, fails with a message that
names the cause.

Bpffs: the DaemonSet's hostPath /sys/fs/bpf is a unique folder under /sys/fs/bpf
here. Needs root, podman, runc, kubectl (scripts/install-deps.sh)."""

import ctypes
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest
import uuid
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
sys.path.insert(0, os.path.join(ROOT, "tests", "apiserver"))
sys.path.insert(0, os.path.join(ROOT, "tests", "argo"))

import podspec  # noqa: E402
from harness import BUILD, FRONTEND4, Lab, expected_colours, source_ports  # noqa: E402

CLI = os.path.join(BUILD, "bpfsplit")
CLIENT_PY = os.path.join(ROOT, "tests", "lab", "client.py")
# The cgroup v2 hierarchy: the unified one on a hybrid host.
CGROUP2 = "/sys/fs/cgroup/unified" if os.path.isdir("/sys/fs/cgroup/unified") else "/sys/fs/cgroup"
SOCKET_HOOKS = sorted(["cgroup_inet4_connect", "cgroup_inet6_connect", "cgroup_udp4_sendmsg", "cgroup_udp6_sendmsg",
                       "cgroup_udp4_recvmsg", "cgroup_udp6_recvmsg", "cgroup_inet4_getpeername",
                       "cgroup_inet6_getpeername"])
N = 2000
CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL("libc.so.6", use_errno=True)


def wait_for(fn, timeout=30.0, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


@contextmanager
def in_netns(name):
    """This thread in a lab namespace: sockets made meanwhile stay in it."""
    back = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns")
        yield
    finally:
        if _libc.setns(back, CLONE_NEWNET):
            raise OSError(ctypes.get_errno(), "setns back")
        os.close(fd)
        os.close(back)


def read(path):
    with open(path) as f:
        return f.read()


def missing_tools():
    return [t for t in ("podman", "runc", "buildah", "debootstrap", "kubectl") if not shutil.which(t)]


def podman(*args, check=True, timeout=120):
    p = subprocess.run(podspec.PODMAN + list(args), capture_output=True, text=True, timeout=timeout)
    if check and p.returncode:
        raise AssertionError(f"podman {' '.join(args)} exited {p.returncode}: {p.stderr.strip()}")
    return p


def build_image(image):
    """make image, as a user would run it (cached layers make a rebuild quick). Returns
    the id of the image built: the tag may be rebuilt meanwhile from another tree."""
    with tempfile.NamedTemporaryFile(prefix="bs-image-iid-") as iid:
        p = subprocess.run(["scripts/build-image.sh"], cwd=ROOT, env=dict(os.environ, IMAGE=image, IIDFILE=iid.name),
                           capture_output=True, text=True, timeout=1500)
        if p.returncode:
            raise AssertionError(f"make image failed ({p.returncode}):\n{p.stdout[-4000:]}\n{p.stderr[-4000:]}")
        return open(iid.name).read().strip()


@unittest.skipUnless(os.geteuid() == 0, "needs root")
@unittest.skipIf(missing_tools(), f"missing {missing_tools()} (scripts/install-deps.sh)")
class ImageAsDaemonSet(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        from argo_player import ArgoPlayer
        import fake_apiserver as fa

        cls.ds = podspec.daemonset(podspec.render())
        cls.container = podspec.agent_container(cls.ds)
        cls.image = cls.container["image"]
        cls.image_id = build_image(cls.image)
        cls.tmp = tempfile.mkdtemp(prefix="bs-image-")
        cls.name = f"bs-image-{uuid.uuid4().hex[:8]}"
        cls.bpffs = f"/sys/fs/bpf/bs-image-{uuid.uuid4().hex[:8]}"  # the node's /sys/fs/bpf
        cls.srv = None
        cls.started = False
        cls.lab = Lab(n_green=3, n_orange=3, ipv6=False)
        cls.lab.up()
        try:
            cls.lab.start_backends()
            # The node's uplink: its default route goes out of the client-facing veth.
            cls.lab.ns_exec(cls.lab.node_ns, ["ip", "route", "replace", "default", "via", "10.200.0.2",
                                              "dev", cls.lab.node_client_if])
            os.mkdir(cls.bpffs)
            cls.srv = fa.FakeApiServer(os.path.join(cls.tmp, "api"), token="image-test-token",
                                       bookmark_interval=0.5, rbac=os.path.join(ROOT, "deploy", "rbac.yaml"))
            with in_netns(cls.lab.node_ns):
                cls.srv.start()
            cls.player = ArgoPlayer(cls.srv, {"green": cls.lab.green, "orange": cls.lab.orange},
                                    frontends=("10.96.0.10",))
            cls.player.apply_seed()
            sa = os.path.join(cls.tmp, "serviceaccount")
            os.mkdir(sa)
            shutil.copy(cls.srv.token_file, os.path.join(sa, "token"))
            shutil.copy(cls.srv.ca_path, os.path.join(sa, "ca.crt"))
            with open(os.path.join(sa, "namespace"), "w") as f:
                f.write(cls.ds["metadata"]["namespace"])
            cls.node_name = "lab-node"
            # The node's cgroup root: a child of the cgroup v2 hierarchy made for this test.
            cls.cgroup = os.path.join(CGROUP2, f"bs-image-{uuid.uuid4().hex[:8]}")
            os.mkdir(cls.cgroup)
            cls.argv = podspec.podman_run_argv(cls.ds, cls.lab.node_ns,
                                               {"/sys/fs/bpf": cls.bpffs, "/sys/fs/cgroup": cls.cgroup}, sa,
                                               "127.0.0.1", cls.srv.port, cls.node_name, cls.name)
            # The rendered image, by the id this test built under that name.
            argv = [cls.image_id if a == cls.image else a for a in cls.argv[len(podspec.PODMAN):]]
            podman(*argv)
            cls.started = True
            cls.flags = podspec.flag_values(cls.container["args"])
            cls.pin_root = cls.bpffs + cls.flags["pin-root"][len("/sys/fs/bpf"):]
            cls.metrics_port = int(cls.flags["metrics-addr"].rsplit(":", 1)[1])
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if getattr(cls, "started", False):
            logs = podman("logs", cls.name, check=False).stdout + podman("logs", cls.name, check=False).stderr
            with open(os.path.join(cls.tmp, "agent.log"), "w") as f:
                f.write(logs)
            podman("rm", "-f", "-t", "5", cls.name, check=False)
        if getattr(cls, "srv", None):
            cls.srv.stop()
        if os.path.isdir(getattr(cls, "bpffs", "")):
            for root in [os.path.join(cls.bpffs, d) for d in os.listdir(cls.bpffs)]:
                subprocess.run([CLI, "--pin-root", root, "dataplane", "unload"], capture_output=True)
            shutil.rmtree(cls.bpffs, ignore_errors=True)
        if getattr(cls, "cgroup", None) and os.path.isdir(cls.cgroup):
            os.rmdir(cls.cgroup)  # unload detached the socket hooks; nothing runs in it
        cls.lab.close()
        if os.environ.get("BPFSPLIT_KEEP_TMP"):
            print(f"kept {cls.tmp}")
        else:
            shutil.rmtree(getattr(cls, "tmp", "/nonexistent"), ignore_errors=True)

    # ---- helpers ----

    def logs(self):
        p = podman("logs", self.name, check=False)
        return p.stdout + p.stderr

    def http(self, path):
        """GET from the agent's listener, from the node namespace (as the kubelet probes)."""
        p = subprocess.run(["nsenter", f"--net=/run/netns/{self.lab.node_ns}", "curl", "-s", "-o", "/dev/stdout",
                            "-w", "\n%{http_code}", f"http://127.0.0.1:{self.metrics_port}{path}"],
                           capture_output=True, text=True, timeout=10)
        body, _, code = p.stdout.rpartition("\n")
        return int(code or 0), body

    def cli(self, *args, json_out=True, netns=None):
        argv = [CLI, "--pin-root", self.pin_root] + (["-j"] if json_out else []) + list(args)
        if netns:
            argv = ["nsenter", f"--net=/run/netns/{netns}"] + argv
        p = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        if json_out:
            return json.loads(p.stdout) if p.returncode == 0 and p.stdout.strip() else None
        return p

    def weights(self):
        fe = self.cli("frontend", "show", FRONTEND4)
        return tuple(g["weight"] for g in fe["groups"]) if fe else None

    def wait_ready(self):
        return wait_for(lambda: self.http("/readyz")[0] == 200, timeout=60,
                        what=f"/readyz 200; agent log:\n{self.logs()[-3000:]}")

    def link_metrics(self):
        _, text = self.http("/metrics")
        return {(m.group(1), m.group(2)): float(m.group(3)) for m in re.finditer(
            r'^bpfsplit_agent_link\{ifname="([^"]*)",entry="([^"]*)",how="[^"]*"\} (\S+)$', text, re.M)}

    def reattached(self, entry):
        _, text = self.http("/metrics")
        m = re.search(r'^bpfsplit_agent_link_reattached_total\{ifname="%s",entry="%s"\} (\S+)$'
                      % (re.escape(self.lab.node_client_if), entry), text, re.M)
        return float(m.group(1)) if m else None

    def hash_key(self):
        """The flow-hash key in force, as the data path reports it (for the prediction)."""
        return self.cli("dataplane", "show")["settings"]["hash_key"]

    def assert_split(self, weight):
        """N fresh connections from source ports the test chooses: the colours reached
        are exactly those the shared flow hash predicts for (100 - weight, weight)."""
        ports = source_ports(N)
        r = self.lab.fresh(self.lab.url(4), n=N, concurrency=8, source_ports=ports,
                           local_addr=[self.lab.client_ipv4])
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        expected = expected_colours(self.lab, self, (100 - weight, weight), ("green", "orange"), ports)
        self.assertEqual(r["counts"], expected, f"at {100 - weight}/{weight}: not the flow hash's prediction")
        if weight not in (0, 100):
            self.assertTrue(expected.get("green") and expected.get("orange"), expected)

    # ---- the tests (in name order: the container is shared) ----

    def test_1_runs_with_the_rendered_settings(self):
        pid = podman("inspect", "-f", "{{.State.Pid}}", self.name).stdout.strip()
        status = read(f"/proc/{pid}/status")
        caps = int(re.search(r"^CapEff:\s+(\w+)", status, re.M).group(1), 16)
        want = {"NET_ADMIN": 12, "PERFMON": 38, "BPF": 39}
        added = self.container["securityContext"]["capabilities"]["add"]
        self.assertEqual(caps, sum(1 << want[c] for c in added), f"CapEff {caps:x} for {added}")
        self.assertEqual(re.search(r"^Seccomp:\s+(\d)", status, re.M).group(1), "0")  # Unconfined, as rendered
        self.assertEqual(re.search(r"^NoNewPrivs:\s+(\d)", status, re.M).group(1), "1")
        limit = podspec.quantity_bytes(self.container["resources"]["limits"]["memory"])
        cg = re.search(r"^\d+:memory:(.*)$", read(f"/proc/{pid}/cgroup"), re.M).group(1)
        with open(f"/sys/fs/cgroup/memory{cg}/memory.limit_in_bytes") as f:
            self.assertEqual(int(f.read()), limit)
        ro = podman("exec", self.name, "sh", "-c", "touch /x 2>&1; echo $?", check=False).stdout
        self.assertNotEqual(ro.strip().splitlines()[-1], "0", "the root filesystem is writable")

    def test_2_attaches_auto_uplink_then_ready(self):
        self.wait_ready()
        log = self.logs()
        self.assertIn(f'msg="interfaces auto: the uplink is the default route\'s interface" '
                      f'ifname={self.lab.node_client_if}', log)
        links = self.link_metrics()
        self.assertEqual(links, {(self.lab.node_client_if, "ingress"): 1.0,
                                 (self.lab.node_client_if, "tc-egress"): 1.0,
                                 (self.flags["cgroup"], "cgroup"): 1.0}, links)
        # The socket hooks sit on the node's cgroup root (here: the test's cgroup).
        hooks = json.loads(subprocess.run(["bpftool", "-j", "cgroup", "show", self.cgroup], capture_output=True,
                                          text=True, check=True).stdout or "[]")
        self.assertEqual(sorted(h["attach_type"] for h in hooks), SOCKET_HOOKS)
        # veth: the driver calls for tc at ingress; the link is pinned in the host's bpffs.
        self.assertRegex(log, r'msg="attached" ifname=%s entry=tc-ingress how="(tcx|tc classic) ingress" '
                         r'why="driver veth' % re.escape(self.lab.node_client_if))
        shown = self.cli("dataplane", "show")
        entries = sorted(l["entry"] for l in shown["links"])
        self.assertEqual(entries, ["tc-egress", "tc-ingress"], shown)
        # The map sizes are the rendered ones.
        sizes = shown["max_entries"]
        self.assertEqual(sizes["bs_conns"], int(self.flags["max-conns"]))
        self.assertEqual(sizes["bs_frontends"], int(self.flags["max-frontends"]))
        self.assertEqual(sizes["bs_backends"], int(self.flags["max-backends"]))
        self.assertEqual(sizes["bs_maglev"], int(self.flags["max-tables"]))

    def test_3_agent_in_the_container_serves_a_split(self):
        self.wait_ready()
        wait_for(lambda: self.weights() == (100, 0), what="the first sync: 100/0")
        self.assert_split(0)
        self.player.start_canary("orange")
        self.player.set_weight(0, 30)
        wait_for(lambda: self.weights() == (70, 30), what="70/30")
        self.assert_split(30)
        self.player.set_weight(2, 100)
        wait_for(lambda: self.weights() == (0, 100), what="0/100")
        self.assert_split(100)

    def test_4_cli_in_the_image_inspects_with_the_pods_capabilities(self):
        self.wait_ready()
        pin = self.flags["pin-root"]
        out = podman("exec", self.name, "bpfsplit", "--pin-root", pin, "-j", "frontend", "show", FRONTEND4)
        self.assertEqual(json.loads(out.stdout)["frontend"], FRONTEND4)
        out = podman("exec", self.name, "bpfsplit", "--pin-root", pin, "status")
        self.assertIn(FRONTEND4, out.stdout)
        out = podman("exec", self.name, "bpfsplit", "--pin-root", pin, "dataplane", "show")
        self.assertIn(self.lab.node_client_if, out.stdout)

    def test_5_detached_link_is_attached_again(self):
        self.wait_ready()
        before = self.reattached("tc-egress")
        p = self.cli("dataplane", "detach", self.lab.node_client_if, "--entry", "tc-egress", json_out=False,
                     netns=self.lab.node_ns)
        self.assertEqual(p.returncode, 0, p.stderr)
        wait_for(lambda: self.reattached("tc-egress") == before + 1, what="re-attachment counted")
        self.assertEqual(self.link_metrics()[(self.lab.node_client_if, "tc-egress")], 1.0)
        self.assertIn('msg="attachment was lost (detached or unpinned by someone); attached again" '
                      f'ifname={self.lab.node_client_if} entry=tc-egress', self.logs())
        self.wait_ready()
        self.assert_split(100 if self.weights() == (0, 100) else 0)

    def fresh_from_node_cgroup(self, n, in_cgroup):
        """client.py fresh from the node's network namespace, as a process in the node's
        cgroup root (a pod) or outside it."""
        enter = f"echo $$ > {self.cgroup}/cgroup.procs && " if in_cgroup else ""
        script = (f"{enter}exec nsenter --net=/run/netns/{self.lab.node_ns} /usr/bin/python3 {CLIENT_PY} fresh "
                  f"--url {self.lab.url(4)} -n {n} --concurrency 4 --timeout 2")
        p = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return json.loads(p.stdout)

    def test_7_pods_in_the_node_cgroup_choose_at_connect(self):
        """A process in the node's cgroup reaches the frontend through the socket hooks
        the agent attached (the node itself has no route to the frontend's address);
        one outside the cgroup does not."""
        self.wait_ready()
        w = self.weights()
        self.assertIn(w, ((0, 100), (100, 0)), "earlier tests leave the split at 0/100 or 100/0")
        before = self.cli("stats")["reasons"]["sock_connect"]
        r = self.fresh_from_node_cgroup(40, in_cgroup=True)
        self.assertEqual(r["errors"], 0, r.get("error_samples"))
        self.assertEqual(r["counts"], {"orange" if w == (0, 100) else "green": 40})
        self.assertGreaterEqual(self.cli("stats")["reasons"]["sock_connect"] - before, 40)
        outside = self.fresh_from_node_cgroup(4, in_cgroup=False)
        self.assertEqual(outside["errors"], 4, "without the hooks the node has no way to the frontend")

    def test_6_maps_are_charged_to_the_pod_under_its_limit(self):
        pid = podman("inspect", "-f", "{{.State.Pid}}", self.name).stdout.strip()
        cg = re.search(r"^\d+:memory:(.*)$", read(f"/proc/{pid}/cgroup"), re.M).group(1)
        d = f"/sys/fs/cgroup/memory{cg}"
        kmem = int(read(f"{d}/memory.kmem.usage_in_bytes"))
        usage = int(read(f"{d}/memory.max_usage_in_bytes"))
        limit = int(read(f"{d}/memory.limit_in_bytes"))
        # bs_conns and bs_rnat alone: 296 bytes per connection slot, preallocated.
        self.assertGreater(kmem, 296 * int(self.flags["max-conns"]), "map memory not charged to the pod")
        self.assertLess(usage, limit)
        self.assertEqual(int(read(f"{d}/memory.failcnt")), 0)


@unittest.skipUnless(os.geteuid() == 0, "needs root")
@unittest.skipIf(missing_tools(), f"missing {missing_tools()} (scripts/install-deps.sh)")
class ImageRefusals(unittest.TestCase):
    """The same image where the pod's settings differ: the error names the cause."""

    @classmethod
    def setUpClass(cls):
        cls.ds = podspec.daemonset(podspec.render())
        cls.image = build_image(podspec.agent_container(cls.ds)["image"])

    def load(self, *opts):
        root = f"/sys/fs/bpf/bs-image-r{uuid.uuid4().hex[:8]}"
        os.mkdir(root)
        try:
            return podman("run", "--rm", "--pull=never", *podspec.ULIMITS, "--network", "none", "--cap-drop=all",
                          *opts, "-v", f"{root}:/sys/fs/bpf:rw,rslave", "--entrypoint", "bpfsplit", self.image,
                          "--pin-root", "/sys/fs/bpf/x", "dataplane", "load", "--max-conns", "1024",
                          "--max-frontends", "64", "--max-backends", "64", check=False)
        finally:
            subprocess.run([CLI, "--pin-root", f"{root}/x", "dataplane", "unload"], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)

    def test_default_seccomp_profile_is_named(self):
        p = self.load("--cap-add=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN")  # the engine's default profile
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("refused by a seccomp filter (Seccomp: 2)", p.stdout + p.stderr)
        self.assertNotIn("run as root", p.stdout + p.stderr)

    def test_missing_perfmon_is_named(self):
        p = self.load("--cap-add=CAP_BPF,CAP_NET_ADMIN", "--security-opt", "seccomp=unconfined")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("missing capabilities CAP_PERFMON", p.stdout + p.stderr)

    def test_too_small_memory_limit_is_named(self):
        # The default map sizes (1M connections) in 128 MiB, the limit deploy/ once had.
        root = f"/sys/fs/bpf/bs-image-r{uuid.uuid4().hex[:8]}"
        os.mkdir(root)
        try:
            p = podman("run", "--rm", "--pull=never", *podspec.ULIMITS, "--network", "none", "--cap-drop=all",
                       "--cap-add=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN", "--security-opt", "seccomp=unconfined",
                       "--memory", str(128 << 20), "--memory-swap", str(128 << 20),
                       "-v", f"{root}:/sys/fs/bpf:rw,rslave", "--entrypoint", "bpfsplit", self.image,
                       "--pin-root", "/sys/fs/bpf/x", "dataplane", "load", check=False)
        finally:
            subprocess.run([CLI, "--pin-root", f"{root}/x", "dataplane", "unload"], capture_output=True)
            shutil.rmtree(root, ignore_errors=True)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("charged to this process's memory cgroup (limit 128 MiB)", p.stdout + p.stderr)

    def test_capabilities_as_rendered_load(self):
        p = self.load("--cap-add=CAP_BPF,CAP_PERFMON,CAP_NET_ADMIN", "--security-opt", "seccomp=unconfined")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


if __name__ == "__main__":
    unittest.main()
