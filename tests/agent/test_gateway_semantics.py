# SPDX-License-Identifier: BSD-2-Clause
"""Gateway API and Argo semantics, as a conformant gateway honours them: bpfsplit-agent
against the test API server (the seed objects of tests/fixtures/k8s plus what each test
applies), read back through /metrics, the route status and the log.

One test per finding: route precedence by creationTimestamp, allowedRoutes (namespaces
Same/Selector, kinds), listener hostnames, TLS-terminating listeners, ReferenceGrant, L7
details on the weighted rule, the endpoint grace, a route over 64 KiB, an invalid update,
recovery and readiness after an outage, and the route kinds Argo's Gateway API plugin
drives (GRPCRoute, TCPRoute, TLSRoute)."""

import json
import os
import shutil
import sys
import tempfile
import time
import unittest
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "argo"))

from argo_player import ArgoPlayer  # noqa: E402

from test_agent import (CONTROLLER, FE, ROUTE, AgentHarness, backend_refs, ref,  # noqa: E402
                        wait_for)

GW_NS, GW = "kgateway-system", "agentgateway-proxy"
ADDR = "172.18.255.200"
API = {"HTTPRoute": "gateway.networking.k8s.io/v1", "GRPCRoute": "gateway.networking.k8s.io/v1",
       "TCPRoute": "gateway.networking.k8s.io/v1alpha2", "TLSRoute": "gateway.networking.k8s.io/v1alpha2"}
HTTP = {"name": "http", "port": 80, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}}
SEED_WEIGHTS = {"default/rollouts-demo-stable": 70, "default/rollouts-demo-canary": 30}


def fe(port):
    return f"{ADDR}:{port}/tcp"


def xns_refs(stable, canary, ns="default"):
    refs = backend_refs(stable, canary)
    for r in refs:
        r["namespace"] = ns
    return refs


class SemanticsHarness(AgentHarness):
    """Objects to apply and the route status to read back. Route status comes only from an
    agent that writes maps (a dry run writes nothing), so these tests write real pinned
    maps (small ones), and the status can claim only what the maps hold."""
    dry_run = False

    def setUp(self):
        super().setUp()
        if not (os.geteuid() == 0 and os.path.ismount("/sys/fs/bpf")):
            self.skipTest("route status comes with real maps: needs root and bpffs at /sys/fs/bpf")
        self.pin_root = f"/sys/fs/bpf/bs-sem-{uuid.uuid4().hex[:8]}"

    def start_agent(self, *extra, dry_run=None):
        return super().start_agent("--max-conns", "65536", *extra, dry_run=dry_run)

    # ---- objects ----

    def gateway(self, *listeners):
        g = ref("gateway-agentgateway-proxy.json")
        g["spec"]["listeners"] = list(listeners)
        self.srv.apply(g)

    def route(self, name, ns="default", kind="HTTPRoute", section=None, refs=None, hostnames=None, created=None,
              rules=None):
        md = {"name": name, "namespace": ns}
        if created:
            md["creationTimestamp"] = created
        parent = {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GW, "namespace": GW_NS}
        if section:
            parent["sectionName"] = section
        spec = {"parentRefs": [parent],
                "rules": rules or [{"backendRefs": refs if refs is not None else backend_refs(70, 30)}]}
        if hostnames:
            spec["hostnames"] = hostnames
        return self.srv.apply({"apiVersion": API[kind], "kind": kind, "metadata": md, "spec": spec})

    def seed_section(self, section):
        """The seed route attached to one listener only."""
        self.srv.patch("httproute", "default", ROUTE, {"spec": {"parentRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GW, "namespace": GW_NS,
             "sectionName": section}]}})

    # ---- reading back ----

    def entry(self, kind, ns, name):
        r = self.srv.get(kind, ns, name)
        ents = [p for p in (r.get("status") or {}).get("parents", []) if p.get("controllerName") == CONTROLLER]
        return ents[0] if len(ents) == 1 else None

    def cond_of(self, kind, ns, name, ctype):
        for c in (self.entry(kind, ns, name) or {}).get("conditions", []):
            if c["type"] == ctype:
                return c
        return None

    def wait_cond(self, kind, ns, name, ctype, status, reason=None, contains=None, timeout=10):
        def ok():
            c = self.cond_of(kind, ns, name, ctype)
            if not c or c["status"] != status or (reason and c["reason"] != reason):
                return None
            if contains and contains not in c["message"]:
                return None
            return c
        return wait_for(ok, timeout, f"{kind} {ns}/{name} {ctype}={status} {reason or ''} {contains or ''}")

    def frontends(self):
        return {dict(labels)["frontend"] for (name, labels) in self.metrics()
                if name == "bpfsplit_agent_group_weight"}

    def wait_fe_weights(self, frontend, want, timeout=10):
        return wait_for(lambda: self.weights(frontend) == want and want, timeout, f"{want} on {frontend}")

    def backends(self, frontend, group, state="ready"):
        for (name, labels), v in self.metrics().items():
            d = dict(labels)
            if (name == "bpfsplit_agent_group_backends" and d.get("frontend") == frontend and d.get("group") == group
                    and d.get("state") == state):
                return int(v)
        return None

    def problems(self, reason):
        return self.metrics().get(("bpfsplit_agent_problems", frozenset({("reason", reason)})))



