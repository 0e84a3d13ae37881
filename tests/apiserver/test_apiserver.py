# SPDX-License-Identifier: BSD-2-Clause
"""Tests for the test Kubernetes API server (fake_apiserver.py).

Every test talks real HTTPS to a server on 127.0.0.1 with an ephemeral port.

    /usr/bin/python3 -m unittest discover -s tests/apiserver -v
"""

import copy
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)

import fake_apiserver as fa  # noqa: E402

REFERENCE = os.environ.get("BPFSPLIT_K8S_REFERENCE") or os.path.join(REPO, "tests", "fixtures", "k8s")

ROUTES = "/apis/gateway.networking.k8s.io/v1/namespaces/default/httproutes"
ROUTE = ROUTES + "/argo-rollouts-http-route"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
SERVICES = "/api/v1/namespaces/default/services"
MERGE = "application/merge-patch+json"

RBAC_YAML = """\
apiVersion: v1
kind: ServiceAccount
metadata:
  name: bpfsplit-agent
  namespace: bpfsplit-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: bpfsplit-agent
rules:
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes", "gateways"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["gateway.networking.k8s.io"]
  resources: ["httproutes/status"]
  verbs: ["get", "patch", "update"]
- apiGroups: [""]
  resources: ["services"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["discovery.k8s.io"]
  resources: ["endpointslices"]
  verbs: ["get", "list", "watch"]
- apiGroups: ["argoproj.io"]
  resources: ["rollouts"]
  verbs: ["get"]
  resourceNames: ["rollouts-demo"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: bpfsplit-agent
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: bpfsplit-agent}
subjects:
- {kind: ServiceAccount, name: bpfsplit-agent, namespace: bpfsplit-system}
"""


def ref(name):
    path = os.path.join(REFERENCE, name)
    with open(path) as f:
        return json.load(f)


def for_create(obj):
    """What a user would POST: no server-set metadata, no status."""
    obj = copy.deepcopy(obj)
    for f in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
        obj["metadata"].pop(f, None)
    obj.pop("status", None)
    return obj


class Client:
    """Minimal HTTPS client for the server under test."""

    def __init__(self, srv, token=None):
        self.srv = srv
        self.token = token
        self.ctx = ssl.create_default_context(cafile=srv.ca_path)

    def conn(self, timeout=10):
        return http.client.HTTPSConnection("127.0.0.1", self.srv.port, context=self.ctx,
                                           timeout=timeout)

    def headers(self, token, ctype=None, extra=None):
        h = {"Accept": "application/json"}
        tok = self.srv.token if token is None else token
        if tok:
            h["Authorization"] = "Bearer " + tok
        if ctype:
            h["Content-Type"] = ctype
        h.update(extra or {})
        return h

    def request(self, method, path, body=None, ctype="application/json", token=None,
                headers=None):
        c = self.conn()
        try:
            data = None if body is None else json.dumps(body).encode()
            c.request(method, path, body=data,
                      headers=self.headers(token if token is not None else self.token,
                                           ctype if data is not None else None, headers))
            r = c.getresponse()
            raw = r.read()
            try:
                obj = json.loads(raw) if raw else None
            except ValueError:
                obj = raw
            return r.status, r, obj
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def ok(self, method, path, body=None, ctype="application/json"):
        status, _, obj = self.request(method, path, body, ctype)
        if status >= 300:
            raise AssertionError("%s %s -> %d %s" % (method, path, status, obj))
        return obj

    def watch(self, path, timeout=10):
        return Watch(self, path, timeout)


class Watch:
    def __init__(self, client, path, timeout):
        self.c = client.conn(timeout=timeout)
        self.c.request("GET", path, headers=client.headers(client.token))
        self.resp = self.c.getresponse()

    def next(self):
        line = self.resp.readline()
        if not line:
            return None
        return json.loads(line)

    def next_non_bookmark(self):
        while True:
            ev = self.next()
            if ev is None or ev["type"] != "BOOKMARK":
                return ev

    def close(self):
        self.c.close()


class ServerTest(unittest.TestCase):
    """A fresh server per test, with the seed scenario loaded."""

    server_kwargs = {}
    load = ("gateway-agentgateway-proxy.json", "httproute-canary-30.json",
            "service-stable.json", "endpointslice-list.json", "rollout-paused-step1-weight30.json")

    def setUp(self):
        self.assertTrue(os.path.isdir(REFERENCE),
                        "fixtures not found at %s (BPFSPLIT_K8S_REFERENCE)" % REFERENCE)
        self.tmp = tempfile.TemporaryDirectory(prefix="fake-apiserver-")
        self.addCleanup(self.tmp.cleanup)
        kw = dict(token="s3cr3t-token", bookmark_interval=0.2, control=False)
        kw.update(self.server_kwargs)
        self.srv = fa.FakeApiServer(os.path.join(self.tmp.name, "state"), **kw)
        for name in self.load:
            self.srv.load_file(os.path.join(REFERENCE, name))
        self.srv.start()
        self.addCleanup(self.srv.stop)
        self.api = Client(self.srv)


class AuthTest(ServerTest):
    server_kwargs = {}

    def test_missing_and_wrong_token_get_401_status(self):
        for token in ("", "wrong"):
            status, resp, body = self.api.get(ROUTES, token=token)
            self.assertEqual(status, 401)
            self.assertEqual(resp.getheader("Content-Type"), "application/json")
            self.assertEqual(body, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                    "status": "Failure", "message": "Unauthorized",
                                    "reason": "Unauthorized", "code": 401})
        status, _, body = self.api.get(ROUTES)
        self.assertEqual(status, 200)
        self.assertEqual(body["kind"], "HTTPRouteList")

    def test_token_file_is_reread_on_every_request(self):
        self.assertEqual(self.api.get(ROUTES)[0], 200)
        self.srv.set_token("rotated")
        self.assertEqual(self.api.get(ROUTES, token="s3cr3t-token")[0], 401)
        self.assertEqual(self.api.get(ROUTES, token="rotated")[0], 200)
        with open(self.srv.token_file, "w") as f:  # rewritten in place by a test
            f.write("third\n")
        self.assertEqual(self.api.get(ROUTES, token="third")[0], 200)

    def test_version_is_public(self):
        status, _, body = self.api.get("/version", token="")
        self.assertEqual(status, 200)
        self.assertEqual(body["gitVersion"], fa.DEFAULT_KUBE_VERSION)


