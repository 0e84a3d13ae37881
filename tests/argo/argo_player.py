# SPDX-License-Identifier: BSD-2-Clause
"""Plays Argo Rollouts and its Gateway API plugin against an API server, step by step,
the way they do it on a cluster, for the seed scenario (Rollout rollouts-demo, Services
rollouts-demo-stable/-canary, HTTPRoute argo-rollouts-http-route, Gateway
agentgateway-proxy), with the lab's backends as pods:

- the plugin GETs the route (HTTPRoute, or the GRPCRoute, TCPRoute or TLSRoute it is
  configured with) and PUTs it back with new backendRef weights and the
  rollouts.argoproj.io/gatewayapi-canary label (an Update: generation goes up);
- the controller scales the canary ReplicaSet (here: the canary EndpointSlices list
  ceil(weight * replicas) pods of the new colour), switches the stable Service's
  selector at promotion (the old pods vanish from the stable slices, they are not
  marked terminating), and writes the Rollout's status (step, pause, abort, weights).

Objects start from the reference files in tests/fixtures/k8s, adapted to the lab."""

import copy
import json
import math
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE = os.environ.get("BPFSPLIT_K8S_REFERENCE") or os.path.join(ROOT, "tests", "fixtures", "k8s")

NS = "default"
ROUTE = "argo-rollouts-http-route"
ROLLOUT = "rollouts-demo"
STABLE = "rollouts-demo-stable"
CANARY = "rollouts-demo-canary"
GATEWAY_NS, GATEWAY = "kgateway-system", "agentgateway-proxy"
HASH = {"green": "687d76d795", "orange": "6cf78c66c5"}
STEPS = [{"setWeight": 30}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}, {"setWeight": 100}, {"pause": {}}]


def reference(name):
    with open(os.path.join(REFERENCE, name)) as f:
        return json.load(f)


def _fresh(obj):
    """A reference object stripped of what the server assigns."""
    obj = copy.deepcopy(obj)
    for field in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        obj["metadata"].pop(field, None)
    return obj