class GatewaySemanticsTest(SemanticsHarness):

    # ---- 1. precedence ----

    def test_oldest_route_keeps_the_listener(self):
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        # A newer route whose name sorts first does not take the frontend.
        self.route("aaa-new", refs=backend_refs(0, 100))
        c = self.wait_cond("httproute", "default", "aaa-new", "Accepted", "False", "FrontendConflict")
        self.assertIn(f"frontend {FE} is already programmed by httproute default/{ROUTE}", c["message"])
        self.assertEqual(self.weights(), SEED_WEIGHTS)
        self.assertEqual(self.cond_of("httproute", "default", ROUTE, "Accepted")["status"], "True")
        # An older one (name sorting last) does: creation time first, then namespace/name.
        self.route("zzz-old", refs=backend_refs(10, 90), created="2026-08-01T00:00:00Z")
        self.wait_weights(10, 90)
        self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "FrontendConflict")
        # Gone again: the seed route, older than aaa-new, has it back.
        self.srv.delete("httproute", "default", "zzz-old")
        self.wait_weights(70, 30)
        self.wait_cond("httproute", "default", ROUTE, "Accepted", "True", "Accepted")
        self.assertEqual(self.cond_of("httproute", "default", "aaa-new", "Accepted")["reason"], "FrontendConflict")

    # ---- 2. allowedRoutes ----

    def test_allowed_routes_namespaces_same_and_selector(self):
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        # from: Same (the Gateway's namespace is kgateway-system, the route's default)
        self.gateway(dict(HTTP, allowedRoutes={"namespaces": {"from": "Same"}}))
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "NotAllowedByListeners")
        self.assertIn("listener http allows routes from its own namespace only (from: Same); namespace default is "
                      "not allowed", c["message"])
        wait_for(lambda: FE not in self.frontends() and True, what="the frontend withdrawn")
        # from: Selector, the namespace without the label, then with it
        self.gateway(dict(HTTP, allowedRoutes={"namespaces": {
            "from": "Selector", "selector": {"matchLabels": {"gateway-access": "agentgateway"}}}}))
        self.srv.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "default"}})
        self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "NotAllowedByListeners",
                       "namespaces its selector matches")
        self.assertNotIn(FE, self.frontends())
        self.srv.apply({"apiVersion": "v1", "kind": "Namespace",
                        "metadata": {"name": "default", "labels": {"gateway-access": "agentgateway"}}})
        self.wait_weights(70, 30)
        self.wait_cond("httproute", "default", ROUTE, "Accepted", "True", "Accepted")

    def test_allowed_routes_kinds(self):
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        self.gateway(dict(HTTP, allowedRoutes={"namespaces": {"from": "All"}, "kinds": [{"kind": "GRPCRoute"}]}))
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "NotAllowedByListeners")
        self.assertIn("listener http (HTTP, port 80) does not allow HTTPRoute routes", c["message"])
        wait_for(lambda: FE not in self.frontends() and True, what="the frontend withdrawn")
        # a TCP listener carries TCPRoutes, not HTTPRoutes, by default
        self.gateway({"name": "tcp", "port": 80, "protocol": "TCP", "allowedRoutes": {"namespaces": {"from": "All"}}})
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "NotAllowedByListeners",
                           "listener tcp (TCP, port 80) does not allow HTTPRoute routes")

    # ---- 3. hostnames ----

    def test_listener_hostname_must_intersect(self):
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        self.gateway(dict(HTTP, hostname="*.example.com"))
        self.srv.patch("httproute", "default", ROUTE, {"spec": {"hostnames": ["shop.example.org"]}})
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "NoMatchingListenerHostname")
        self.assertIn("listener http hostname *.example.com matches none of the route's hostnames", c["message"])
        wait_for(lambda: FE not in self.frontends() and True, what="the frontend withdrawn")
        self.srv.patch("httproute", "default", ROUTE, {"spec": {"hostnames": ["shop.example.com"]}})
        self.wait_weights(70, 30)
        self.wait_cond("httproute", "default", ROUTE, "Accepted", "True", "Accepted")

    # ---- 4. listener protocols ----

    def test_tls_terminating_listener_never_programmed(self):
        https = {"name": "https", "port": 443, "protocol": "HTTPS", "allowedRoutes": {"namespaces": {"from": "All"}},
                 "tls": {"mode": "Terminate", "certificateRefs": [{"kind": "Secret", "name": "cert"}]}}
        passthrough = {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"},
                       "allowedRoutes": {"namespaces": {"from": "All"}}}
        self.gateway(HTTP, https, passthrough)
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "True", "Accepted",
                           "listener https (HTTPS, port 443) terminates TLS at the gateway")
        self.assertTrue(c["message"].startswith(f"rules[0] programmed at L4 on {FE};"), c["message"])
        self.assertEqual(self.frontends(), {FE})
        self.assertIn("reason=TLSTerminatedByGateway", self.read_log())
        # the route on the HTTPS listener alone: not accepted by bpfsplit, nothing programmed
        self.seed_section("https")
        self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "UnsupportedValue", "terminates TLS")
        wait_for(lambda: not self.frontends() and True, what="no frontend")
        # TLS passthrough with a TLSRoute: L4, served
        self.route("tls-pass", kind="TLSRoute", section="tls", refs=backend_refs(90, 10), hostnames=["a.example.com"])
        self.wait_fe_weights(fe(8443), {"default/rollouts-demo-stable": 90, "default/rollouts-demo-canary": 10})
        self.wait_cond("tlsroute", "default", "tls-pass", "Accepted", "True", "Accepted")
        self.assertEqual(self.frontends(), {fe(8443)})

    # ---- 5. ReferenceGrant ----

    def test_reference_grant(self):
        self.gateway(HTTP, dict(HTTP, name="http2", port=8080))
        self.seed_section("http")
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        self.route("xns", ns="apps", section="http2", refs=xns_refs(50, 50))
        c = self.wait_cond("httproute", "apps", "xns", "ResolvedRefs", "False", "RefNotPermitted")
        self.assertIn("service default/rollouts-demo-stable is in another namespace and no ReferenceGrant there "
                      "allows it", c["message"])
        # the share is refused as for a missing backend: weight kept, no backend
        want = {"default/rollouts-demo-stable": 50, "default/rollouts-demo-canary": 50}
        self.wait_fe_weights(fe(8080), want)
        self.assertEqual(self.backends(fe(8080), "default/rollouts-demo-stable"), 0)
        self.assertEqual(self.backends(fe(8080), "default/rollouts-demo-canary"), 0)
        grant = {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
                 "metadata": {"name": "apps-routes", "namespace": "default"},
                 "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apps"}],
                          "to": [{"group": "", "kind": "Service"}]}}
        self.srv.apply(grant)
        self.wait_cond("httproute", "apps", "xns", "ResolvedRefs", "True", "ResolvedRefs")
        wait_for(lambda: self.backends(fe(8080), "default/rollouts-demo-stable") == 3, what="stable backends")
        self.assertEqual(self.backends(fe(8080), "default/rollouts-demo-canary"), 1)
        # a grant for another kind does not count
        grant["spec"]["from"][0]["kind"] = "TCPRoute"
        self.srv.apply(grant)
        self.wait_cond("httproute", "apps", "xns", "ResolvedRefs", "False", "RefNotPermitted")
        wait_for(lambda: self.backends(fe(8080), "default/rollouts-demo-stable") == 0, what="share refused")
        self.assertEqual(self.weights(), SEED_WEIGHTS)  # the seed route is not touched

    # ---- 6. L7 details ----

    def details_rule(self, stable, canary):
        return [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "timeouts": {"request": "10s"},
                 "filters": [{"type": "RequestMirror", "requestMirror": {"backendRef": {
                     "name": "rollouts-demo-canary", "port": 80}}}],
                 "backendRefs": backend_refs(stable, canary)}]

    def test_l7_details_never_freeze_weights(self):
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        for stable, canary in ((70, 30), (40, 60), (0, 100)):
            self.srv.patch("httproute", "default", ROUTE, {"spec": {"rules": self.details_rule(stable, canary)}})
            self.wait_weights(stable, canary)
        c = self.wait_cond("httproute", "default", ROUTE, "bpfsplit.io/L7NotEnforced", "True", "UnsupportedValue")
        self.assertEqual(c["message"], "rules[0]: timeouts, RequestMirror filters not enforced at L4 (the weights are)")
        self.assertEqual(self.cond_of("httproute", "default", ROUTE, "Accepted")["status"], "True")
        self.assertEqual(self.problems("L7NotEnforced"), 1)
        # gone with the details
        self.patch_weights(50, 50)
        self.wait_weights(50, 50)
        wait_for(lambda: self.cond_of("httproute", "default", ROUTE, "bpfsplit.io/L7NotEnforced") is None and True,
                 what="the condition gone")
        self.assertEqual(self.problems("L7NotEnforced"), 0)

    def test_l7_details_hard_refusal_flag(self):
        self.start_agent("--gateway-class", "agentgateway", "--l7-details", "refuse")
        self.wait_weights(70, 30)
        self.srv.patch("httproute", "default", ROUTE, {"spec": {"rules": self.details_rule(40, 60)}})
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "UnsupportedValue")
        self.assertIn("no rule matches all traffic", c["message"])
        p = self.cond_of("httproute", "default", ROUTE, "PartiallyInvalid")
        self.assertTrue(p["message"].startswith("Dropped Rule(s): rules[0]: timeouts, RequestMirror filters cannot "
                                                "be enforced at L4"), p["message"])
        self.assertEqual(self.weights(), SEED_WEIGHTS)  # last good kept

    # ---- 7. endpoint gap ----

    def stable_slice(self, endpoints):
        s = ref("endpointslice-stable.json")
        s["endpoints"] = endpoints
        self.srv.apply(s)
        return s

    def test_endpoint_gap_bridged_by_grace(self):
        self.start_agent("--gateway-class", "agentgateway", "--endpoint-grace", "10m")
        self.wait_weights(70, 30)
        stable = "default/rollouts-demo-stable"
        old = ref("endpointslice-stable.json")["endpoints"]
        self.assertEqual(self.backends(FE, stable), 3)
        self.stable_slice([])  # the selector switch empties the slice first
        c = self.wait_cond("httproute", "default", ROUTE, "ResolvedRefs", "True", "ResolvedRefs", "endpoint grace")
        self.assertIn("service default/rollouts-demo-stable lost its last ready IPv4 endpoint", c["message"])
        self.assertEqual(self.backends(FE, stable), 3)  # the last ready ones take new connections
        self.assertEqual(self.backends(FE, stable, "draining"), 0)
        # the slice fills again with the new pods: they alone are ready, the old ones drain
        new = json.loads(json.dumps(old[:2]).replace("10.244.", "10.245."))
        self.stable_slice(new)
        wait_for(lambda: self.backends(FE, stable) == 2 and self.backends(FE, stable, "draining") == 3,
                 what="2 new ready, 3 old draining")

    def test_endpoint_gap_refused_after_grace(self):
        self.start_agent("--gateway-class", "agentgateway", "--endpoint-grace", "300ms")
        self.wait_weights(70, 30)
        self.stable_slice([])
        stable = "default/rollouts-demo-stable"
        wait_for(lambda: self.backends(FE, stable) == 0, what="the grace over: no ready backend")
        self.assertEqual(self.backends(FE, stable, "draining"), 3)
        c = self.wait_cond("httproute", "default", ROUTE, "ResolvedRefs", "True", "ResolvedRefs",
                           "new connections to its share are refused")
        self.assertNotIn("endpoint grace", c["message"])

    # ---- 8. status ----

    def test_route_over_64k_gets_status(self):
        route = ref("httproute-canary-30.json")
        rules = route["spec"]["rules"]
        for i in range(15):
            rules.append({"name": f"header-{i}", "backendRefs": backend_refs(0, 100),
                          "matches": [{"headers": [{"name": "x-canary", "value": "v" * 200 + str(i)}]}]})
        route["metadata"].setdefault("annotations", {})[
            "kubectl.kubernetes.io/last-applied-configuration"] = json.dumps(route["spec"]) + " " * 150_000
        self.assertGreater(len(json.dumps(route)), 150_000)
        self.srv.apply(route)
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "True", "Accepted")
        self.assertTrue(c["message"].startswith(f"rules[0] programmed at L4 on {FE}"), c["message"])
        p = self.cond_of("httproute", "default", ROUTE, "PartiallyInvalid")
        self.assertTrue(p["message"].startswith("Dropped Rule(s): rules[1] (header-0): header matches"), p["message"])
        self.assertNotIn("cannot write route status", self.read_log())

    def test_status_claims_only_frontends_in_the_maps(self):
        # The canary Service is missing from the start: no split was ever good, the maps
        # hold nothing for the frontend, and the status must not say otherwise.
        self.srv.delete("service", "default", "rollouts-demo-canary")
        self.start_agent("--gateway-class", "agentgateway")
        res = self.wait_cond("httproute", "default", ROUTE, "ResolvedRefs", "False", "BackendNotFound")
        self.assertNotIn("last good", res["message"])
        acc = self.cond_of("httproute", "default", ROUTE, "Accepted")
        self.assertNotIn("programmed at L4 on", acc["message"])
        self.assertIn("1 frontend not programmed (no good split yet)", acc["message"])
        self.srv.apply(ref("service-canary.json"))
        self.wait_weights(70, 30)
        acc = self.wait_cond("httproute", "default", ROUTE, "Accepted", "True", "Accepted",
                             f"rules[0] programmed at L4 on {FE}")
        self.assertNotIn("last good", acc["message"])

    def test_invalid_update_keeps_last_good_frontends(self):
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        route = self.srv.get("httproute", "default", ROUTE)
        route["spec"]["parentRefs"] = [{"group": "gateway.networking.k8s.io", "kind": "Gateway",
                                        "namespace": GW_NS, "port": 70000}]
        self.srv.update(route)  # a PUT that makes parentRefs invalid
        c = self.wait_cond("httproute", "default", ROUTE, "Accepted", "False", "UnsupportedValue",
                           "stays in force")
        self.assertIn("parentRefs[0]", c["message"])
        self.assertEqual(self.weights(), SEED_WEIGHTS)
        self.assertNotIn("frontend removed", self.read_log())
        self.assertIn(f"frontend={FE}", self.read_log())
        # fixed: the route is served as written
        self.patch_weights(40, 60)  # still invalid (parentRefs): nothing moves
        self.srv.patch("httproute", "default", ROUTE, {"spec": {"parentRefs": [
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": GW, "namespace": GW_NS}]}})
        self.wait_weights(40, 60)

    # ---- 9. recovery and readiness ----

    def test_outage_not_ready_then_recovered(self):
        self.start_agent("--gateway-class", "agentgateway", "--not-ready-after", "1s")
        self.wait_weights(70, 30)
        wait_for(lambda: self.get("/readyz")[0] == 200 and True, what="/readyz 200")
        self.srv.pause("refuse")
        try:
            status, body = wait_for(lambda: (r := self.get("/readyz"))[0] == 503 and r, 20, "/readyz 503")
            self.assertIn("no watch current", body)
            self.assertEqual(self.weights(), SEED_WEIGHTS)  # the maps keep forwarding
        finally:
            self.srv.resume()
        wait_for(lambda: self.get("/readyz")[0] == 200 and True, 40, "/readyz 200 again")
        self.patch_weights(40, 60)
        self.wait_weights(40, 60)
        self.assertIn("every watch is current again", self.read_log())

    # ---- route kinds ----

    def test_tcp_tls_grpc_routes(self):
        self.gateway(HTTP,
                     {"name": "grpc", "port": 50051, "protocol": "HTTP", "allowedRoutes": {"namespaces": {"from": "All"}}},
                     {"name": "tcp", "port": 5432, "protocol": "TCP", "allowedRoutes": {"namespaces": {"from": "All"}}},
                     {"name": "tls", "port": 8443, "protocol": "TLS", "tls": {"mode": "Passthrough"},
                      "allowedRoutes": {"namespaces": {"from": "All"}}})
        self.seed_section("http")
        self.start_agent("--gateway-class", "agentgateway")
        self.wait_weights(70, 30)
        self.route("db", kind="TCPRoute", section="tcp", refs=backend_refs(80, 20))
        self.route("api", kind="GRPCRoute", section="grpc", refs=backend_refs(60, 40))
        self.route("tls", kind="TLSRoute", section="tls", refs=backend_refs(90, 10))
        w = lambda s, c: {"default/rollouts-demo-stable": s, "default/rollouts-demo-canary": c}  # noqa: E731
        self.wait_fe_weights(fe(5432), w(80, 20))
        self.wait_fe_weights(fe(50051), w(60, 40))
        self.wait_fe_weights(fe(8443), w(90, 10))
        # TLSRoute is asked for at v1 first; this server serves v1alpha2 only
        self.assertIn("resource=tlsroutes.gateway.networking.k8s.io version=v1alpha3 next=v1alpha2", self.read_log())
        for kind, name, port in (("tcproute", "db", 5432), ("grpcroute", "api", 50051), ("tlsroute", "tls", 8443)):
            c = self.wait_cond(kind, "default", name, "Accepted", "True", "Accepted")
            self.assertEqual(c["message"], f"rules[0] programmed at L4 on {fe(port)}")
        # each follows its own weights, as Argo's plugin writes them (GET + PUT)
        player = ArgoPlayer(self.srv, {})
        player.set_route_weights(70, kind="TCPRoute", name="db")
        self.wait_fe_weights(fe(5432), w(30, 70))
        player.set_route_weights(25, kind="GRPCRoute", name="api")
        self.wait_fe_weights(fe(50051), w(75, 25))
        player.set_route_weights(40, kind="GRPCRoute", name="api")
        self.wait_fe_weights(fe(50051), w(60, 40))
        # a Rollout whose plugin names the TCPRoute drives it: the status says so
        ro = ref("rollout-paused-step1-weight30.json")
        ro["metadata"]["name"] = "db"
        plugin = ro["spec"]["strategy"]["canary"]["trafficRouting"]["plugins"]["argoproj-labs/gatewayAPI"]
        for key in ("httpRoute", "httpRoutes"):
            plugin.pop(key, None)
        plugin["tcpRoutes"] = [{"name": "db"}]
        self.srv.apply(ro)
        self.wait_cond("tcproute", "default", "db", "Accepted", "True", "Accepted",
                       f"rules[0] programmed at L4 on {fe(5432)}; weights driven by rollout default/db")
        self.assertEqual(self.weights(fe(50051)), w(60, 40))
        self.assertEqual(self.weights(), SEED_WEIGHTS)
        # a TCPRoute on the HTTP listener is not allowed
        self.route("wrong", kind="TCPRoute", section="http", refs=backend_refs(1, 1))
        self.wait_cond("tcproute", "default", "wrong", "Accepted", "False", "NotAllowedByListeners")
        self.srv.delete("tcproute", "default", "db")
        wait_for(lambda: fe(5432) not in self.frontends() and True, what="the TCP frontend removed")


class GatewaySemanticsRbacTest(SemanticsHarness):
    """The tests that use the new kinds, with the server enforcing the deploy ClusterRole:
    what the agent reads (ReferenceGrants, Namespaces, the route kinds) and the statuses it
    writes are granted there, and no request of its is refused."""
    rbac = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "deploy", "rbac.yaml")

    test_reference_grant = GatewaySemanticsTest.test_reference_grant
    test_tcp_tls_grpc_routes = GatewaySemanticsTest.test_tcp_tls_grpc_routes
    test_allowed_routes_namespaces_same_and_selector = \
        GatewaySemanticsTest.test_allowed_routes_namespaces_same_and_selector

    def tearDown(self):
        refused = [r for r in self.srv.requests() if r["status"] == 403]
        try:
            self.assertEqual(refused, [], "the agent needed more than the ClusterRole grants")
        finally:
            super().tearDown()


class UnavailableKindsReadinessTest(SemanticsHarness):
    """A cluster without some route kinds (their CRDs not installed, or not granted): the
    agent is ready and stays ready; those kinds are reported unavailable, not stale."""

    @classmethod
    def setUpClass(cls):
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        with open(os.path.join(root, "deploy", "rbac.yaml")) as f:
            text = f.read()
        text = text.replace('"tcproutes", "tlsroutes", ', "")
        assert '"tcproutes"' not in text.split("---")[1].split("status")[0]
        cls._dir = tempfile.mkdtemp(prefix="bs-sem-rbac-")
        cls.rbac = os.path.join(cls._dir, "rbac.yaml")
        with open(cls.rbac, "w") as f:
            f.write(text)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls._dir, ignore_errors=True)

    def test_unavailable_kinds_stay_ready(self):
        self.start_agent("--gateway-class", "agentgateway", "--not-ready-after", "1s")
        self.wait_weights(70, 30)
        wait_for(lambda: self.get("/readyz")[0] == 200 and True, what="/readyz 200")
        m = self.metrics()
        for kind in ("tcproute", "tlsroute"):
            self.assertEqual(m[("bpfsplit_agent_resource_unavailable", frozenset({("kind", kind)}))], 1)
        self.assertEqual(m[("bpfsplit_agent_resource_unavailable", frozenset({("kind", "grpcroute")}))], 0)
        # well past --not-ready-after: still ready, nothing stale
        time.sleep(3)
        self.assertEqual(self.get("/readyz")[0], 200)
        self.assertEqual(self.metrics()[("bpfsplit_agent_watch_stale_seconds", frozenset())], 0)
        self.assertNotIn('msg="not ready"', self.read_log())
        # the check is alive: cut off, it says so
        self.srv.pause("refuse")
        try:
            wait_for(lambda: self.get("/readyz")[0] == 503 and True, 20, "/readyz 503")
        finally:
            self.srv.resume()
        wait_for(lambda: self.get("/readyz")[0] == 200 and True, 40, "/readyz 200 again")


if __name__ == "__main__":
    unittest.main()