class RbacTest(ServerTest):
    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="fake-apiserver-rbac-")
        self.addCleanup(shutil.rmtree, tmp)
        path = os.path.join(tmp, "rbac.yaml")
        with open(path, "w") as f:
            f.write(RBAC_YAML)
        self.server_kwargs = {"rbac": path}
        super().setUp()

    def assertForbidden(self, method, path, body=None, ctype="application/json", message=None):
        status, _, obj = self.api.request(method, path, body, ctype)
        self.assertEqual(status, 403, obj)
        self.assertEqual(obj["kind"], "Status")
        self.assertEqual(obj["reason"], "Forbidden")
        self.assertEqual(obj["code"], 403)
        if message:
            self.assertEqual(obj["message"], message)
        return obj

    def test_rules_of_the_cluster_role_are_enforced(self):
        user = fa.DEFAULT_USER
        self.assertEqual(self.api.get(ROUTES)[0], 200)
        self.assertEqual(self.api.get(ROUTE)[0], 200)
        self.assertEqual(self.api.get("/apis/gateway.networking.k8s.io/v1/httproutes")[0], 200)
        self.assertEqual(self.api.get(SLICES + "?labelSelector=kubernetes.io/service-name"
                                               "%3Drollouts-demo-stable")[0], 200)
        w = self.api.watch("/apis/discovery.k8s.io/v1/endpointslices?watch=1&"
                           "timeoutSeconds=1")
        self.assertEqual(w.resp.status, 200)
        w.close()
        # patch on the main resource is not granted, on the status subresource it is
        obj = self.assertForbidden(
            "PATCH", ROUTE, {"metadata": {"labels": {"a": "b"}}}, MERGE,
            'httproutes.gateway.networking.k8s.io "argo-rollouts-http-route" is forbidden: '
            'User "%s" cannot patch resource "httproutes" in API group '
            '"gateway.networking.k8s.io" in the namespace "default"' % user)
        self.assertEqual(obj["details"], {"name": "argo-rollouts-http-route",
                                          "group": "gateway.networking.k8s.io",
                                          "kind": "httproutes"})
        status, _, _ = self.api.request("PATCH", ROUTE + "/status",
                                        {"status": {"parents": []}}, MERGE)
        self.assertEqual(status, 200)
        self.assertForbidden("POST", SERVICES, for_create(ref("service-canary.json")),
                             message='services is forbidden: User "%s" cannot create resource '
                                     '"services" in API group "" in the namespace "default"'
                             % user)
        self.assertForbidden("DELETE", SERVICES + "/rollouts-demo-stable")
        self.assertForbidden("GET", "/apis/gateway.networking.k8s.io/v1/gatewayclasses",
                             message='gatewayclasses.gateway.networking.k8s.io is forbidden: '
                                     'User "%s" cannot list resource "gatewayclasses" in API '
                                     'group "gateway.networking.k8s.io" at the cluster scope'
                             % user)
        # resourceNames: get by name only
        rollouts = "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts"
        self.assertEqual(self.api.get(rollouts + "/rollouts-demo")[0], 200)
        self.assertForbidden("GET", rollouts + "/other")
        self.assertForbidden("GET", rollouts)
        # discovery stays open to any authenticated user; other paths do not
        for path in ("/api", "/api/v1", "/apis", "/apis/argoproj.io/v1alpha1", "/version"):
            self.assertEqual(self.api.get(path)[0], 200, path)
        self.assertForbidden("GET", "/metrics",
                             message='forbidden: User "%s" cannot get path "/metrics"' % user)
        # authentication still comes first
        self.assertEqual(self.api.get(ROUTES, token="nope")[0], 401)


class DiscoveryTest(ServerTest):
    load = ()

    def test_discovery_documents(self):
        _, _, api = self.api.get("/api")
        self.assertEqual(api["kind"], "APIVersions")
        self.assertEqual(api["versions"], ["v1"])
        _, _, v1 = self.api.get("/api/v1")
        self.assertEqual(v1["groupVersion"], "v1")
        svc = {r["name"]: r for r in v1["resources"]}
        self.assertEqual(svc["services"]["kind"], "Service")
        self.assertEqual(svc["services"]["shortNames"], ["svc"])
        self.assertTrue(svc["services"]["namespaced"])
        self.assertIn("watch", svc["services"]["verbs"])
        self.assertEqual(svc["services/status"]["verbs"], ["get", "patch", "update"])
        _, _, apis = self.api.get("/apis")
        self.assertEqual(apis["kind"], "APIGroupList")
        groups = {g["name"]: g for g in apis["groups"]}
        self.assertEqual(set(groups), {"discovery.k8s.io", "gateway.networking.k8s.io",
                                       "argoproj.io"})
        self.assertEqual(groups["argoproj.io"]["preferredVersion"],
                         {"groupVersion": "argoproj.io/v1alpha1", "version": "v1alpha1"})
        _, _, gw = self.api.get("/apis/gateway.networking.k8s.io/v1")
        res = {r["name"]: r for r in gw["resources"]}
        self.assertEqual(res["httproutes"]["singularName"], "httproute")
        self.assertEqual(res["httproutes"]["kind"], "HTTPRoute")
        self.assertTrue(res["httproutes"]["namespaced"])
        self.assertFalse(res["gatewayclasses"]["namespaced"])
        self.assertIn("httproutes/status", res)
        _, _, ro = self.api.get("/apis/argoproj.io/v1alpha1")
        self.assertEqual([r["name"] for r in ro["resources"]], ["rollouts", "rollouts/status"])
        self.assertEqual(ro["resources"][0]["shortNames"], ["ro"])
        _, _, eps = self.api.get("/apis/discovery.k8s.io/v1")
        self.assertEqual(eps["resources"][0]["name"], "endpointslices")
        _, _, g = self.api.get("/apis/gateway.networking.k8s.io")
        self.assertEqual(g["kind"], "APIGroup")
        status, _, body = self.api.get("/apis/example.com/v1")
        self.assertEqual((status, body["reason"]), (404, "NotFound"))
        _, _, ver = self.api.get("/version")
        self.assertEqual((ver["major"], ver["minor"]), ("1", "32"))
        _, _, oa = self.api.get("/openapi/v3")
        self.assertIn("apis/gateway.networking.k8s.io/v1", oa["paths"])