class ArgoPlayer:
    """pods: {"green": [backend, ...], "orange": [...]} where a backend has .name,
    .ipv4, .ipv6 and .port (tests/lab Backend objects fit)."""

    def __init__(self, kube, pods, frontends=("10.96.0.10", "fd00:96::10"), replicas=3):
        self.kube = kube
        self.pods = pods
        self.frontends = frontends
        self.replicas = replicas
        self.stable_colour = "green"
        self.canary_colour = "green"

    # ---- objects ----

    def _slice(self, service, family, backends):
        name = f"{service}-{'v4' if family == 4 else 'v6'}"
        return {
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": NS,
                         "labels": {"kubernetes.io/service-name": service,
                                    "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
            "addressType": "IPv4" if family == 4 else "IPv6",
            "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
            "endpoints": [{
                "addresses": [b.ipv4 if family == 4 else b.ipv6],
                "conditions": {"ready": True, "serving": True, "terminating": False},
                "targetRef": {"kind": "Pod", "name": f"rollouts-demo-{b.name}", "namespace": NS},
            } for b in backends],
        }

    def _service(self, ref_file, colour):
        svc = _fresh(reference(ref_file))
        svc["spec"]["selector"]["rollouts-pod-template-hash"] = HASH[colour]
        svc.pop("status", None)
        return svc

    def seed_objects(self):
        gw = _fresh(reference("gateway-agentgateway-proxy.json"))
        gw["status"]["addresses"] = [{"type": "IPAddress", "value": a} for a in self.frontends]
        route = _fresh(reference("httproute-steady-state.json"))
        route.pop("status", None)
        rollout = _fresh(reference("rollout-healthy-green.json"))
        greens = self.pods["green"][: self.replicas]
        return [
            gw,
            self._service("service-stable.json", "green"),
            self._service("service-canary.json", "green"),
            self._slice(STABLE, 4, greens), self._slice(STABLE, 6, greens),
            self._slice(CANARY, 4, greens), self._slice(CANARY, 6, greens),
            route,
            rollout,
        ]

    def apply_seed(self):
        for obj in self.seed_objects():
            self.kube.apply(obj)

    # ---- what the plugin does ----

    def set_route_weights(self, canary_weight, kind="HTTPRoute", name=ROUTE):
        """The plugin's weight write, on any route kind it drives (HTTPRoute, GRPCRoute,
        TCPRoute, TLSRoute: the same backendRefs shape)."""
        route = self.kube.get(kind, NS, name)
        for rule in route["spec"]["rules"]:
            for ref in rule.get("backendRefs", []):
                if ref["name"] == STABLE:
                    ref["weight"] = 100 - canary_weight
                elif ref["name"] == CANARY:
                    ref["weight"] = canary_weight
        labels = route["metadata"].setdefault("labels", {})
        if canary_weight:
            labels["rollouts.argoproj.io/gatewayapi-canary"] = "in-progress"
        else:
            labels.pop("rollouts.argoproj.io/gatewayapi-canary", None)
        return self.kube.update(route)

    # ---- what the controller does ----

    def set_endpoints(self, service, backends):
        for family in (4, 6):
            self.kube.apply(self._slice(service, family, backends))

    def set_selector(self, service, colour):
        self.kube.merge_patch("Service", NS, service,
                              {"spec": {"selector": {"rollouts-pod-template-hash": HASH[colour]}}})

    def set_rollout_status(self, step_index, weight, paused=False, abort=False, phase=None):
        status = {
            "currentStepIndex": step_index,
            "currentPodHash": HASH[self.canary_colour],
            "stableRS": HASH[self.stable_colour],
            "phase": phase or ("Paused" if paused else "Progressing"),
            "abort": abort,
            "controllerPause": paused,
            "pauseConditions": [{"reason": "CanaryPauseStep"}] if paused else None,
            "canary": {"weights": {
                "canary": {"podTemplateHash": HASH[self.canary_colour], "serviceName": CANARY, "weight": weight},
                "stable": {"podTemplateHash": HASH[self.stable_colour], "serviceName": STABLE,
                           "weight": 100 - weight},
            }},
        }
        self.kube.merge_patch("Rollout", NS, ROLLOUT, {"status": status}, subresource="status")

    # ---- the story ----

    def start_canary(self, colour):
        """The image changed: a new ReplicaSet whose pods are `colour`."""
        self.canary_colour = colour
        self.kube.merge_patch("Rollout", NS, ROLLOUT, {"spec": {"template": {"spec": {"containers": [
            {"name": "rollouts-demo", "image": f"argoproj/rollouts-demo:{colour}"}]}}}})
        self.set_selector(CANARY, colour)
        self.set_endpoints(CANARY, [])

    def scale_canary(self, weight):
        """The canary ReplicaSet at ceil(weight * replicas) pods, all ready."""
        n = math.ceil(weight / 100 * self.replicas)
        self.set_endpoints(CANARY, self.pods[self.canary_colour][:n])

    def set_weight(self, step_index, weight):
        """A setWeight step: scale the canary, then point traffic at it, then pause."""
        self.scale_canary(weight)
        self.set_route_weights(weight)
        self.set_rollout_status(step_index + 1, weight, paused=True)

    def promote(self):
        """Full promotion: stable selector switched to the new pods (the old ones simply
        vanish from the stable slices), then the route goes back to 100/0."""
        new = self.canary_colour
        self.set_selector(STABLE, new)
        self.set_endpoints(STABLE, self.pods[new][: self.replicas])
        self.stable_colour = new
        self.set_route_weights(0)
        self.set_rollout_status(len(STEPS), 0, phase="Healthy")

    def analysis_step(self, prom, step_index, weight, args, template=None):
        """An analysis step, as Argo runs one: every metric of the shipped AnalysisTemplate
        (tests/argo/analysis.py) measured through Prometheus with the template's own
        thresholds; a failed measurement aborts the rollout. Returns (passed, line,
        measurements); line reads `analysis: canary failure ratio 0.21 > 0.05 at
        setWeight=30 -> abort` (or every value and `-> pass`)."""
        import analysis
        template = template or analysis.load_template()
        ms = analysis.measure(prom, template, analysis.template_args(template, args))
        line = analysis.analysis_line(ms, weight)
        passed = all(m.ok for m in ms)
        if not passed:
            self.abort(step_index)
        return passed, line, ms

    def abort(self, step_index):
        """kubectl argo rollouts abort: traffic back to stable at once, canary scaled down."""
        self.set_route_weights(0)
        self.set_rollout_status(step_index, 0, abort=True, phase="Degraded")
        self.set_endpoints(CANARY, [])
        self.canary_colour = self.stable_colour
