# SPDX-License-Identifier: BSD-2-Clause
"""The rendered DaemonSet (`kubectl kustomize deploy/`) as a container engine runs it:
the podman arguments equivalent to what a kubelet does with the pod template's
container - image, args with $(VAR) expanded, env, securityContext, volume mounts,
memory limit, host network - plus the service-account files a kubelet mounts.

Only the host side of hostPath volumes is relocated (into a test sandbox), and the
"host" network is a lab namespace; everything else is taken as rendered."""

import os
import re
import subprocess

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PODMAN = ["podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs"]
# The engine's default limits cannot be raised here (no CAP_SYS_RESOURCE).
ULIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
SA_DIR = "/var/run/secrets/kubernetes.io/serviceaccount"

UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "k": 10**3, "M": 10**6, "G": 10**9, "": 1}


def quantity_bytes(q):
    m = re.fullmatch(r"(\d+)([KMGT]i|[kMG]|)", str(q))
    if not m:
        raise ValueError(f"memory quantity {q!r} not understood")
    return int(m.group(1)) * UNITS[m.group(2)]


def render(path=os.path.join(ROOT, "deploy")):
    out = subprocess.run(["kubectl", "kustomize", path], check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def daemonset(docs):
    (ds,) = [d for d in docs if d["kind"] == "DaemonSet"]
    return ds


def agent_container(ds):
    (c,) = [c for c in ds["spec"]["template"]["spec"]["containers"] if c["name"] == "agent"]
    return c


def flag_values(args):
    """--name=value args as a dict (last wins)."""
    out = {}
    for a in args:
        if a.startswith("--") and "=" in a:
            k, v = a[2:].split("=", 1)
            out[k] = v
    return out


def expand(s, env):
    """Kubernetes $(VAR) expansion in args ($$ escapes)."""
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)), s)


def env_of(container, node_name):
    env = {}
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]
        elif e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
            env[e["name"]] = node_name
        else:
            raise ValueError(f"env {e['name']}: source not emulated: {e}")
    return env


def podman_run_argv(ds, netns, host_paths, sa_dir, api_host, api_port, node_name, name):
    """podman run arguments for the DaemonSet's agent container. host_paths maps each
    hostPath volume's path to the folder standing in for it."""
    pod = ds["spec"]["template"]["spec"]
    c = agent_container(ds)
    sc = c.get("securityContext", {})
    argv = PODMAN + ["run", "-d", "--name", name, "--pull=never"] + ULIMITS
    if not pod.get("hostNetwork"):
        raise ValueError("the DaemonSet is expected to use the host network")
    argv += ["--network", f"ns:/run/netns/{netns}"]
    if sc.get("privileged"):
        argv.append("--privileged")
    caps = sc.get("capabilities", {})
    for cap in caps.get("drop", []):
        argv.append("--cap-drop=" + ("all" if cap == "ALL" else "CAP_" + cap))
    for cap in caps.get("add", []):
        argv.append("--cap-add=CAP_" + cap)
    if sc.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    if sc.get("readOnlyRootFilesystem"):
        argv += ["--read-only", "--read-only-tmpfs=false"]  # a kubelet adds no tmpfs
    if "runAsUser" in sc:
        argv += ["--user", str(sc["runAsUser"])]
    seccomp = sc.get("seccompProfile") or pod.get("securityContext", {}).get("seccompProfile") or {}
    kind = seccomp.get("type", "RuntimeDefault")
    if kind == "Unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    elif kind == "Localhost":
        argv += ["--security-opt", "seccomp=" + os.path.join(ROOT, "deploy", seccomp["localhostProfile"])]
    elif kind != "RuntimeDefault":
        raise ValueError(f"seccompProfile {seccomp}")
    limit = c.get("resources", {}).get("limits", {}).get("memory")
    if limit:
        argv += ["--memory", str(quantity_bytes(limit)), "--memory-swap", str(quantity_bytes(limit))]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for m in c.get("volumeMounts", []):
        v = volumes[m["name"]]
        if "hostPath" not in v:
            raise ValueError(f"volume {m['name']}: only hostPath is emulated")
        src = host_paths[v["hostPath"]["path"]]
        opts = ["ro" if m.get("readOnly") else "rw"]
        prop = m.get("mountPropagation", "None")
        opts.append({"HostToContainer": "rslave", "Bidirectional": "rshared", "None": "rprivate"}[prop])
        argv += ["-v", f"{src}:{m['mountPath']}:{','.join(opts)}"]
    env = env_of(c, node_name)
    # What a kubelet adds for the service account (automountServiceAccountToken).
    env.update({"KUBERNETES_SERVICE_HOST": api_host, "KUBERNETES_SERVICE_PORT": str(api_port)})
    argv += ["-v", f"{sa_dir}:{SA_DIR}:ro"]
    for k, v in env.items():
        argv += ["-e", f"{k}={v}"]
    if c.get("command"):
        argv += ["--entrypoint", c["command"][0]]
    argv.append(c["image"])
    argv += [expand(a, env) for a in (c.get("command", [])[1:] + c.get("args", []))]
    return argv