class CrudTest(ServerTest):
    def test_create_get_and_already_exists(self):
        svc = for_create(ref("service-canary.json"))
        status, _, created = self.api.request("POST", SERVICES, svc)
        self.assertEqual(status, 201, created)
        md = created["metadata"]
        self.assertEqual(md["name"], "rollouts-demo-canary")
        self.assertIsInstance(md["resourceVersion"], str)
        self.assertEqual(md["resourceVersion"], self.srv.resource_version)
        self.assertRegex(md["uid"], r"^[0-9a-f-]{36}$")
        self.assertRegex(md["creationTimestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertNotIn("generation", md)  # Services carry no generation
        self.assertEqual(created["status"], {"loadBalancer": {}})
        self.assertEqual(created["spec"]["clusterIP"], "10.96.27.206")
        _, _, got = self.api.get(SERVICES + "/rollouts-demo-canary")
        self.assertEqual(got, created)
        status, _, body = self.api.request("POST", SERVICES, svc)
        self.assertEqual(status, 409)
        self.assertEqual(body["reason"], "AlreadyExists")
        self.assertEqual(body["message"], 'services "rollouts-demo-canary" already exists')
        # a CRD gets generation 1 and its status dropped on create
        route = for_create(ref("httproute-as-applied-defaulted.json"))
        route["metadata"]["name"] = "route-2"
        route["status"] = {"parents": []}
        status, _, r2 = self.api.request("POST", ROUTES, route)
        self.assertEqual(status, 201, r2)
        self.assertEqual(r2["metadata"]["generation"], 1)
        self.assertNotIn("status", r2)
        # rejected: resourceVersion set, wrong namespace, missing object
        bad = copy.deepcopy(svc)
        bad["metadata"]["name"] = "x"
        bad["metadata"]["resourceVersion"] = "5"
        self.assertEqual(self.api.request("POST", SERVICES, bad)[0], 500)
        bad = copy.deepcopy(svc)
        bad["metadata"]["namespace"] = "other"
        self.assertEqual(self.api.request("POST", SERVICES, bad)[0], 400)
        status, _, body = self.api.get(SERVICES + "/nope")
        self.assertEqual((status, body["reason"], body["message"]),
                         (404, "NotFound", 'services "nope" not found'))

    def test_generate_name_and_defaulting(self):
        route = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
                 "metadata": {"generateName": "web-"},
                 "spec": {"parentRefs": [{"name": "gw"}],
                          "rules": [{"backendRefs": [{"name": "a", "port": 80},
                                                     {"name": "b", "port": 80}]}]}}
        _, _, r = self.api.request("POST", ROUTES, route)
        self.assertRegex(r["metadata"]["name"], r"^web-[a-z0-9]{5}$")
        rule = r["spec"]["rules"][0]
        self.assertEqual(rule["backendRefs"][0], {"group": "", "kind": "Service", "name": "a",
                                                  "port": 80, "weight": 1})
        self.assertEqual(rule["matches"], [{"path": {"type": "PathPrefix", "value": "/"}}])
        self.assertEqual(r["spec"]["parentRefs"][0]["kind"], "Gateway")

    def test_list_shapes_and_label_selector(self):
        status, _, lst = self.api.get("/apis/discovery.k8s.io/v1/endpointslices")
        self.assertEqual(status, 200)
        self.assertEqual((lst["kind"], lst["apiVersion"]), ("EndpointSliceList",
                                                            "discovery.k8s.io/v1"))
        self.assertEqual(lst["metadata"]["resourceVersion"], self.srv.resource_version)
        self.assertEqual(len(lst["items"]), 2)
        for it in lst["items"]:  # built-in list: items without apiVersion/kind
            self.assertNotIn("apiVersion", it)
            self.assertNotIn("kind", it)
        _, _, routes = self.api.get("/apis/gateway.networking.k8s.io/v1/httproutes")
        self.assertEqual(routes["metadata"]["continue"], "")
        self.assertEqual(routes["items"][0]["kind"], "HTTPRoute")  # CRD list: with kind
        self.assertEqual(routes["items"][0]["apiVersion"], "gateway.networking.k8s.io/v1")
        _, _, sel = self.api.get(SLICES + "?labelSelector=" + urllib.parse.quote(
            "kubernetes.io/service-name=rollouts-demo-canary"))
        self.assertEqual([i["metadata"]["name"] for i in sel["items"]],
                         ["rollouts-demo-canary-9fzqw"])
        _, _, sel = self.api.get(SLICES + "?labelSelector=" + urllib.parse.quote(
            "kubernetes.io/service-name in (rollouts-demo-stable,x),app.kubernetes.io/part-of"))
        self.assertEqual([i["metadata"]["name"] for i in sel["items"]],
                         ["rollouts-demo-stable-x7k2p"])
        _, _, sel = self.api.get(SLICES + "?fieldSelector=metadata.name%3Drollouts-demo-"
                                          "stable-x7k2p")
        self.assertEqual(len(sel["items"]), 1)
        _, _, other = self.api.get("/apis/discovery.k8s.io/v1/namespaces/other/endpointslices")
        self.assertEqual(other["items"], [])
        status, _, body = self.api.get(SLICES + "?fieldSelector=spec.x%3Dy")
        self.assertEqual((status, body["reason"]), (400, "BadRequest"))

    def test_pagination_and_expired_continue(self):
        base = ref("endpointslice-stable.json")
        for i in range(5):
            o = copy.deepcopy(base)
            o["metadata"]["name"] = "page-%d" % i
            self.srv.apply(o)
        path = SLICES + "?limit=3"
        _, _, p1 = self.api.get(path)
        self.assertEqual(len(p1["items"]), 3)
        self.assertEqual(p1["metadata"]["remainingItemCount"], 4)
        token = p1["metadata"]["continue"]
        self.assertTrue(token)
        rv = p1["metadata"]["resourceVersion"]
        # changes between pages do not show up in the continued list (one snapshot)
        self.srv.patch("endpointslice", "default", "rollouts-demo-stable-x7k2p",
                       {"metadata": {"labels": {"changed": "yes"}}})
        self.srv.delete("endpointslice", "default", "page-4")
        _, _, p2 = self.api.get(path + "&continue=" + urllib.parse.quote(token))
        self.assertEqual(p2["metadata"]["resourceVersion"], rv)
        self.assertEqual([i["metadata"]["name"] for i in p2["items"]],
                         ["page-3", "page-4", "rollouts-demo-canary-9fzqw"])
        _, _, p3 = self.api.get(path + "&continue=" + urllib.parse.quote(
            p2["metadata"]["continue"]))
        self.assertEqual([i["metadata"]["name"] for i in p3["items"]],
                         ["rollouts-demo-stable-x7k2p"])
        self.assertNotIn("changed", p3["items"][0]["metadata"]["labels"])
        self.assertNotIn("continue", p3["metadata"])
        self.assertEqual(p3["metadata"]["resourceVersion"], rv)
        names = [i["metadata"]["name"] for p in (p1, p2, p3) for i in p["items"]]
        self.assertEqual(names, sorted(names))
        self.assertEqual(len(set(names)), 7)
        # compaction expires the continue token: 410 with the real Status body
        self.srv.compact()
        status, _, body = self.api.get(path + "&continue=" + urllib.parse.quote(token))
        self.assertEqual(status, 410)
        self.assertEqual(body, ref("status-410-expired-list.json"))
        status, _, body = self.api.get(path + "&continue=garbage!")
        self.assertEqual((status, body["reason"]), (400, "BadRequest"))

    def test_put_with_stale_resource_version_is_409(self):
        _, _, cur = self.api.get(ROUTE)
        gen = cur["metadata"]["generation"]
        new = copy.deepcopy(cur)
        refs = new["spec"]["rules"][0]["backendRefs"]
        refs[0]["weight"], refs[1]["weight"] = 40, 60
        status, _, upd = self.api.request("PUT", ROUTE, new)
        self.assertEqual(status, 200, upd)
        self.assertEqual(upd["metadata"]["generation"], gen + 1)
        self.assertNotEqual(upd["metadata"]["resourceVersion"], cur["metadata"]["resourceVersion"])
        status, _, body = self.api.request("PUT", ROUTE, new)  # new still has the old rv
        self.assertEqual(status, 409)
        self.assertEqual(body["reason"], "Conflict")
        self.assertEqual(body["message"], 'Operation cannot be fulfilled on '
                         'httproutes.gateway.networking.k8s.io "argo-rollouts-http-route": the '
                         'object has been modified; please apply your changes to the latest '
                         'version and try again')
        del new["metadata"]["resourceVersion"]  # CRDs need it for an update
        self.assertEqual(self.api.request("PUT", ROUTE, new)[0], 422)
        # status in a PUT of the main resource is ignored
        upd2 = copy.deepcopy(upd)
        upd2["status"] = {"parents": []}
        _, _, after = self.api.request("PUT", ROUTE, upd2)
        self.assertEqual(after["status"], cur["status"])
        self.assertEqual(after["metadata"]["resourceVersion"],
                         upd["metadata"]["resourceVersion"])  # nothing changed: no new rv

    def test_merge_patch_of_weights_bumps_generation(self):
        _, _, cur = self.api.get(ROUTE)
        gen = cur["metadata"]["generation"]
        patch = {"spec": {"rules": [{"backendRefs": [
            {"name": "rollouts-demo-stable", "port": 80, "weight": 40},
            {"name": "rollouts-demo-canary", "port": 80, "weight": 60}]}]}}
        status, _, out = self.api.request("PATCH", ROUTE, patch, MERGE)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["metadata"]["generation"], gen + 1)
        self.assertEqual([b["weight"] for b in out["spec"]["rules"][0]["backendRefs"]], [40, 60])
        # RFC 7386 replaces lists: matches came back only through CRD defaulting
        self.assertEqual(out["spec"]["rules"][0]["matches"],
                         [{"path": {"type": "PathPrefix", "value": "/"}}])
        self.assertEqual(out["status"], cur["status"])
        # metadata-only change: new resourceVersion, same generation
        _, _, lab = self.api.request("PATCH", ROUTE, {"metadata": {"labels": {
            "rollouts.argoproj.io/gatewayapi-canary": None}}}, MERGE)
        self.assertEqual(lab["metadata"]["generation"], gen + 1)
        self.assertNotIn("rollouts.argoproj.io/gatewayapi-canary", lab["metadata"]["labels"])
        # no-op patch: nothing changes
        _, _, same = self.api.request("PATCH", ROUTE, patch, MERGE)
        self.assertEqual(same["metadata"]["resourceVersion"], lab["metadata"]["resourceVersion"])
        # stale resourceVersion in the patch is a precondition
        stale = {"metadata": {"resourceVersion": cur["metadata"]["resourceVersion"]},
                 "spec": {"hostnames": ["x"]}}
        self.assertEqual(self.api.request("PATCH", ROUTE, stale, MERGE)[0], 409)
        # strategic merge patch is refused for CRDs (like the real server) ...
        status, _, body = self.api.request("PATCH", ROUTE, patch,
                                           "application/strategic-merge-patch+json")
        self.assertEqual((status, body["reason"]), (415, "UnsupportedMediaType"))
        # ... and accepted (as a merge patch) for built-in kinds
        status, _, svc = self.api.request("PATCH", SERVICES + "/rollouts-demo-stable", {
            "spec": {"selector": {"rollouts-pod-template-hash": "6cf78c66c5"}}},
            "application/strategic-merge-patch+json")
        self.assertEqual(status, 200)
        self.assertEqual(svc["spec"]["selector"]["rollouts-pod-template-hash"], "6cf78c66c5")

    def test_json_patch(self):
        ops = [{"op": "test", "path": "/spec/rules/0/backendRefs/1/weight", "value": 30},
               {"op": "replace", "path": "/spec/rules/0/backendRefs/1/weight", "value": 100},
               {"op": "replace", "path": "/spec/rules/0/backendRefs/0/weight", "value": 0}]
        status, _, out = self.api.request("PATCH", ROUTE, ops, "application/json-patch+json")
        self.assertEqual(status, 200, out)
        self.assertEqual([b["weight"] for b in out["spec"]["rules"][0]["backendRefs"]], [0, 100])
        status, _, _ = self.api.request("PATCH", ROUTE, ops, "application/json-patch+json")
        self.assertEqual(status, 422)  # the test op fails now

    def test_status_subresource_keeps_generation(self):
        _, _, cur = self.api.get(ROUTE)
        gen = cur["metadata"]["generation"]
        new = copy.deepcopy(cur)
        new["status"]["parents"][0]["conditions"][0]["observedGeneration"] = 99
        new["spec"]["hostnames"] = ["ignored.example"]  # spec in a status update is ignored
        status, _, out = self.api.request("PUT", ROUTE + "/status", new)
        self.assertEqual(status, 200, out)
        self.assertEqual(out["metadata"]["generation"], gen)
        self.assertNotEqual(out["metadata"]["resourceVersion"], cur["metadata"]["resourceVersion"])
        self.assertEqual(out["status"]["parents"][0]["conditions"][0]["observedGeneration"], 99)
        self.assertNotIn("hostnames", out["spec"])
        _, _, st = self.api.get(ROUTE + "/status")
        self.assertEqual(st, out)
        # PATCH .../status on a Rollout (the way Argo reports step progress)
        ro = "/apis/argoproj.io/v1alpha1/namespaces/default/rollouts/rollouts-demo"
        _, _, r0 = self.api.get(ro)
        status, _, r1 = self.api.request("PATCH", ro + "/status", {
            "status": {"currentStepIndex": 2, "canary": {"weights": {"canary": {"weight": 60}}}},
            "spec": {"replicas": 9}}, MERGE)
        self.assertEqual(status, 200, r1)
        self.assertEqual(r1["status"]["currentStepIndex"], 2)
        self.assertEqual(r1["status"]["canary"]["weights"]["canary"]["weight"], 60)
        self.assertEqual(r1["spec"]["replicas"], r0["spec"]["replicas"])
        self.assertEqual(r1["metadata"]["generation"], r0["metadata"]["generation"])
        # stale resourceVersion on the status subresource is a conflict too
        self.assertEqual(self.api.request("PUT", ROUTE + "/status", new)[0], 409)

    def test_delete(self):
        status, _, body = self.api.request("DELETE", SERVICES + "/rollouts-demo-stable")
        self.assertEqual((status, body["status"]), (200, "Success"))
        self.assertEqual(self.api.get(SERVICES + "/rollouts-demo-stable")[0], 404)
        status, _, body = self.api.request("DELETE", ROUTE, {
            "kind": "DeleteOptions", "apiVersion": "v1",
            "preconditions": {"resourceVersion": "1"}})
        self.assertEqual((status, body["reason"]), (409, "Conflict"))
        status, _, body = self.api.request("DELETE", ROUTE)
        self.assertEqual((status, body["kind"]), (200, "HTTPRoute"))

    def test_cluster_scoped_gatewayclass(self):
        gc = {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GatewayClass",
              "metadata": {"name": "agentgateway"},
              "spec": {"controllerName": "kgateway.dev/agentgateway"}}
        path = "/apis/gateway.networking.k8s.io/v1/gatewayclasses"
        status, _, out = self.api.request("POST", path, gc)
        self.assertEqual(status, 201, out)
        self.assertNotIn("namespace", out["metadata"])
        self.assertEqual(self.api.get(path + "/agentgateway")[0], 200)
        self.assertEqual(self.api.get("/apis/gateway.networking.k8s.io/v1/namespaces/default/"
                                      "gatewayclasses")[0], 404)


