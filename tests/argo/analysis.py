# SPDX-License-Identifier: BSD-2-Clause
"""Argo Rollouts' analysis, played: a real Prometheus server (Debian's `prometheus`)
scrapes bpfsplit-agent, and each metric of the shipped AnalysisTemplate
(deploy/analysis/analysistemplate.yaml) is measured the way Argo's Prometheus provider
does it: the query with its {{args.*}} filled in, sent to /api/v1/query, and the
template's own successCondition applied to the result. The thresholds are the
template's, never the caller's."""

import calendar
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEMPLATE = os.path.join(ROOT, "deploy", "analysis", "analysistemplate.yaml")
RULES = os.path.join(ROOT, "deploy", "analysis", "prometheusrule.yaml")
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"

# successCondition forms the template uses: result[0] OP NUMBER
_CONDITION = re.compile(r"^\s*result\[0\]\s*(<=|<|>=|>|==)\s*([-+0-9.eE]+)\s*$")
_OPS = {"<=": lambda a, b: a <= b, "<": lambda a, b: a < b, ">=": lambda a, b: a >= b,
        ">": lambda a, b: a > b, "==": lambda a, b: a == b}
_NEGATED = {"<=": ">", "<": ">=", ">=": "<", ">": "<=", "==": "!="}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    """A Prometheus server on loopback scraping `targets` every second, with the shipped
    PrometheusRule's groups loaded as its rule file."""

    def __init__(self, targets, workdir=None, scrape_interval="1s"):
        self.dir = workdir or tempfile.mkdtemp(prefix="bs-prom-")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        with open(RULES) as f:
            rules = yaml.safe_load(f)["spec"]
        with open(os.path.join(self.dir, "rules.yml"), "w") as f:
            yaml.safe_dump(rules, f)
        config = {
            "global": {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval},
            "rule_files": [os.path.join(self.dir, "rules.yml")],
            "scrape_configs": [{"job_name": "bpfsplit-agent", "static_configs": [{"targets": list(targets)}]}],
        }
        with open(os.path.join(self.dir, "prometheus.yml"), "w") as f:
            yaml.safe_dump(config, f)
        self.log = open(os.path.join(self.dir, "prometheus.log"), "w")
        self.proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={self.dir}/prometheus.yml", f"--storage.tsdb.path={self.dir}/data",
             f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"],
            stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError(f"prometheus did not start: see {self.dir}/prometheus.log")
            time.sleep(0.2)

    def query(self, expr):
        """Instant query: the list of [labels, value] of the resulting vector."""
        url = self.url + "/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        with urllib.request.urlopen(url, timeout=10) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"prometheus: {expr!r}: {body}")
        data = body["data"]
        if data["resultType"] == "scalar":
            return [({}, float(data["result"][1]))]
        return [(s["metric"], float(s["value"][1])) for s in data["result"]]

    def scrapes_since(self, t0):
        """Completed scrapes of the agent that started after t0 (seconds since the epoch)."""
        with urllib.request.urlopen(self.url + "/api/v1/targets", timeout=10) as r:
            targets = json.load(r)["data"]["activeTargets"]
        out = []
        for t in targets:
            last = t.get("lastScrape", "")
            m = re.match(r"(\d+-\d+-\d+T\d+:\d+:\d+)(\.\d+)?", last)
            if m and t.get("health") == "up":
                ts = calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S"))
                ts += float(m.group(2) or 0)
                out.append(ts > t0)
        return bool(out) and all(out)

    def wait_scraped(self, timeout=30):
        """Until every target was scraped after now, and rules evaluated on it."""
        t0 = time.time()
        deadline = time.monotonic() + timeout
        while not self.scrapes_since(t0):
            if time.monotonic() > deadline:
                raise RuntimeError("prometheus did not scrape the agent in time")
            time.sleep(0.2)

    def close(self):
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.log.close()


def load_template(path=TEMPLATE):
    with open(path) as f:
        return yaml.safe_load(f)


def fill(text, args):
    def one(m):
        name = m.group(1)
        if name not in args:
            raise KeyError(f"AnalysisTemplate: no value for args.{name}")
        return str(args[name])
    return re.sub(r"\{\{\s*args\.([A-Za-z0-9_.-]+)\s*\}\}", one, text)


def template_args(template, given):
    """The template's args with their defaults, overridden by `given`; every arg must
    end up with a value (as Argo requires)."""
    args = {}
    for a in template["spec"].get("args", []):
        if "value" in a:
            args[a["name"]] = a["value"]
    args.update(given)
    for a in template["spec"].get("args", []):
        if a["name"] not in args:
            raise KeyError(f"AnalysisTemplate: arg {a['name']} has no value")
    return args


class Measurement:
    def __init__(self, metric, value, op, threshold, ok):
        self.metric, self.value, self.op, self.threshold, self.ok = metric, value, op, threshold, ok

    def describe(self):
        name = self.metric.replace("-", " ")
        op = self.op if self.ok else _NEGATED[self.op]
        return f"{name} {self.value:.2f} {op} {self.threshold:g}"


def measure(prom, template, args):
    """One measurement of every metric of the template: [Measurement]."""
    out = []
    for m in template["spec"]["metrics"]:
        cond = _CONDITION.match(m["successCondition"])
        if not cond:
            raise ValueError(f"metric {m['name']}: successCondition {m['successCondition']!r} not understood")
        op, threshold = cond.group(1), float(cond.group(2))
        query = fill(m["provider"]["prometheus"]["query"], args)
        result = prom.query(query)
        if not result:
            # Argo: an empty result fails result[0] (index out of range) -> an error, counted as failed.
            out.append(Measurement(m["name"], float("nan"), op, threshold, False))
            continue
        value = result[0][1]
        out.append(Measurement(m["name"], value, op, threshold, _OPS[op](value, threshold)))
    return out


def analysis_line(measurements, weight):
    """`analysis: canary failure ratio 0.21 > 0.05 at setWeight=30 -> abort` (the first
    failed metric), or every metric's value and `-> pass`."""
    failed = [m for m in measurements if not m.ok]
    if failed:
        return f"analysis: {failed[0].describe()} at setWeight={weight} -> abort"
    return f"analysis: {', '.join(m.describe() for m in measurements)} at setWeight={weight} -> pass"