class WatchTest(ServerTest):
    def test_events_in_order_with_bookmarks(self):
        _, _, lst = self.api.get(ROUTES)
        rv = lst["metadata"]["resourceVersion"]
        w = self.api.watch(ROUTES + "?watch=1&allowWatchBookmarks=true&resourceVersion=" + rv)
        self.addCleanup(w.close)
        self.assertEqual(w.resp.status, 200)
        self.assertEqual(w.resp.getheader("Transfer-Encoding"), "chunked")
        route = for_create(ref("httproute-as-applied-defaulted.json"))
        route["metadata"]["name"] = "second"
        self.api.ok("POST", ROUTES, route)
        self.api.ok("PATCH", ROUTES + "/second", {"spec": {"hostnames": ["a.example"]}}, MERGE)
        self.api.ok("DELETE", ROUTES + "/second")
        seen, rvs = [], []
        while len(seen) < 3:
            ev = w.next_non_bookmark()
            self.assertIsNotNone(ev)
            seen.append(ev["type"])
            rvs.append(int(ev["object"]["metadata"]["resourceVersion"]))
            self.assertEqual(ev["object"]["metadata"]["name"], "second")
        self.assertEqual(seen, ["ADDED", "MODIFIED", "DELETED"])
        self.assertEqual(rvs, sorted(rvs))
        self.assertGreater(rvs[0], int(rv))
        # bookmark_interval=0.2s: a BOOKMARK at the current resourceVersion follows
        deadline = time.time() + 3
        while time.time() < deadline:
            ev = w.next()
            if ev["type"] == "BOOKMARK":
                break
        self.assertEqual(ev["type"], "BOOKMARK")
        self.assertEqual(ev["object"], {"apiVersion": "gateway.networking.k8s.io/v1",
                                        "kind": "HTTPRoute",
                                        "metadata": {"resourceVersion":
                                                     self.srv.resource_version}})

    def test_without_resource_version_sends_synthetic_added(self):
        w = self.api.watch("/apis/discovery.k8s.io/v1/endpointslices?watch=true&"
                           "timeoutSeconds=1")
        self.addCleanup(w.close)
        events = []
        while True:
            ev = w.next()
            if ev is None:
                break
            events.append(ev)
        self.assertEqual([e["type"] for e in events], ["ADDED", "ADDED"])
        self.assertEqual({e["object"]["metadata"]["name"] for e in events},
                         {"rollouts-demo-canary-9fzqw", "rollouts-demo-stable-x7k2p"})
        self.assertEqual(events[0]["object"]["kind"], "EndpointSlice")

    def test_label_selector_moves_objects_in_and_out(self):
        name = "rollouts-demo-canary-9fzqw"
        sel = urllib.parse.quote("kubernetes.io/service-name=rollouts-demo-canary")
        w = self.api.watch(SLICES + "?watch=1&labelSelector=" + sel + "&resourceVersion=" +
                           self.srv.resource_version)
        self.addCleanup(w.close)
        self.srv.patch("endpointslice", "default", "rollouts-demo-stable-x7k2p",
                       {"endpoints": []})  # not selected: no event
        self.srv.patch("endpointslice", "default", name,
                       {"metadata": {"labels": {"kubernetes.io/service-name": "elsewhere"}}})
        self.srv.patch("endpointslice", "default", name,
                       {"metadata": {"labels": {"kubernetes.io/service-name":
                                                "rollouts-demo-canary"}}})
        self.srv.patch("endpointslice", "default", name, {"endpoints": []})
        got = [w.next()["type"] for _ in range(3)]
        self.assertEqual(got, ["DELETED", "ADDED", "MODIFIED"])

    def test_watch_one_object_by_field_selector(self):
        w = self.api.watch(ROUTES + "?watch=1&fieldSelector=metadata.name%3D"
                           "argo-rollouts-http-route&timeoutSeconds=2")
        self.addCleanup(w.close)
        self.assertEqual(w.next()["type"], "ADDED")
        other = for_create(ref("httproute-as-applied-defaulted.json"))
        other["metadata"]["name"] = "other"
        self.api.ok("POST", ROUTES, other)
        self.srv.patch("httproute", "default", "argo-rollouts-http-route",
                       {"spec": {"hostnames": ["b.example"]}})
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["metadata"]["name"]),
                         ("MODIFIED", "argo-rollouts-http-route"))
        t0 = time.time()
        self.assertIsNone(w.next())  # timeoutSeconds ends the stream cleanly
        self.assertLess(time.time() - t0, 3)

    def test_410_error_event_after_compaction(self):
        old = self.srv.resource_version
        self.srv.patch("httproute", "default", "argo-rollouts-http-route",
                       {"spec": {"hostnames": ["c.example"]}})
        # still in history: the change is replayed
        w = self.api.watch(ROUTES + "?watch=1&resourceVersion=" + old)
        self.assertEqual(w.next()["type"], "MODIFIED")
        w.close()
        now = self.srv.compact()
        w = self.api.watch(ROUTES + "?watch=1&resourceVersion=" + old)
        self.addCleanup(w.close)
        self.assertEqual(w.resp.status, 200)
        ev = w.next()
        self.assertEqual(ev["type"], "ERROR")
        with open(os.path.join(REFERENCE, "watch-error-410-expired.jsonl")) as f:
            want = json.loads(f.readline())
        self.assertEqual(set(ev["object"]), set(want["object"]))
        self.assertEqual((ev["object"]["code"], ev["object"]["reason"]), (410, "Expired"))
        self.assertRegex(ev["object"]["message"], r"^too old resource version: %s \(\d+\)$" % old)
        self.assertIsNone(w.next())  # the stream ends after the error
        # watching from the compaction point itself works
        w2 = self.api.watch(ROUTES + "?watch=1&timeoutSeconds=1&resourceVersion=%d" % now)
        self.addCleanup(w2.close)
        self.assertIsNone(w2.next())

    def test_send_initial_events_ends_with_annotated_bookmark(self):
        w = self.api.watch(ROUTES + "?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&"
                           "resourceVersionMatch=NotOlderThan&timeoutSeconds=1")
        self.addCleanup(w.close)
        self.assertEqual(w.next()["type"], "ADDED")
        bm = w.next()
        self.assertEqual(bm["type"], "BOOKMARK")
        self.assertEqual(bm["object"]["metadata"]["annotations"],
                         {"k8s.io/initial-events-end": "true"})

    def test_chunked_framing(self):
        """Each event is one chunk holding one JSON line; the stream ends with 0\\r\\n\\r\\n."""
        rv = self.srv.resource_version
        for w in (10, 20, 30):
            self.srv.patch("httproute", "default", "argo-rollouts-http-route", {
                "metadata": {"annotations": {"w": str(w)}}})
        raw = socket.create_connection(("127.0.0.1", self.srv.port), timeout=10)
        s = Client(self.srv).ctx.wrap_socket(raw, server_hostname="127.0.0.1")
        self.addCleanup(s.close)
        s.sendall(("GET %s?watch=1&resourceVersion=%s&timeoutSeconds=1 HTTP/1.1\r\n"
                   "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\nAccept: application/json\r\n"
                   "\r\n" % (ROUTES, rv, self.srv.token)).encode())
        data = b""
        while not data.endswith(b"\r\n0\r\n\r\n"):
            part = s.recv(65536)
            self.assertTrue(part, "connection closed before the last chunk")
            data += part
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        self.assertEqual(lines[0], "HTTP/1.1 200 OK")
        hdrs = {k.lower(): v.strip() for k, v in (ln.split(":", 1) for ln in lines[1:])}
        self.assertEqual(hdrs["transfer-encoding"], "chunked")
        self.assertEqual(hdrs["content-type"], "application/json")
        self.assertNotIn("content-length", hdrs)
        chunks = []
        while True:
            size_line, _, body = body.partition(b"\r\n")
            size = int(size_line, 16)
            if size == 0:
                self.assertEqual(body, b"\r\n")
                break
            chunk, body = body[:size], body[size:]
            self.assertTrue(body.startswith(b"\r\n"))
            body = body[2:]
            chunks.append(chunk)
        self.assertEqual(len(chunks), 3)
        for c, w in zip(chunks, (10, 20, 30)):
            self.assertTrue(c.endswith(b"\n"))
            self.assertEqual(c.count(b"\n"), 1)
            ev = json.loads(c)
            self.assertEqual(list(ev), ["type", "object"])
            self.assertEqual(ev["object"]["metadata"]["annotations"]["w"], str(w))
        # HTTP/1.1 keep-alive: the same connection serves the next request
        s.sendall(("GET /version HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").encode())
        self.assertTrue(s.recv(65536).startswith(b"HTTP/1.1 200 OK"))


class HistoryTest(ServerTest):
    server_kwargs = {"history_size": 3}

    def test_watch_older_than_history_gets_410(self):
        rv = self.srv.resource_version
        for i in range(5):
            self.srv.patch("httproute", "default", "argo-rollouts-http-route",
                           {"metadata": {"annotations": {"n": str(i)}}})
        w = self.api.watch(ROUTES + "?watch=1&resourceVersion=" + rv)
        self.addCleanup(w.close)
        ev = w.next()
        self.assertEqual((ev["type"], ev["object"]["code"]), ("ERROR", 410))
        # other kinds keep their own history
        w2 = self.api.watch(SLICES + "?watch=1&timeoutSeconds=1&resourceVersion=" + rv)
        self.addCleanup(w2.close)
        self.assertIsNone(w2.next())


class FaultTest(ServerTest):
    def test_injected_429_with_retry_after(self):
        self.srv.inject_429(2, retry_after=3)
        for _ in range(2):
            status, resp, body = self.api.get(ROUTES)
            self.assertEqual(status, 429)
            self.assertEqual(resp.getheader("Retry-After"), "3")
            self.assertEqual(body["reason"], "TooManyRequests")
            self.assertEqual(body["details"], {"retryAfterSeconds": 3})
        self.assertEqual(self.api.get(ROUTES)[0], 200)
        self.srv.inject_error(503, 1, method="PATCH")
        self.assertEqual(self.api.get(ROUTES)[0], 200)
        self.assertEqual(self.api.request("PATCH", ROUTE, {}, MERGE)[0], 503)

    def test_pause_refuse_and_resume(self):
        w = self.api.watch(ROUTES + "?watch=1&resourceVersion=" + self.srv.resource_version)
        self.addCleanup(w.close)
        port = self.srv.port
        self.srv.pause()
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port), timeout=2).close()
        # the open watch is cut: EOF (or reset) instead of a clean end
        with self.assertRaises((http.client.IncompleteRead, ConnectionError, ssl.SSLError,
                                OSError, ValueError)):
            line = w.resp.readline()
            if not line:
                raise ConnectionError("eof")
        self.srv.patch("httproute", "default", "argo-rollouts-http-route",
                       {"spec": {"hostnames": ["during-outage.example"]}})
        self.srv.resume()
        self.assertEqual(self.srv.port, port)
        _, _, r = self.api.get(ROUTE)
        self.assertEqual(r["spec"]["hostnames"], ["during-outage.example"])

    def test_pause_close_drops_connections(self):
        self.srv.pause("close")
        with self.assertRaises((ConnectionError, http.client.RemoteDisconnected, ssl.SSLError,
                                OSError)):
            self.api.get(ROUTES)
        self.srv.resume()
        self.assertEqual(self.api.get(ROUTES)[0], 200)

    def test_pause_hang_then_resume(self):
        self.srv.pause("hang")
        c = Client(self.srv).conn(timeout=0.5)
        with self.assertRaises((socket.timeout, TimeoutError, ssl.SSLError, OSError)):
            c.request("GET", ROUTES)
            c.getresponse()
        c.close()
        self.srv.resume()
        self.assertEqual(self.api.get(ROUTES)[0], 200)

    def test_restart_keeps_objects_port_and_ca(self):
        def read_ca():
            with open(self.srv.ca_path) as f:
                return f.read()
        port, ca = self.srv.port, read_ca()
        self.srv.patch("httproute", "default", "argo-rollouts-http-route",
                       {"spec": {"hostnames": ["restart.example"]}})
        rv = self.srv.resource_version
        self.srv.stop()
        self.srv.start()
        self.assertEqual(self.srv.port, port)
        self.assertEqual(read_ca(), ca)
        _, _, r = self.api.get(ROUTE)
        self.assertEqual((r["spec"]["hostnames"], r["metadata"]["resourceVersion"]),
                         (["restart.example"], rv))

    def test_python_update_conflicts_on_stale_resource_version(self):
        cur = self.srv.get("httproute", "default", "argo-rollouts-http-route")
        cur["spec"]["rules"][0]["backendRefs"][0]["weight"] = 0
        new = self.srv.update(cur)
        self.assertEqual(new["metadata"]["generation"], cur["metadata"]["generation"] + 1)
        with self.assertRaises(fa.ApiError) as e:
            self.srv.update(cur)
        self.assertEqual(e.exception.code, 409)

    def test_request_log(self):
        self.srv.requests(clear=True)
        self.api.request("PATCH", ROUTE, {"spec": {"hostnames": ["log.example"]}}, MERGE)
        # The server records a request once its answer has gone out, so the client may
        # read the answer a moment before the entry exists.
        deadline = time.monotonic() + 5
        while not self.srv.requests() and time.monotonic() < deadline:
            time.sleep(0.01)
        log = self.srv.requests()
        self.assertEqual(len(log), 1)
        self.assertEqual((log[0]["method"], log[0]["path"], log[0]["status"],
                          log[0]["content_type"]), ("PATCH", ROUTE, 200, MERGE))
        self.assertIn("log.example", log[0]["body"])


class SeedScenarioTest(ServerTest):
    load = ()

    def test_load_every_reference_object(self):
        names = sorted(n for n in os.listdir(REFERENCE) if n.endswith(".json") and
                       not n.startswith("status-"))
        for n in names:
            self.srv.load_file(os.path.join(REFERENCE, n))
        self.assertEqual(len(self.srv.list("httproute")), 1)
        self.assertEqual(len(self.srv.list("endpointslice")), 2)
        self.assertEqual(len(self.srv.list("service")), 2)
        self.assertEqual(len(self.srv.list("gateway", "kgateway-system")), 1)
        ro = self.srv.get("rollout", "default", "rollouts-demo")
        self.assertEqual(ro["metadata"]["uid"], "5d6e7f80-9a1b-4c2d-8e3f-4a5b6c7d8e9f")
        # fixtures keep their uid/creationTimestamp; the apply order decides the state
        self.srv.apply(ref("httproute-canary-30.json"))
        r = self.srv.get("httproute", "default", "argo-rollouts-http-route")
        self.assertEqual(r["metadata"]["generation"], 3)
        self.assertEqual([b["weight"] for b in r["spec"]["rules"][0]["backendRefs"]], [70, 30])


class Ipv6Test(unittest.TestCase):
    def test_bind_ipv6_loopback(self):
        try:
            with socket.socket(socket.AF_INET6) as probe:
                probe.bind(("::1", 0))
        except OSError as e:
            self.skipTest("no IPv6 loopback: %s" % e)
        with tempfile.TemporaryDirectory() as tmp:
            with fa.FakeApiServer(tmp, bind="::1", token="t", control=False) as srv:
                ctx = ssl.create_default_context(cafile=srv.ca_path)
                c = http.client.HTTPSConnection("::1", srv.port, context=ctx, timeout=5)
                c.request("GET", "/api/v1/services", headers={"Authorization": "Bearer t"})
                self.assertEqual(c.getresponse().status, 200)
                c.close()
                self.assertTrue(srv.url.startswith("https://[::1]:"))
        with self.assertRaises(ValueError):
            fa.FakeApiServer(tempfile.gettempdir(), bind="0.0.0.0")


class CliTest(unittest.TestCase):
    def test_cli_ready_file_control_api_and_sigterm(self):
        self.assertTrue(os.path.isdir(REFERENCE), "fixtures not found at %s" % REFERENCE)
        with tempfile.TemporaryDirectory() as tmp:
            ready = os.path.join(tmp, "ready.json")
            p = subprocess.Popen(
                [sys.executable if sys.executable == "/usr/bin/python3" else "/usr/bin/python3",
                 os.path.join(HERE, "fake_apiserver.py"), "--state-dir",
                 os.path.join(tmp, "state"), "--port", "0", "--ready-file", ready,
                 "--load", os.path.join(REFERENCE, "httproute-canary-30.json"),
                 "--load", os.path.join(REFERENCE, "endpointslice-list.json")],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = p.stdout.readline()
                info = json.loads(line)
                with open(ready) as f:
                    self.assertEqual(json.load(f), info)
                for k in ("port", "ca", "kubeconfig", "token_file", "control_url"):
                    self.assertIn(k, info)
                with open(info["token_file"]) as f:
                    token = f.read().strip()
                ctx = ssl.create_default_context(cafile=info["ca"])

                def get(path):
                    c = http.client.HTTPSConnection("127.0.0.1", info["port"], context=ctx,
                                                    timeout=5)
                    c.request("GET", path, headers={"Authorization": "Bearer " + token})
                    r = c.getresponse()
                    out = (r.status, json.loads(r.read()))
                    c.close()
                    return out

                status, lst = get("/apis/discovery.k8s.io/v1/endpointslices")
                self.assertEqual((status, len(lst["items"])), (200, 2))
                rv = lst["metadata"]["resourceVersion"]

                def control(method, path, body=None):
                    u = urllib.parse.urlsplit(info["control_url"])
                    c = http.client.HTTPConnection(u.hostname, u.port, timeout=5)
                    c.request(method, path, body=json.dumps(body) if body else None)
                    r = c.getresponse()
                    out = (r.status, json.loads(r.read()))
                    c.close()
                    return out

                status, obj = control("POST", "/patch", {
                    "kind": "HTTPRoute", "namespace": "default",
                    "name": "argo-rollouts-http-route",
                    "patch": {"spec": {"hostnames": ["ctl.example"]}}})
                self.assertEqual(status, 200, obj)
                self.assertEqual(obj["metadata"]["generation"], 4)
                self.assertEqual(control("POST", "/compact")[0], 200)
                status, _ = get(ROUTES + "?watch=1&resourceVersion=" + rv)
                self.assertEqual(status, 200)
                c = http.client.HTTPSConnection("127.0.0.1", info["port"], context=ctx,
                                                timeout=5)
                c.request("GET", ROUTES + "?watch=1&resourceVersion=" + rv,
                          headers={"Authorization": "Bearer " + token})
                ev = json.loads(c.getresponse().readline())
                c.close()
                self.assertEqual((ev["type"], ev["object"]["code"]), ("ERROR", 410))
                self.assertEqual(control("POST", "/inject?code=429&count=1&retry_after=2")[0],
                                 200)
                self.assertEqual(get(ROUTES)[0], 429)
                self.assertEqual(get(ROUTES)[0], 200)
                p.send_signal(signal.SIGTERM)
                self.assertEqual(p.wait(10), 0)
            finally:
                if p.poll() is None:
                    p.kill()
                    p.wait()
                p.stdout.close()
                p.stderr.close()


class KubectlTest(ServerTest):
    """Stock kubectl through the server: get, get -w, patch --type=merge, create -f."""

    def setUp(self):
        self.kubectl = shutil.which("kubectl")
        if not self.kubectl:
            print("\nskipping kubectl test: kubectl is not on PATH", file=sys.stderr)
            self.skipTest("kubectl is not on PATH")
        super().setUp()
        self.home = os.path.join(self.tmp.name, "home")
        os.makedirs(self.home)
        self.kubeconfig = self.srv.write_kubeconfig(os.path.join(self.tmp.name, "kubeconfig"))
        self.env = dict(os.environ, HOME=self.home, KUBECONFIG=self.kubeconfig)

    def kubectl_args(self, *args):
        return [self.kubectl, "--kubeconfig", self.kubeconfig, "--cache-dir",
                os.path.join(self.home, "cache"), "--request-timeout", "10s"] + list(args)

    def run_kubectl(self, *args):
        p = subprocess.run(self.kubectl_args(*args), env=self.env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        if p.returncode != 0:
            self.fail("kubectl %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr))
        return p.stdout

    def test_kubectl(self):
        out = self.run_kubectl("get", "httproutes", "-A")
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAMESPACE", "NAME", "HOSTNAMES", "AGE"])
        self.assertEqual(lines[1].split()[:2], ["default", "argo-rollouts-http-route"])

        out = self.run_kubectl("get", "httproute", "argo-rollouts-http-route", "-o", "json")
        self.assertEqual(json.loads(out)["metadata"]["generation"], 3)

        # get -w: the first event, then a change made through the API shows up
        w = subprocess.Popen(self.kubectl_args("get", "httproute", "argo-rollouts-http-route",
                                               "-w", "--output-watch-events"),
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
        try:
            header = w.stdout.readline()
            self.assertEqual(header.split()[:2], ["EVENT", "NAME"])
            first = w.stdout.readline()
            self.assertEqual(first.split()[:2], ["ADDED", "argo-rollouts-http-route"])
            out = self.run_kubectl(
                "patch", "httproute", "argo-rollouts-http-route", "--type=merge", "-p",
                json.dumps({"spec": {"rules": [{"backendRefs": [
                    {"name": "rollouts-demo-stable", "port": 80, "weight": 40},
                    {"name": "rollouts-demo-canary", "port": 80, "weight": 60}]}]}}))
            self.assertIn("httproute.gateway.networking.k8s.io/argo-rollouts-http-route patched",
                          out)
            second = w.stdout.readline()
            self.assertEqual(second.split()[:2], ["MODIFIED", "argo-rollouts-http-route"])
        finally:
            w.kill()
            w.wait()
            w.stdout.close()
            w.stderr.close()
        r = self.srv.get("httproute", "default", "argo-rollouts-http-route")
        self.assertEqual([b["weight"] for b in r["spec"]["rules"][0]["backendRefs"]], [40, 60])
        self.assertEqual(r["metadata"]["generation"], 4)

        svc = ref("service-canary.json")
        for f in ("resourceVersion", "uid", "creationTimestamp"):
            del svc["metadata"][f]
        path = os.path.join(self.tmp.name, "service-canary.json")
        with open(path, "w") as f:
            json.dump(svc, f)
        out = self.run_kubectl("create", "-f", path)
        self.assertIn("service/rollouts-demo-canary created", out)
        out = self.run_kubectl("get", "svc", "rollouts-demo-canary", "-o",
                               "jsonpath={.spec.selector.rollouts-pod-template-hash}")
        self.assertEqual(out, "6cf78c66c5")
        p = subprocess.run(self.kubectl_args("create", "-f", path), env=self.env,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("AlreadyExists", p.stderr)

        out = self.run_kubectl("get", "endpointslices", "-l",
                               "kubernetes.io/service-name=rollouts-demo-stable", "-o", "name")
        self.assertEqual(out.split(), ["endpointslice.discovery.k8s.io/rollouts-demo-stable-x7k2p"])
        out = self.run_kubectl("get", "ro,gtw", "-A", "-o", "name")
        self.assertEqual(sorted(out.split()), ["gateway.gateway.networking.k8s.io/"
                                               "agentgateway-proxy",
                                               "rollout.argoproj.io/rollouts-demo"])

    def test_kubectl_new_kinds(self):
        """ReferenceGrant, GRPCRoute, TCPRoute, TLSRoute and Namespace, created, listed and
        patched by stock kubectl; routes listed in creation order keep their
        creationTimestamp."""
        docs = [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps", "labels": {"team": "a"}}},
            {"apiVersion": "gateway.networking.k8s.io/v1beta1", "kind": "ReferenceGrant",
             "metadata": {"name": "from-apps", "namespace": "default"},
             "spec": {"from": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "namespace": "apps"}],
                      "to": [{"group": "", "kind": "Service"}]}},
            {"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "TCPRoute",
             "metadata": {"name": "db", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "agentgateway-proxy", "namespace": "kgateway-system",
                                      "sectionName": "tcp"}],
                      "rules": [{"backendRefs": [{"name": "rollouts-demo-stable", "port": 80, "weight": 80},
                                                 {"name": "rollouts-demo-canary", "port": 80, "weight": 20}]}]}},
            {"apiVersion": "gateway.networking.k8s.io/v1alpha2", "kind": "TLSRoute",
             "metadata": {"name": "tls", "namespace": "default"},
             "spec": {"hostnames": ["a.example.com"],
                      "parentRefs": [{"name": "agentgateway-proxy", "namespace": "kgateway-system"}],
                      "rules": [{"backendRefs": [{"name": "rollouts-demo-stable", "port": 443}]}]}},
            {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "GRPCRoute",
             "metadata": {"name": "api", "namespace": "default"},
             "spec": {"parentRefs": [{"name": "agentgateway-proxy", "namespace": "kgateway-system"}],
                      "rules": [{"backendRefs": [{"name": "rollouts-demo-stable", "port": 50051}]}]}},
        ]
        path = os.path.join(self.tmp.name, "kinds.json")
        with open(path, "w") as f:
            json.dump({"apiVersion": "v1", "kind": "List", "items": docs}, f)
        out = self.run_kubectl("create", "-f", path)
        for line in ("namespace/apps created", "referencegrant.gateway.networking.k8s.io/from-apps created",
                     "tcproute.gateway.networking.k8s.io/db created", "tlsroute.gateway.networking.k8s.io/tls created",
                     "grpcroute.gateway.networking.k8s.io/api created"):
            self.assertIn(line, out)
        out = self.run_kubectl("get", "namespace", "apps", "-o", "json")
        self.assertEqual(json.loads(out)["metadata"]["labels"],
                         {"team": "a", "kubernetes.io/metadata.name": "apps"})
        out = self.run_kubectl("get", "referencegrants,tcproutes,tlsroutes,grpcroutes", "-A", "-o", "name")
        self.assertEqual(sorted(out.split()), ["grpcroute.gateway.networking.k8s.io/api",
                                               "referencegrant.gateway.networking.k8s.io/from-apps",
                                               "tcproute.gateway.networking.k8s.io/db",
                                               "tlsroute.gateway.networking.k8s.io/tls"])
        out = self.run_kubectl("patch", "tcproute", "db", "--type=merge", "-p", json.dumps(
            {"spec": {"rules": [{"backendRefs": [{"name": "rollouts-demo-stable", "port": 80, "weight": 40},
                                                 {"name": "rollouts-demo-canary", "port": 80, "weight": 60}]}]}}))
        self.assertIn("tcproute.gateway.networking.k8s.io/db patched", out)
        db = self.srv.get("tcproute", "default", "db")
        self.assertEqual([b["weight"] for b in db["spec"]["rules"][0]["backendRefs"]], [40, 60])
        self.assertEqual(db["metadata"]["generation"], 2)
        # creation order: the seed route (2026-09-01) is older than the ones created now
        out = self.run_kubectl("get", "httproutes,tcproutes", "-A", "--sort-by=.metadata.creationTimestamp",
                               "-o", "name")
        self.assertEqual(out.split(), ["httproute.gateway.networking.k8s.io/argo-rollouts-http-route",
                                       "tcproute.gateway.networking.k8s.io/db"])
        out = self.run_kubectl("get", "tlsroutes", "-o", "wide")
        self.assertEqual(out.splitlines()[0].split(), ["NAME", "HOSTNAMES", "AGE"])


if __name__ == "__main__":
    unittest.main()
