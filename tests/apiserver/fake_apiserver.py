#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""A test Kubernetes API server for bpfsplit's tests.

It speaks enough of the real wire protocol that stock kubectl and the
bpfsplit agent (libcurl + cJSON) can talk to it: HTTPS with a generated CA,
bearer tokens, RBAC from a ClusterRole, discovery, list with limit/continue,
chunked watch streams with resourceVersion, bookmarks and 410 Expired,
create/update/merge patch/JSON patch/delete and the status subresource.

Kinds served: Service (v1), EndpointSlice (discovery.k8s.io/v1), HTTPRoute,
Gateway, GatewayClass (gateway.networking.k8s.io/v1), Rollout
(argoproj.io/v1alpha1).

Python standard library only (plus Debian's python3-yaml, used for RBAC and
--load files when present).  Run with /usr/bin/python3.  See README.md.
"""

import argparse
import base64
import collections
import copy
import datetime
import hmac
import http.server
import ipaddress
import json
import os
import secrets
import select
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

try:
    import yaml  # Debian python3-yaml
except ImportError:  # pragma: no cover - only without python3-yaml
    yaml = None

DEFAULT_USER = "system:serviceaccount:bpfsplit-system:bpfsplit-agent"
DEFAULT_KUBE_VERSION = "v1.32.4"
ALL_VERBS = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
PUBLIC_PATHS = ("/healthz", "/livez", "/readyz", "/version")

CONTINUE_EXPIRED_MESSAGE = (
    "The provided continue parameter is too old to display a consistent list result. "
    "You can start a new list without the continue parameter, or use the continue token "
    "in this response to retrieve the remainder of the results. Continuing with the "
    "provided token results in an inconsistent list - objects that were created, "
    "modified, or deleted between the time the first chunk was returned and now may "
    "show up in the list.")


# --------------------------------------------------------------------------
# small helpers

def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc)
    except (TypeError, ValueError):
        return None


def human_duration(seconds):
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration."""
    if seconds < -1:
        return "<invalid>"
    if seconds < 0:
        return "0s"
    s = int(seconds)
    if s < 60 * 2:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 60 * 3:
        return "%dm" % m
    h = s // 3600
    if h < 8:
        return "%dh%dm" % (h, (s % 3600) // 60) if (s % 3600) // 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    if h < 24 * 8:
        return "%dd%dh" % (h // 24, h % 24) if h % 24 else "%dd" % (h // 24)
    if h < 24 * 365 * 2:
        return "%dd" % (h // 24)
    if h < 24 * 365 * 8:
        return "%dy%dd" % (h // (24 * 365), (h // 24) % 365)
    return "%dy" % (h // (24 * 365))


def age_of(obj):
    t = parse_rfc3339(obj.get("metadata", {}).get("creationTimestamp"))
    if t is None:
        return "<unknown>"
    return human_duration((datetime.datetime.now(datetime.timezone.utc) - t).total_seconds())


def random_suffix(n=5):
    alphabet = "bcdfghjklmnpqrstvwxz2456789"  # k8s.io/apimachinery/pkg/util/rand
    return "".join(secrets.choice(alphabet) for _ in range(n))


def status_body(code, reason, message, details=None):
    body = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason}
    if details is not None:
        body["details"] = details
    body["code"] = code
    return body


class ApiError(Exception):
    """An error answered with a metav1.Status body."""

    def __init__(self, code, reason, message, details=None, headers=None):
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details
        self.headers = headers or {}

    def body(self):
        return status_body(self.code, self.reason, self.message, self.details)


def load_documents(path):
    """Objects in a JSON or YAML file: one object, a List, or several YAML docs."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    docs = []
    try:
        docs = [json.loads(text)]
    except ValueError:
        if yaml is None:
            raise RuntimeError("%s: not JSON and python3-yaml is not installed" % path)
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    out = []
    for d in docs:
        out.extend(expand_list(d))
    return out


def expand_list(obj):
    if not isinstance(obj, dict):
        raise ValueError("not an object: %r" % (obj,))
    kind = obj.get("kind", "")
    if kind.endswith("List") and isinstance(obj.get("items"), list):
        item_kind = kind[:-4] if kind != "List" else None
        out = []
        for it in obj["items"]:
            it = dict(it)
            if item_kind and "kind" not in it:
                it["kind"] = item_kind
            if "apiVersion" not in it and obj.get("apiVersion"):
                it["apiVersion"] = obj["apiVersion"]
            out.extend(expand_list(it))
        return out
    return [obj]


# --------------------------------------------------------------------------
# resource types

def _jp(obj, *path, default=None):
    cur = obj
    for p in path:
        if isinstance(cur, dict):
            cur = cur.get(p)
        elif isinstance(cur, list) and isinstance(p, int) and -len(cur) <= p < len(cur):
            cur = cur[p]
        else:
            return default
        if cur is None:
            return default
    return cur


def _cond_status(obj, ctype):
    for c in _jp(obj, "status", "conditions", default=[]) or []:
        if isinstance(c, dict) and c.get("type") == ctype:
            return c.get("status")
    return None


def _svc_ports(o):
    ports = _jp(o, "spec", "ports", default=[]) or []
    out = []
    for p in ports:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += ":%s" % p["nodePort"]
        out.append("%s/%s" % (s, p.get("protocol", "TCP")))
    return ",".join(out) or "<none>"


def _selector_str(sel):
    if not sel:
        return "<none>"
    return ",".join("%s=%s" % kv for kv in sorted(sel.items()))


def _eps_endpoints(o):
    addrs = []
    for e in o.get("endpoints") or []:
        addrs.extend(e.get("addresses") or [])
    if not addrs:
        return "<unset>"
    s = ",".join(addrs[:3])
    if len(addrs) > 3:
        s += " + %d more..." % (len(addrs) - 3)
    return s


def _eps_ports(o):
    ports = [str(p.get("port")) for p in (o.get("ports") or []) if p.get("port") is not None]
    return ",".join(ports) if ports else "<unset>"


def _col(name, fn, ctype="string", priority=0, description=""):
    return (name, ctype, priority, description, fn)


NAME_COL = ("Name", "string", 0, "Name must be unique within a namespace.", None)
AGE_COL = ("Age", "date", 0, "CreationTimestamp is a timestamp representing the server "
           "time when this object was created.", None)


def default_httproute(obj):
    """The CRD defaults of gateway.networking.k8s.io/v1 HTTPRoute."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    for p in spec.get("parentRefs") or []:
        if isinstance(p, dict):
            p.setdefault("group", "gateway.networking.k8s.io")
            p.setdefault("kind", "Gateway")
    if "rules" not in spec:
        spec["rules"] = [{"matches": [{"path": {"type": "PathPrefix", "value": "/"}}]}]
    for r in spec.get("rules") or []:
        if not isinstance(r, dict):
            continue
        if "matches" not in r:
            r["matches"] = [{"path": {"type": "PathPrefix", "value": "/"}}]
        for m in r.get("matches") or []:
            if not isinstance(m, dict):
                continue
            if isinstance(m.get("path"), dict):
                m["path"].setdefault("type", "PathPrefix")
                m["path"].setdefault("value", "/")
            for h in m.get("headers") or []:
                if isinstance(h, dict):
                    h.setdefault("type", "Exact")
            for q in m.get("queryParams") or []:
                if isinstance(q, dict):
                    q.setdefault("type", "Exact")
        for b in r.get("backendRefs") or []:
            if isinstance(b, dict):
                b.setdefault("group", "")
                b.setdefault("kind", "Service")
                b.setdefault("weight", 1)


def default_namespace(obj):
    """The API server labels every Namespace with its own name."""
    md = obj.setdefault("metadata", {})
    labels = md.get("labels")
    if not isinstance(labels, dict):
        labels = md["labels"] = {}
    if md.get("name"):
        labels.setdefault("kubernetes.io/metadata.name", md["name"])


class _IPAllocator:
    def __init__(self):
        self.next = 10

    def allocate(self):
        n = self.next
        self.next += 1
        return "10.96.%d.%d" % (n // 250, n % 250 + 1)


def default_service(obj, allocator=None):
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    spec.setdefault("sessionAffinity", "None")
    for p in spec.get("ports") or []:
        if isinstance(p, dict):
            p.setdefault("protocol", "TCP")
            if "port" in p:
                p.setdefault("targetPort", p["port"])
    if spec.get("type") != "ExternalName":
        if not spec.get("clusterIP") and allocator is not None:
            spec["clusterIP"] = allocator.allocate()
        if spec.get("clusterIP") and "clusterIPs" not in spec:
            spec["clusterIPs"] = [spec["clusterIP"]]
        spec.setdefault("ipFamilies", ["IPv6" if ":" in spec.get("clusterIP", "") else "IPv4"])
        spec.setdefault("ipFamilyPolicy", "SingleStack")
        spec.setdefault("internalTrafficPolicy", "Cluster")


class ResourceType:
    def __init__(self, group, version, plural, singular, kind, namespaced, short_names=(),
                 categories=(), builtin=False, status_subresource=True, has_generation=True,
                 columns=(), defaulter=None, empty_status=None):
        self.group = group
        self.version = version
        self.plural = plural
        self.singular = singular
        self.kind = kind
        self.namespaced = namespaced
        self.short_names = list(short_names)
        self.categories = list(categories)
        self.builtin = builtin
        self.status_subresource = status_subresource
        self.has_generation = has_generation
        self.columns = [NAME_COL] + list(columns)
        self.defaulter = defaulter
        self.empty_status = empty_status  # status set on REST create (None: dropped)

    @property
    def api_version(self):
        return "%s/%s" % (self.group, self.version) if self.group else self.version

    @property
    def group_version(self):
        return self.api_version

    @property
    def group_resource(self):
        return "%s.%s" % (self.plural, self.group) if self.group else self.plural

    @property
    def key(self):
        return (self.group, self.plural)

    def details(self, name=None):
        d = {}
        if name:
            d["name"] = name
        if self.group:
            d["group"] = self.group
        d["kind"] = self.plural
        return d

    def discovery(self):
        out = [{
            "name": self.plural, "singularName": self.singular, "namespaced": self.namespaced,
            "kind": self.kind, "verbs": list(ALL_VERBS)}]
        if self.short_names:
            out[0]["shortNames"] = list(self.short_names)
        if self.categories:
            out[0]["categories"] = list(self.categories)
        if self.status_subresource:
            out.append({"name": self.plural + "/status", "singularName": "",
                        "namespaced": self.namespaced, "kind": self.kind,
                        "verbs": ["get", "patch", "update"]})
        return out


def _route_hostnames(o):
    h = _jp(o, "spec", "hostnames")
    return json.dumps(h, separators=(",", ":")) if h else None


RESOURCE_TYPES = [
    ResourceType("", "v1", "services", "service", "Service", True, ["svc"], ["all"],
                 builtin=True, has_generation=False, empty_status={"loadBalancer": {}},
                 defaulter="service", columns=[
                     _col("Type", lambda o: _jp(o, "spec", "type", default="")),
                     _col("Cluster-IP", lambda o: _jp(o, "spec", "clusterIP", default="<none>")),
                     _col("External-IP", lambda o: ",".join(
                         i.get("ip") or i.get("hostname") or ""
                         for i in _jp(o, "status", "loadBalancer", "ingress", default=[]))
                         or "<none>"),
                     _col("Port(s)", _svc_ports),
                     AGE_COL,
                     _col("Selector", lambda o: _selector_str(_jp(o, "spec", "selector")),
                          priority=1)]),
    ResourceType("discovery.k8s.io", "v1", "endpointslices", "endpointslice", "EndpointSlice",
                 True, builtin=True, status_subresource=False, columns=[
                     _col("AddressType", lambda o: o.get("addressType", "")),
                     _col("Ports", _eps_ports),
                     _col("Endpoints", _eps_endpoints),
                     AGE_COL]),
    ResourceType("gateway.networking.k8s.io", "v1", "httproutes", "httproute", "HTTPRoute",
                 True, categories=["gateway-api"], defaulter=default_httproute, columns=[
                     _col("Hostnames", _route_hostnames),
                     AGE_COL]),
    ResourceType("gateway.networking.k8s.io", "v1", "gateways", "gateway", "Gateway", True,
                 ["gtw"], ["gateway-api"], columns=[
                     _col("Class", lambda o: _jp(o, "spec", "gatewayClassName")),
                     _col("Address", lambda o: _jp(o, "status", "addresses", 0, "value")),
                     _col("Programmed", lambda o: _cond_status(o, "Programmed")),
                     AGE_COL]),
    ResourceType("gateway.networking.k8s.io", "v1", "gatewayclasses", "gatewayclass",
                 "GatewayClass", False, ["gc"], ["gateway-api"], columns=[
                     _col("Controller", lambda o: _jp(o, "spec", "controllerName")),
                     _col("Accepted", lambda o: _cond_status(o, "Accepted")),
                     AGE_COL,
                     _col("Description", lambda o: _jp(o, "spec", "description"),
                          priority=1)]),
    ResourceType("gateway.networking.k8s.io", "v1", "grpcroutes", "grpcroute", "GRPCRoute",
                 True, categories=["gateway-api"], columns=[
                     _col("Hostnames", _route_hostnames),
                     AGE_COL]),
    ResourceType("gateway.networking.k8s.io", "v1alpha2", "tcproutes", "tcproute", "TCPRoute",
                 True, categories=["gateway-api"], columns=[AGE_COL]),
    ResourceType("gateway.networking.k8s.io", "v1alpha2", "tlsroutes", "tlsroute", "TLSRoute",
                 True, categories=["gateway-api"], columns=[
                     _col("Hostnames", _route_hostnames),
                     AGE_COL]),
    ResourceType("gateway.networking.k8s.io", "v1beta1", "referencegrants", "referencegrant",
                 "ReferenceGrant", True, ["refgrant"], ["gateway-api"], status_subresource=False,
                 columns=[AGE_COL]),
    ResourceType("", "v1", "namespaces", "namespace", "Namespace", False, ["ns"],
                 builtin=True, has_generation=False, empty_status={"phase": "Active"},
                 defaulter=default_namespace, columns=[
                     _col("Status", lambda o: _jp(o, "status", "phase", default="Active")),
                     AGE_COL]),
    ResourceType("argoproj.io", "v1alpha1", "rollouts", "rollout", "Rollout", True, ["ro"],
                 columns=[
                     _col("Desired", lambda o: _jp(o, "spec", "replicas"), "integer"),
                     _col("Current", lambda o: _jp(o, "status", "replicas"), "integer"),
                     _col("Up-to-date", lambda o: _jp(o, "status", "updatedReplicas"),
                          "integer"),
                     _col("Available", lambda o: _jp(o, "status", "availableReplicas"),
                          "integer"),
                     AGE_COL]),
]


def group_versions():
    """[(group, version)] in a stable order, core first."""
    seen = []
    for rt in RESOURCE_TYPES:
        gv = (rt.group, rt.version)
        if gv not in seen:
            seen.append(gv)
    return seen


def find_type(name):
    """A ResourceType by kind, plural, singular, short name or plural.group."""
    if isinstance(name, ResourceType):
        return name
    n = str(name).lower()
    for rt in RESOURCE_TYPES:
        if n in (rt.kind.lower(), rt.plural, rt.singular, rt.group_resource) or \
                n in rt.short_names:
            return rt
    raise KeyError("unknown resource type %r" % (name,))


def type_for_object(obj):
    api_version = obj.get("apiVersion", "")
    kind = obj.get("kind", "")
    for rt in RESOURCE_TYPES:
        if rt.kind == kind and rt.api_version == api_version:
            return rt
    raise ApiError(400, "BadRequest", "no kind %r is registered for version %r" %
                   (kind, api_version))


def type_for_path(group, version, plural):
    for rt in RESOURCE_TYPES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


# --------------------------------------------------------------------------
# selectors

def _split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(s):
    """Requirements [(key, op, values)]; equality- and set-based forms."""
    reqs = []
    if not s:
        return reqs
    for term in _split_top(s):
        low = term
        if low.startswith("!"):
            reqs.append((low[1:].strip(), "!", ()))
            continue
        for op in (" notin ", " in "):
            if op in low:
                k, rest = low.split(op, 1)
                rest = rest.strip()
                if not (rest.startswith("(") and rest.endswith(")")):
                    raise ApiError(400, "BadRequest",
                                   "unable to parse requirement: %s" % term)
                vals = tuple(v.strip() for v in rest[1:-1].split(",") if v.strip())
                reqs.append((k.strip(), op.strip(), vals))
                break
        else:
            if "!=" in low:
                k, v = low.split("!=", 1)
                reqs.append((k.strip(), "!=", (v.strip(),)))
            elif "==" in low:
                k, v = low.split("==", 1)
                reqs.append((k.strip(), "=", (v.strip(),)))
            elif "=" in low:
                k, v = low.split("=", 1)
                reqs.append((k.strip(), "=", (v.strip(),)))
            else:
                reqs.append((low.strip(), "exists", ()))
    for k, _, _ in reqs:
        if not k or any(c in k for c in " ()!="):
            raise ApiError(400, "BadRequest", "unable to parse requirement: invalid label "
                           "key %r" % k)
    return reqs


def labels_match(reqs, labels):
    labels = labels or {}
    for k, op, vals in reqs:
        if op == "=" and labels.get(k) != vals[0]:
            return False
        if op == "!=" and k in labels and labels[k] == vals[0]:
            return False
        if op == "in" and labels.get(k) not in vals:
            return False
        if op == "notin" and k in labels and labels[k] in vals:
            return False
        if op == "exists" and k not in labels:
            return False
        if op == "!" and k in labels:
            return False
    return True


def parse_field_selector(s):
    reqs = []
    if not s:
        return reqs
    for term in _split_top(s):
        if "!=" in term:
            k, v, op = *term.split("!=", 1), "!="
        elif "==" in term:
            k, v, op = *term.split("==", 1), "="
        elif "=" in term:
            k, v, op = *term.split("=", 1), "="
        else:
            raise ApiError(400, "BadRequest", "invalid selector: '%s'; can't understand "
                           "'%s'" % (s, term))
        k = k.strip()
        if k not in ("metadata.name", "metadata.namespace"):
            raise ApiError(400, "BadRequest", "field label not supported: %s" % k)
        reqs.append((k, op, v.strip()))
    return reqs


def fields_match(reqs, obj):
    md = obj.get("metadata", {})
    for k, op, v in reqs:
        actual = md.get("name" if k == "metadata.name" else "namespace", "")
        if (actual == v) != (op == "="):
            return False
    return True


def field_selector_name(reqs):
    for k, op, v in reqs:
        if k == "metadata.name" and op == "=":
            return v
    return ""


# --------------------------------------------------------------------------
# patches

def merge_patch(target, patch):
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for k, v in patch.items():
        if v is None:
            result.pop(k, None)
        else:
            result[k] = merge_patch(result.get(k), v)
    return result


def strip_smp_directives(patch):
    """Strategic merge patch treated as merge patch: drop the $-directives."""
    if isinstance(patch, dict):
        return {k: strip_smp_directives(v) for k, v in patch.items()
                if not k.startswith("$")}
    if isinstance(patch, list):
        return [strip_smp_directives(v) for v in patch]
    return patch


def _pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(422, "Invalid", "invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _resolve(doc, tokens):
    cur = doc
    for t in tokens:
        if isinstance(cur, dict) and t in cur:
            cur = cur[t]
        elif isinstance(cur, list) and t.isdigit() and int(t) < len(cur):
            cur = cur[int(t)]
        else:
            raise ApiError(422, "Invalid", "the server rejected our request due to an "
                           "error in our request: path %r not found" % ("/" + "/".join(tokens)))
    return cur


def json_patch(doc, ops):
    """RFC 6902 JSON patch."""
    if not isinstance(ops, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def add(doc, tokens, value):
        if not tokens:
            return value
        parent = _resolve(doc, tokens[:-1])
        last = tokens[-1]
        if isinstance(parent, dict):
            parent[last] = value
        elif isinstance(parent, list):
            if last == "-":
                parent.append(value)
            elif last.isdigit() and int(last) <= len(parent):
                parent.insert(int(last), value)
            else:
                raise ApiError(422, "Invalid", "invalid array index %r" % last)
        else:
            raise ApiError(422, "Invalid", "cannot add to a scalar")
        return doc

    def remove(doc, tokens):
        parent = _resolve(doc, tokens[:-1])
        last = tokens[-1]
        if isinstance(parent, dict) and last in parent:
            return parent.pop(last)
        if isinstance(parent, list) and last.isdigit() and int(last) < len(parent):
            return parent.pop(int(last))
        raise ApiError(422, "Invalid", "path %r not found" % ("/" + "/".join(tokens)))

    for op in ops:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise ApiError(400, "BadRequest", "invalid json patch operation %r" % (op,))
        kind = op["op"]
        tokens = _pointer(op["path"])
        if kind == "add":
            doc = add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            remove(doc, tokens)
        elif kind == "replace":
            _resolve(doc, tokens)
            if tokens:
                remove(doc, tokens)
            doc = add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind in ("move", "copy"):
            src = _pointer(op.get("from", ""))
            value = copy.deepcopy(_resolve(doc, src))
            if kind == "move":
                remove(doc, src)
            doc = add(doc, tokens, value)
        elif kind == "test":
            if _resolve(doc, tokens) != op.get("value"):
                raise ApiError(422, "Invalid", "the server rejected our request due to an "
                               "error in our request: testing value %s failed" % op["path"])
        else:
            raise ApiError(400, "BadRequest", "unsupported json patch operation %r" % kind)
    return doc


# --------------------------------------------------------------------------
# RBAC

class Rbac:
    """Rules of one or more ClusterRoles, evaluated like the RBAC authorizer."""

    def __init__(self, rules):
        self.rules = rules

    @classmethod
    def load(cls, source):
        """source: a file path, a ClusterRole dict, or a list of object dicts."""
        if isinstance(source, (str, os.PathLike)):
            docs = load_documents(source)
        elif isinstance(source, dict):
            docs = expand_list(source)
        else:
            docs = []
            for d in source:
                docs.extend(expand_list(d))
        rules = []
        found = False
        for d in docs:
            if d.get("kind") == "ClusterRole":
                found = True
                rules.extend(r for r in d.get("rules") or [] if isinstance(r, dict))
        if not found:
            raise ValueError("no ClusterRole in %s" % (source,))
        return cls(rules)

    @staticmethod
    def _has(values, want):
        values = values or []
        return "*" in values or want in values

    def allows(self, attrs):
        for r in self.rules:
            if not self._has(r.get("verbs"), attrs["verb"]):
                continue
            if attrs["resource_request"]:
                if not self._has(r.get("apiGroups"), attrs["group"]):
                    continue
                res = attrs["resource"]
                sub = attrs.get("subresource") or ""
                combined = res + "/" + sub if sub else res
                resources = r.get("resources") or []
                if not ("*" in resources or combined in resources or
                        (sub and "*/" + sub in resources)):
                    continue
                names = r.get("resourceNames") or []
                if names and attrs.get("name") not in names:
                    continue
                return True
            for u in r.get("nonResourceURLs") or []:
                if u == "*" or u == attrs["path"] or (
                        u.endswith("*") and attrs["path"].startswith(u[:-1])):
                    return True
        return False


def discovery_path(path):
    """Non-resource paths every authenticated user may GET (the default
    system:discovery and system:public-info-viewer bindings)."""
    return path in ("/api", "/apis", "/openapi", "/version", "/healthz", "/livez", "/readyz") \
        or path.startswith(("/api/", "/apis/", "/openapi/"))


# --------------------------------------------------------------------------
# storage

Event = collections.namedtuple("Event", "rv type obj old")


def object_key(rt, ns, name):
    return "%s/%s" % (ns, name) if rt.namespaced else name


def spec_part(rt, obj):
    """What a generation bump looks at: everything but metadata (and status)."""
    skip = {"metadata", "apiVersion", "kind"}
    if rt.status_subresource:
        skip.add("status")
    return {k: v for k, v in obj.items() if k not in skip}


class Store:
    """All objects, one global resourceVersion counter, bounded event history.

    Stored objects are never mutated in place: every change stores a new
    dict, so readers may keep references (list snapshots do)."""

    def __init__(self, initial_rv=1000, history_size=1000, defaulting=True,
                 max_snapshots=64):
        self.cond = threading.Condition(threading.RLock())
        self.rv = int(initial_rv)
        self.history_size = int(history_size)
        self.defaulting = defaulting
        self.objects = {rt.key: {} for rt in RESOURCE_TYPES}
        self.history = {rt.key: collections.deque() for rt in RESOURCE_TYPES}
        self.horizon = {rt.key: self.rv for rt in RESOURCE_TYPES}
        self.snapshots = collections.OrderedDict()
        self.max_snapshots = max_snapshots
        self.ips = _IPAllocator()

    # -- internals (call with the lock held)

    def _next_rv(self):
        self.rv += 1
        return self.rv

    def _record(self, rt, etype, obj, old=None):
        h = self.history[rt.key]
        h.append(Event(int(obj["metadata"]["resourceVersion"]), etype, obj, old))
        while len(h) > self.history_size:
            gone = h.popleft()
            self.horizon[rt.key] = gone.rv
        self.cond.notify_all()

    def _default(self, rt, obj):
        if not self.defaulting:
            return
        if rt.defaulter == "service":
            default_service(obj, self.ips)
        elif rt.defaulter:
            rt.defaulter(obj)

    def _not_found(self, rt, name):
        return ApiError(404, "NotFound", '%s "%s" not found' % (rt.group_resource, name),
                        rt.details(name))

    def _conflict(self, rt, name):
        return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the '
                        'object has been modified; please apply your changes to the latest '
                        'version and try again' % (rt.group_resource, name),
                        rt.details(name))

    # -- reads

    def current_rv(self):
        with self.cond:
            return self.rv

    def get(self, rt, ns, name):
        with self.cond:
            obj = self.objects[rt.key].get(object_key(rt, ns, name))
            if obj is None:
                raise self._not_found(rt, name)
            return obj

    def snapshot(self, rt):
        """(rv, {key: obj}) of one type now."""
        with self.cond:
            return self.rv, dict(self.objects[rt.key])

    def keep_snapshot(self, rt, rv, objs):
        with self.cond:
            self.snapshots[(rt.key, rv)] = objs
            self.snapshots.move_to_end((rt.key, rv))
            while len(self.snapshots) > self.max_snapshots:
                self.snapshots.popitem(last=False)

    def find_snapshot(self, rt, rv):
        with self.cond:
            return self.snapshots.get((rt.key, rv))

    # -- writes

    def create(self, rt, obj, namespace=None, rest=True):
        """Store a new object.  rest=True applies the API server's create rules
        (fresh uid/creationTimestamp/generation, status reset); rest=False keeps
        what the caller gave (fixtures)."""
        obj = copy.deepcopy(obj)
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        obj["apiVersion"] = rt.api_version
        obj["kind"] = rt.kind
        if rt.namespaced:
            ns = md.get("namespace") or namespace or "default"
            if namespace and md.get("namespace") and md["namespace"] != namespace:
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
            ns = ""
        with self.cond:
            if rest and md.get("resourceVersion"):
                raise ApiError(500, "InternalError", "Internal error occurred: resourceVersion "
                               "should not be set on objects to be created")
            if not md.get("name"):
                if md.get("generateName"):
                    for _ in range(20):
                        md["name"] = md["generateName"] + random_suffix()
                        if object_key(rt, ns, md["name"]) not in self.objects[rt.key]:
                            break
                else:
                    raise ApiError(422, "Invalid", "%s.%s \"\" is invalid: metadata.name: "
                                   "Required value: name or generateName is required" %
                                   (rt.kind, rt.group) if rt.group else
                                   "%s \"\" is invalid: metadata.name: Required value: name "
                                   "or generateName is required" % rt.kind,
                                   dict(rt.details(), causes=[{
                                       "reason": "FieldValueRequired",
                                       "message": "Required value: name or generateName is "
                                                  "required",
                                       "field": "metadata.name"}]))
            key = object_key(rt, ns, md["name"])
            if key in self.objects[rt.key]:
                raise ApiError(409, "AlreadyExists", '%s "%s" already exists' %
                               (rt.group_resource, md["name"]), rt.details(md["name"]))
            if rest or not md.get("uid"):
                md["uid"] = str(uuid.uuid4())
            if rest or not md.get("creationTimestamp"):
                md["creationTimestamp"] = now_rfc3339()
            if rt.has_generation:
                if rest or not isinstance(md.get("generation"), int):
                    md["generation"] = 1
            else:
                md.pop("generation", None)
            if rest and rt.status_subresource:
                if rt.empty_status is not None:
                    obj["status"] = copy.deepcopy(rt.empty_status)
                else:
                    obj.pop("status", None)
            self._default(rt, obj)
            md["resourceVersion"] = str(self._next_rv())
            obj = _ordered(obj)
            self.objects[rt.key][key] = obj
            self._record(rt, "ADDED", obj)
            return obj

    def update(self, rt, ns, name, new, subresource=None, require_rv=None,
               keep_status=True, mutate=None, keep_generation=False):
        """Replace an object (PUT semantics).  mutate(current) -> new may be
        given instead of new to compute the change under the lock (patches)."""
        with self.cond:
            key = object_key(rt, ns, name)
            cur = self.objects[rt.key].get(key)
            if cur is None:
                raise self._not_found(rt, name)
            if mutate is not None:
                new = mutate(copy.deepcopy(cur))
            if not isinstance(new, dict):
                raise ApiError(400, "BadRequest", "the object to update must be a JSON object")
            new = copy.deepcopy(new)
            md = new.get("metadata")
            if not isinstance(md, dict):
                md = new["metadata"] = {}
            if md.get("name") not in (None, name):
                raise ApiError(400, "BadRequest", "the name of the object (%s) does not match "
                               "the name on the URL (%s)" % (md.get("name"), name))
            if rt.namespaced and md.get("namespace") not in (None, "", ns):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
            if new.get("kind") not in (None, rt.kind) or \
                    new.get("apiVersion") not in (None, rt.api_version):
                raise ApiError(400, "BadRequest", "the API version in the data (%s) does not "
                               "match the expected API version (%s)" %
                               (new.get("apiVersion"), rt.api_version))
            given_rv = md.get("resourceVersion")
            if given_rv:
                if str(given_rv) != cur["metadata"]["resourceVersion"]:
                    raise self._conflict(rt, name)
            elif require_rv:
                raise ApiError(422, "Invalid", '%s.%s "%s" is invalid: metadata.resourceVersion:'
                               ' Invalid value: 0x0: must be specified for an update' %
                               (rt.kind, rt.group, name),
                               dict(rt.details(name), causes=[{
                                   "reason": "FieldValueInvalid",
                                   "message": "Invalid value: 0x0: must be specified for an "
                                              "update",
                                   "field": "metadata.resourceVersion"}]))
            old_md = cur["metadata"]
            if subresource == "status":
                result = copy.deepcopy(cur)
                if "status" in new:
                    result["status"] = new["status"]
                else:
                    result.pop("status", None)
            else:
                result = new
                result["apiVersion"] = rt.api_version
                result["kind"] = rt.kind
                if rt.status_subresource and keep_status:
                    if "status" in cur:
                        result["status"] = copy.deepcopy(cur["status"])
                    else:
                        result.pop("status", None)
                for f in ("uid", "creationTimestamp", "deletionTimestamp"):
                    if f in old_md:
                        md[f] = old_md[f]
                    else:
                        md.pop(f, None)
                md["name"] = name
                if rt.namespaced:
                    md["namespace"] = ns
                else:
                    md.pop("namespace", None)
                self._default(rt, result)
            rmd = result["metadata"]
            if rt.has_generation:
                gen = old_md.get("generation", 1)
                if keep_generation and isinstance(rmd.get("generation"), int):
                    gen = rmd["generation"]
                elif spec_part(rt, result) != spec_part(rt, cur):
                    gen += 1
                rmd["generation"] = gen
            else:
                rmd.pop("generation", None)
            rmd["resourceVersion"] = old_md["resourceVersion"]
            result = _ordered(result)
            if result == cur:
                return cur  # no-op: no new resourceVersion, no event
            rmd["resourceVersion"] = str(self._next_rv())
            self.objects[rt.key][key] = result
            self._record(rt, "MODIFIED", result, cur)
            return result

    def delete(self, rt, ns, name, precondition_rv=None, precondition_uid=None):
        with self.cond:
            key = object_key(rt, ns, name)
            cur = self.objects[rt.key].get(key)
            if cur is None:
                raise self._not_found(rt, name)
            if precondition_uid and precondition_uid != cur["metadata"].get("uid"):
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": '
                               'Precondition failed: UID in precondition: %s, UID in object '
                               'meta: %s' % (rt.group_resource, name, precondition_uid,
                                             cur["metadata"].get("uid")), rt.details(name))
            if precondition_rv and str(precondition_rv) != cur["metadata"]["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": '
                               'Precondition failed: ResourceVersion in precondition: %s, '
                               'ResourceVersion in object meta: %s' %
                               (rt.group_resource, name, precondition_rv,
                                cur["metadata"]["resourceVersion"]), rt.details(name))
            del self.objects[rt.key][key]
            gone = copy.deepcopy(cur)
            gone["metadata"]["resourceVersion"] = str(self._next_rv())
            self._record(rt, "DELETED", gone, cur)
            return gone

    def compact(self):
        """Forget all history: watches and continue tokens from any older
        resourceVersion now get 410 Expired."""
        with self.cond:
            for k in self.history:
                self.history[k].clear()
                self.horizon[k] = self.rv
            self.snapshots.clear()
            self.cond.notify_all()
            return self.rv

    def events_after(self, rt, cursor):
        """Events of rt with rv > cursor, and the rv they bring a watcher to.
        Raises ApiError 410 if history no longer reaches back to cursor."""
        with self.cond:
            if cursor < self.horizon[rt.key]:
                raise ApiError(410, "Expired", "too old resource version: %d (%d)" %
                               (cursor, self.horizon[rt.key] + 1))
            evs = [e for e in self.history[rt.key] if e.rv > cursor]
            return evs, self.rv


_TOP_ORDER = ("kind", "apiVersion", "metadata")


def _ordered(obj):
    out = {k: obj[k] for k in _TOP_ORDER if k in obj}
    out.update((k, v) for k, v in obj.items() if k not in out)
    return out


# --------------------------------------------------------------------------
# serialisation

def to_json(rt, obj):
    """Built-in types in struct order; CRDs as unstructured maps (sorted keys)."""
    if rt is not None and not rt.builtin:
        return json.dumps(obj, sort_keys=True, separators=(",", ":"))
    return json.dumps(obj, separators=(",", ":"))


def accept_table(accept):
    """meta.k8s.io Table version requested by an Accept header, or None."""
    for part in (accept or "").split(","):
        fields = [f.strip() for f in part.split(";")]
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and \
                params.get("v") in ("v1", "v1beta1"):
            return params["v"]
        if fields[0] in ("application/json", "*/*", "application/*") and "as" not in params:
            return None
    return None


def acceptable(accept):
    if not accept:
        return True
    for part in accept.split(","):
        mt = part.split(";")[0].strip().lower()
        if mt in ("application/json", "*/*", "application/*", "application/yaml") or \
                mt.endswith("+json"):
            return True
    return False


def make_table(rt, objs, version, include_object, list_md=None, columns_too=True):
    table = {"kind": "Table", "apiVersion": "meta.k8s.io/" + version,
             "metadata": dict(list_md or {})}
    if columns_too:
        defs = []
        for name, ctype, prio, desc, _ in rt.columns:
            d = {"name": name, "type": ctype, "format": "name" if name == "Name" else "",
                 "description": desc, "priority": prio}
            defs.append(d)
        table["columnDefinitions"] = defs
    rows = []
    for o in objs:
        cells = []
        for name, _, _, _, fn in rt.columns:
            if name == "Name":
                cells.append(o["metadata"].get("name"))
            elif name == "Age":
                cells.append(age_of(o))
            else:
                try:
                    cells.append(fn(o))
                except Exception:  # a printer column never fails a request
                    cells.append(None)
        row = {"cells": cells}
        if include_object == "Object":
            row["object"] = o
        elif include_object != "None":
            row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                             "metadata": o["metadata"]}
        rows.append(row)
    table["rows"] = rows
    return table


# --------------------------------------------------------------------------
# certificates and kubeconfig

def _run_openssl(args, cwd):
    exe = shutil.which("openssl") or "/usr/bin/openssl"
    p = subprocess.run([exe] + args, cwd=cwd, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), p.stderr.strip()))


def generate_certs(state_dir, sans=()):
    """CA (kept if already in state_dir) and a fresh server certificate.
    Returns (ca_path, cert_path, key_path)."""
    ca_crt = os.path.join(state_dir, "ca.crt")
    ca_key = os.path.join(state_dir, "ca.key")
    if not (os.path.exists(ca_crt) and os.path.exists(ca_key)):
        _run_openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt",
                      "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", "ca.key",
                      "-out", "ca.crt", "-days", "3650", "-subj", "/CN=bpfsplit-test-ca",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign"], state_dir)
    names = ["IP:127.0.0.1", "IP:::1", "DNS:localhost"]
    for s in sans:
        try:
            entry = "IP:%s" % ipaddress.ip_address(s)
        except ValueError:
            entry = "DNS:%s" % s
        if entry not in names:
            names.append(entry)
    ext = os.path.join(state_dir, "server.ext")
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\n"
                "keyUsage=critical,digitalSignature,keyEncipherment\n"
                "extendedKeyUsage=serverAuth\n"
                "subjectAltName=%s\n" % ",".join(names))
    _run_openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                  "-nodes", "-keyout", "server.key", "-out", "server.csr",
                  "-subj", "/CN=kube-apiserver"], state_dir)
    _run_openssl(["x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
                  "-CAcreateserial", "-out", "server.crt", "-days", "365", "-extfile",
                  "server.ext"], state_dir)
    for f in ("ca.key", "server.key"):
        os.chmod(os.path.join(state_dir, f), 0o600)
    return ca_crt, os.path.join(state_dir, "server.crt"), os.path.join(state_dir, "server.key")


def kubeconfig_text(server, ca_path, token=None, token_file=None, embed_ca=True,
                    namespace="default", name="bpfsplit-test"):
    if embed_ca:
        with open(ca_path, "rb") as f:
            ca_line = "certificate-authority-data: %s" % base64.b64encode(f.read()).decode()
    else:
        ca_line = "certificate-authority: %s" % json.dumps(ca_path)
    user_line = ("tokenFile: %s" % json.dumps(token_file)) if token_file else \
        ("token: %s" % json.dumps(token or ""))
    return ("apiVersion: v1\n"
            "kind: Config\n"
            "clusters:\n"
            "- name: %(n)s\n"
            "  cluster:\n"
            "    server: %(server)s\n"
            "    %(ca)s\n"
            "users:\n"
            "- name: %(n)s\n"
            "  user:\n"
            "    %(user)s\n"
            "contexts:\n"
            "- name: %(n)s\n"
            "  context:\n"
            "    cluster: %(n)s\n"
            "    user: %(n)s\n"
            "    namespace: %(ns)s\n"
            "current-context: %(n)s\n" % {"n": name, "server": server, "ca": ca_line,
                                           "user": user_line, "ns": namespace})


# --------------------------------------------------------------------------
# HTTP

class _Stop(Exception):
    """The connection must be dropped (pause/stop)."""


class _HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, addr, handler, fake, tls):
        self.address_family = socket.AF_INET6 if ":" in addr[0] else socket.AF_INET
        self.fake = fake
        self.tls = tls
        super().__init__(addr, handler)

    def server_bind(self):
        # HTTPServer.server_bind would resolve the host name (getfqdn): skip it.
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        socketserver.TCPServer.server_bind(self)
        self.server_name = self.server_address[0]
        self.server_port = self.server_address[1]

    def process_request(self, request, client_address):
        mode = self.fake._pause_mode if self.tls else None
        if mode == "close":
            _hard_close(request)
            return
        super().process_request(request, client_address)

    def finish_request(self, request, client_address):
        fake = self.fake
        # As kube-apiserver (Go sets TCP_NODELAY on every connection): without it a
        # response's body, written after its headers, or a watch event written while the
        # previous one is unacknowledged, waits for the client's delayed ACK (40 ms).
        try:
            request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        if self.tls and fake._pause_mode == "hang":
            fake._hold(request)
            return
        conn = request
        if self.tls:
            try:
                request.settimeout(10)
                conn = fake._ssl_ctx.wrap_socket(request, server_side=True)
                conn.settimeout(fake.idle_timeout)
            except (OSError, ssl.SSLError, ValueError):
                _hard_close(request)
                return
            fake._track(conn, True)
        try:
            self.RequestHandlerClass(conn, client_address, self)
        except (OSError, ssl.SSLError, _Stop):
            pass
        finally:
            if self.tls:
                fake._track(conn, False)
                try:
                    conn.close()
                except OSError:
                    pass

    def handle_error(self, request, client_address):
        if self.fake.verbose:
            super().handle_error(request, client_address)


def _hard_close(sock):
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass


class _BaseHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bpfsplit-fake-apiserver"
    sys_version = ""

    def log_message(self, fmt, *args):
        pass

    def _read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            data = b""
            while True:
                line = self.rfile.readline()
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return data
                data += self.rfile.read(size)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _send(self, code, body, ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-cache, private")
        for k, v in (headers or {}).items():
            self.send_header(k, str(v))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        self._status = code


class _ApiHandler(_BaseHandler):
    """One connection of the API server."""

    def do_GET(self):
        self._dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

    # -- plumbing

    def _json(self, code, obj, rt=None, headers=None):
        self._send(code, to_json(rt, obj) + "\n", headers=headers)

    def _error(self, err):
        h = dict(err.headers)
        self._json(err.code, err.body(), headers=h)

    def _dispatch(self):
        fake = self.server.fake
        self._status = 0
        self._watch_events = None
        start = time.monotonic()
        url = urllib.parse.urlsplit(self.path)
        path = url.path.rstrip("/") or "/"
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query,
                                                            keep_blank_values=True).items()}
        body = b""
        try:
            body = self._read_body()
            if fake._pause_mode:
                if fake._pause_mode == "hang":
                    fake._resume_event.wait()
                raise _Stop()
            self._user = self._authenticate(path)
            fault = fake._take_fault(self.command, path)
            if fault is not None:
                raise fault
            self._route(path, query, body)
        except ApiError as e:
            self._error(e)
        except _Stop:
            self.close_connection = True
            raise
        except OSError:  # the client went away (ssl.SSLError is an OSError)
            self.close_connection = True
        except Exception as e:  # a bug here must still answer like a server
            if fake.verbose:
                import traceback
                traceback.print_exc()
            try:
                self._error(ApiError(500, "InternalError", "Internal error occurred: %s" % e))
            except OSError:
                self.close_connection = True
        finally:
            fake._log_request(self, path, url.query, body, time.monotonic() - start)

    def _authenticate(self, path):
        fake = self.server.fake
        auth = self.headers.get("Authorization")
        if auth is None and path in PUBLIC_PATHS:
            return "system:anonymous"
        tokens = fake._valid_tokens()
        if auth and auth.startswith("Bearer "):
            given = auth[len("Bearer "):].strip().encode()
            for t in tokens:
                if hmac.compare_digest(given, t.encode()):
                    return fake.user
        raise ApiError(401, "Unauthorized", "Unauthorized")

    def _authorize(self, attrs):
        fake = self.server.fake
        if self._user == "system:anonymous":
            return  # only PUBLIC_PATHS get here without a token
        if not attrs["resource_request"] and attrs["verb"] == "get" and \
                discovery_path(attrs["path"]):
            return
        if fake.rbac is None or fake.rbac.allows(attrs):
            return
        self._forbid(attrs, self._user)

    def _forbid(self, attrs, user):
        if not attrs["resource_request"]:
            raise ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"' %
                           (user, attrs["verb"], attrs["path"]), {})
        rt = attrs["rt"]
        res = attrs["resource"] + ("/" + attrs["subresource"] if attrs["subresource"] else "")
        if attrs["namespace"]:
            why = 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
                user, attrs["verb"], res, attrs["group"], attrs["namespace"])
        else:
            why = 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
                user, attrs["verb"], res, attrs["group"])
        name = attrs.get("url_name") or ""
        if name:
            msg = '%s "%s" is forbidden: %s' % (rt.group_resource, name, why)
        else:
            msg = "%s is forbidden: %s" % (rt.group_resource, why)
        raise ApiError(403, "Forbidden", msg, rt.details(name or None))

    # -- routing

    def _route(self, path, query, body):
        fake = self.server.fake
        parts = [urllib.parse.unquote(p) for p in path.split("/") if p]
        method = self.command
        if method == "HEAD":
            method = "GET"
        nonres = {"resource_request": False, "verb": method.lower(), "path": path}
        if not parts or parts[0] not in ("api", "apis"):
            self._authorize(nonres)
            return self._non_resource(path)
        if parts[0] == "api":
            if len(parts) == 1:
                self._authorize(nonres)
                return self._json(200, {"kind": "APIVersions", "versions": ["v1"],
                                        "serverAddressByClientCIDRs": [{
                                            "clientCIDR": "0.0.0.0/0",
                                            "serverAddress": fake.host_port}]})
            group, version, rest = "", parts[1], parts[2:]
        else:
            if len(parts) == 1:
                self._authorize(nonres)
                return self._json(200, fake.api_group_list())
            if len(parts) == 2:
                self._authorize(nonres)
                g = fake.api_group(parts[1])
                if g is None:
                    raise ApiError(404, "NotFound", "the server could not find the requested "
                                   "resource", {})
                return self._json(200, g)
            group, version, rest = parts[1], parts[2], parts[3:]
        if (group, version) not in group_versions():
            self._authorize(self._unserved_attrs(group, rest, query, nonres))
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        if not rest:
            self._authorize(nonres)
            return self._json(200, fake.api_resource_list(group, version))
        watch_prefix = False
        if rest[0] == "watch":
            watch_prefix = True
            rest = rest[1:]
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns = rest[1]
            rest = rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        rt = type_for_path(group, version, rest[0])
        if rt is None or (ns and not rt.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and (sub != "status" or not rt.status_subresource):
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        if name and rt.namespaced and not ns:
            raise ApiError(404, "NotFound", "the server could not find the requested resource",
                           {})
        watch = watch_prefix or query.get("watch", "").lower() in ("1", "true")
        fsel = parse_field_selector(query.get("fieldSelector", ""))
        if method == "GET":
            if watch:
                verb = "watch"
            else:
                verb = "get" if name else "list"
        elif method == "POST":
            if name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this "
                               "method on the requested resource", rt.details(name))
            verb = "create"
        elif method == "PUT":
            verb = "update"
        elif method == "PATCH":
            verb = "patch"
        elif method == "DELETE":
            verb = "delete" if name else "deletecollection"
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                           "the requested resource", {})
        if verb in ("update", "patch") and not name:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                           "the requested resource", rt.details())
        if verb == "create" and rt.namespaced and not ns:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on "
                           "the requested resource", rt.details())
        authz_name = name or (field_selector_name(fsel) if verb in ("list", "watch") else "")
        self._authorize({"resource_request": True, "verb": verb, "group": group,
                         "resource": rt.plural, "subresource": sub, "name": authz_name,
                         "url_name": name, "namespace": ns, "path": path, "rt": rt})
        if not acceptable(self.headers.get("Accept")):
            raise ApiError(406, "NotAcceptable", "only the following media types are "
                           "accepted: application/json, application/yaml", {})
        store = fake.store
        if verb == "watch":
            if name:
                fsel = fsel + [("metadata.name", "=", name)]
            return self._watch(rt, ns, query, fsel)
        if verb == "list":
            return self._list(rt, ns, query, fsel)
        if verb == "get":
            obj = store.get(rt, ns, name)
            return self._reply_object(rt, obj)
        if verb == "deletecollection":
            return self._delete_collection(rt, ns, query, fsel)
        data = self._decode(body) if verb != "delete" or body else {}
        if verb == "create":
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "the body must be a JSON object")
            if data.get("kind") not in (None, rt.kind) or \
                    data.get("apiVersion") not in (None, rt.api_version):
                raise ApiError(400, "BadRequest", "the API version in the data (%s) does not "
                               "match the expected API version (%s)" %
                               (data.get("apiVersion"), rt.api_version))
            obj = store.create(rt, data, namespace=ns or None, rest=True)
            return self._reply_object(rt, obj, 201)
        if verb == "update":
            obj = store.update(rt, ns, name, data, subresource=sub or None,
                               require_rv=not rt.builtin)
            return self._reply_object(rt, obj)
        if verb == "patch":
            return self._patch(rt, ns, name, sub, data)
        if verb == "delete":
            pre = (data or {}).get("preconditions") or {} if isinstance(data, dict) else {}
            gone = store.delete(rt, ns, name, pre.get("resourceVersion"), pre.get("uid"))
            if rt.builtin:
                return self._json(200, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                        "status": "Success", "details": dict(
                                            rt.details(name), uid=gone["metadata"]["uid"])})
            return self._reply_object(rt, gone)
        raise ApiError(405, "MethodNotAllowed", "method not allowed", {})

    def _unserved_attrs(self, group, rest, query, nonres):
        """A request for a version the server does not serve: authorized as the resource
        request it is (RBAC does not look at versions), so a client trying versions in
        turn gets 404, not 403, when its role covers the resource."""
        if rest and rest[0] == "watch":
            rest = rest[1:]
        ns = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            ns, rest = rest[1], rest[2:]
        if not rest or self.command not in ("GET", "HEAD"):
            return nonres
        watch = query.get("watch", "").lower() in ("1", "true")
        verb = "watch" if watch else ("get" if len(rest) > 1 else "list")
        plural = rest[0]
        rt = ResourceType(group, "", plural, plural, plural, bool(ns))
        return {"resource_request": True, "verb": verb, "group": group, "resource": plural,
                "subresource": rest[2] if len(rest) > 2 else "", "name": rest[1] if len(rest) > 1 else "",
                "url_name": rest[1] if len(rest) > 1 else "", "namespace": ns, "path": nonres["path"],
                "rt": rt}

    def _decode(self, body):
        try:
            return json.loads(body.decode("utf-8")) if body else None
        except ValueError:
            if yaml is not None and "yaml" in (self.headers.get("Content-Type") or ""):
                try:
                    return yaml.safe_load(body)
                except yaml.YAMLError:
                    pass
            raise ApiError(400, "BadRequest", "the body of the request could not be decoded "
                           "as JSON", {})

    def _reply_object(self, rt, obj, code=200):
        tv = accept_table(self.headers.get("Accept"))
        if tv:
            q = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
            inc = q.get("includeObject", ["Metadata"])[-1]
            return self._json(code, make_table(rt, [obj], tv, inc, {
                "resourceVersion": obj["metadata"]["resourceVersion"]}))
        self._json(code, obj, rt)

    def _patch(self, rt, ns, name, sub, data):
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if ctype == "application/merge-patch+json":
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "merge patch must be a JSON object")

            def fn(cur):
                return merge_patch(cur, data)
        elif ctype == "application/strategic-merge-patch+json":
            if not rt.builtin:
                raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                               "unknown format - accepted media types include: "
                               "application/json-patch+json, application/merge-patch+json, "
                               "application/apply-patch+yaml", {})
            if not isinstance(data, dict):
                raise ApiError(400, "BadRequest", "patch must be a JSON object")

            def fn(cur):
                return merge_patch(cur, strip_smp_directives(data))
        elif ctype == "application/json-patch+json":
            def fn(cur):
                return json_patch(cur, data)
        else:
            accepted = "application/json-patch+json, application/merge-patch+json, " \
                       "application/apply-patch+yaml"
            if rt.builtin:
                accepted = accepted.replace(", application/apply",
                                            ", application/strategic-merge-patch+json, "
                                            "application/apply")
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an "
                           "unknown format - accepted media types include: " + accepted, {})
        store = self.server.fake.store

        def mutate(cur):
            out = fn(cur)
            if not isinstance(out, dict):
                raise ApiError(422, "Invalid", "the patch produced a non-object")
            md = out.get("metadata")
            if not isinstance(md, dict):
                md = out["metadata"] = {}
            if md.get("resourceVersion") in (None, ""):
                md["resourceVersion"] = cur["metadata"]["resourceVersion"]
            return out
        obj = store.update(rt, ns, name, None, subresource=sub or None, mutate=mutate)
        return self._reply_object(rt, obj)

    def _selectors(self, query, fsel):
        lsel = parse_label_selector(query.get("labelSelector", ""))

        def match(obj):
            return labels_match(lsel, obj["metadata"].get("labels")) and fields_match(fsel, obj)
        return match

    def _list(self, rt, ns, query, fsel):
        fake = self.server.fake
        store = fake.store
        match = self._selectors(query, fsel)
        limit = query.get("limit", "")
        try:
            limit = int(limit) if limit else 0
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid limit %r" % limit, {})
        cont = query.get("continue", "")
        if cont:
            if query.get("resourceVersion"):
                raise ApiError(400, "BadRequest", "specifying resource version is not allowed "
                               "when using continue", {})
            try:
                tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                rv = int(tok["rv"])
                start = str(tok["start"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(400, "BadRequest", "continue key is not valid: invalid token", {})
            objs = store.find_snapshot(rt, rv)
            if objs is None:
                raise ApiError(410, "Expired", CONTINUE_EXPIRED_MESSAGE)
        else:
            rv, objs = store.snapshot(rt)
            start = ""
            want = query.get("resourceVersion", "")
            if want and want != "0" and query.get("resourceVersionMatch") == "Exact" and \
                    str(rv) != want:
                old = store.find_snapshot(rt, int(want)) if want.isdigit() else None
                if old is None:
                    raise ApiError(410, "Expired", "too old resource version: %s (%d)" %
                                   (want, rv))
                rv, objs = int(want), old
        keys = sorted(k for k in objs if k >= start)
        items, remaining, last = [], 0, None
        for k in keys:
            o = objs[k]
            if ns and o["metadata"].get("namespace") != ns:
                continue
            if not match(o):
                continue
            if limit and len(items) >= limit:
                remaining += 1
                continue
            items.append(o)
            last = k
        md = {"resourceVersion": str(rv)}
        if remaining:
            store.keep_snapshot(rt, rv, objs)
            tok = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last + "\x00"},
                             separators=(",", ":"))
            md["continue"] = base64.urlsafe_b64encode(tok.encode()).decode().rstrip("=")
            md["remainingItemCount"] = remaining
        elif not rt.builtin:
            md["continue"] = ""
        tv = accept_table(self.headers.get("Accept"))
        if tv:
            inc = query.get("includeObject", "Metadata")
            return self._json(200, make_table(rt, items, tv, inc, md))
        if rt.builtin:
            items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")}
                     for o in items]
            body = {"kind": rt.kind + "List", "apiVersion": rt.api_version, "metadata": md,
                    "items": items}
        else:
            body = {"apiVersion": rt.api_version, "items": items, "kind": rt.kind + "List",
                    "metadata": md}
        self._json(200, body, rt)

    def _delete_collection(self, rt, ns, query, fsel):
        store = self.server.fake.store
        match = self._selectors(query, fsel)
        rv, objs = store.snapshot(rt)
        gone = []
        for k in sorted(objs):
            o = objs[k]
            if ns and o["metadata"].get("namespace") != ns:
                continue
            if match(o):
                try:
                    gone.append(store.delete(rt, o["metadata"].get("namespace", ""),
                                             o["metadata"]["name"]))
                except ApiError:
                    pass
        body = {"apiVersion": rt.api_version, "items": gone, "kind": rt.kind + "List",
                "metadata": {"resourceVersion": str(store.current_rv())}}
        self._json(200, body, rt)

    # -- watch

    def _chunk(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _watch(self, rt, ns, query, fsel):
        fake = self.server.fake
        store = fake.store
        match_sel = self._selectors(query, fsel)

        def match(o):
            return (not ns or o["metadata"].get("namespace") == ns) and match_sel(o)
        rv_param = query.get("resourceVersion", "")
        bookmarks = query.get("allowWatchBookmarks", "").lower() in ("1", "true")
        initial = query.get("sendInitialEvents", "").lower() in ("1", "true")
        try:
            timeout = float(query.get("timeoutSeconds") or fake.watch_timeout)
        except ValueError:
            raise ApiError(400, "BadRequest", "invalid timeoutSeconds", {})
        table = accept_table(self.headers.get("Accept"))
        include = query.get("includeObject", "Metadata")
        epoch = fake._epoch
        pending = []
        error = None
        with store.cond:
            if rv_param in ("", "0") or initial:
                cursor = store.rv
                _, objs = store.snapshot(rt)
                pending = [("ADDED", objs[k]) for k in sorted(objs) if match(objs[k])]
            else:
                try:
                    cursor = int(rv_param)
                except ValueError:
                    raise ApiError(400, "BadRequest", "invalid resource version %r" % rv_param,
                                   {})
                try:
                    store.events_after(rt, cursor)
                except ApiError as e:
                    error = e
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self._status = 200
        if fake.verbose:
            fake.log.write("%s %s %s watch started\n" % (self.command, self.path, 200))
            fake.log.flush()
        sent = [0]
        first_table = [True]

        def emit(etype, obj):
            if table and etype in ("ADDED", "MODIFIED", "DELETED"):
                obj = make_table(rt, [obj], table, include,
                                 {"resourceVersion": obj["metadata"]["resourceVersion"]},
                                 columns_too=first_table[0])
                first_table[0] = False
                ser = to_json(None, obj)
            elif etype == "ERROR":
                ser = to_json(None, obj)
            else:
                ser = to_json(rt, obj)
            self._chunk('{"type":"%s","object":%s}\n' % (etype, ser))
            sent[0] += 1

        def bookmark(rv, initial_end=False):
            md = {"resourceVersion": str(rv)}
            if initial_end:
                md["annotations"] = {"k8s.io/initial-events-end": "true"}
            emit("BOOKMARK", {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": md})

        try:
            if error is not None:
                emit("ERROR", error.body())
                return self._end_chunks()
            for etype, obj in pending:
                emit(etype, obj)
            if initial and bookmarks:
                bookmark(cursor, True)
            deadline = time.monotonic() + timeout
            next_bookmark = time.monotonic() + fake.bookmark_interval
            while True:
                now = time.monotonic()
                if now >= deadline:
                    break
                if fake._stopping or fake._epoch != epoch:
                    raise _Stop()
                try:
                    evs, new_cursor = store.events_after(rt, cursor)
                except ApiError as e:
                    emit("ERROR", e.body())
                    break
                for e in evs:
                    m_new = match(e.obj)
                    if e.type == "MODIFIED":
                        m_old = match(e.old)
                        if m_old and m_new:
                            emit("MODIFIED", e.obj)
                        elif m_new:
                            emit("ADDED", e.obj)
                        elif m_old:
                            emit("DELETED", e.obj)
                    elif m_new:
                        emit(e.type, e.obj)
                cursor = new_cursor
                if bookmarks and time.monotonic() >= next_bookmark:
                    bookmark(cursor)
                    next_bookmark = time.monotonic() + fake.bookmark_interval
                if self._client_gone():
                    self.close_connection = True
                    return
                with store.cond:
                    if store.rv == cursor and not fake._stopping and fake._epoch == epoch:
                        wait = min(deadline, next_bookmark if bookmarks else deadline,
                                   time.monotonic() + 0.5) - time.monotonic()
                        if wait > 0:
                            store.cond.wait(wait)
            self._end_chunks()
        finally:
            self._watch_events = sent[0]

    def _client_gone(self):
        """A watch client sends nothing: readable means it closed."""
        try:
            p = select.poll()
            p.register(self.connection, select.POLLIN | select.POLLERR | select.POLLHUP)
            return bool(p.poll(0))
        except (OSError, ValueError):
            return True

    def _end_chunks(self):
        self.wfile.write(b"0\r\n\r\n")

    # -- non-resource paths

    def _non_resource(self, path):
        fake = self.server.fake
        if path == "/version":
            return self._json(200, fake.version_info())
        if path in ("/healthz", "/livez", "/readyz"):
            return self._send(200, "ok", "text/plain; charset=utf-8")
        if path == "/openapi/v2":
            if not fake.openapi:
                raise ApiError(404, "NotFound", "the server could not find the requested "
                               "resource", {})
            # An empty protobuf message is a valid, empty openapi_v2.Document.
            return self._send(200, b"", "application/com.github.proto-openapi.spec.v2."
                              "v1.0+protobuf")
        if path == "/openapi/v3" and fake.openapi:
            return self._json(200, fake.openapi_v3_root())
        if path.startswith("/openapi/v3/") and fake.openapi:
            doc = fake.openapi_v3_doc(path[len("/openapi/v3/"):])
            if doc is not None:
                return self._json(200, doc)
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})


class _ControlHandler(_BaseHandler):
    """Plain-HTTP control API for tests that run the server as a process."""

    def do_GET(self):
        fake = self.server.fake
        url = urllib.parse.urlsplit(self.path)
        q = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
        try:
            body = self._read_body()
            out = self._handle(fake, self.command, url.path.rstrip("/"), q, body)
            self._send(200, json.dumps(out) + "\n")
        except ApiError as e:
            self._send(e.code, json.dumps(e.body()) + "\n")
        except (KeyError, ValueError, TypeError) as e:
            self._send(400, json.dumps({"error": str(e)}) + "\n")

    do_POST = do_PUT = do_DELETE = do_GET

    def _handle(self, fake, method, path, q, body):
        data = json.loads(body) if body else None
        if path == "/healthz":
            return {"ok": True}
        if path == "/state":
            return fake.info()
        if path == "/requests":
            return fake.requests(clear=q.get("clear") in ("1", "true"))
        if method == "GET" and path == "/objects":
            return fake.list(q["kind"], q.get("namespace"))
        if method == "GET" and path == "/object":
            return fake.get(q["kind"], q.get("namespace", "default"), q["name"])
        if method != "POST":
            raise ApiError(405, "MethodNotAllowed", "use POST")
        if path == "/apply":
            objs = expand_list(data)
            out = [fake.apply(o) for o in objs]
            return out[0] if len(out) == 1 and not data.get("kind", "").endswith("List") \
                else out
        if path == "/delete":
            return fake.delete(data["kind"], data.get("namespace", "default"), data["name"])
        if path == "/patch":
            return fake.patch(data["kind"], data.get("namespace", "default"), data["name"],
                              data["patch"], subresource=data.get("subresource"))
        if path == "/compact":
            return {"resourceVersion": str(fake.compact())}
        if path == "/pause":
            fake.pause(q.get("mode", "refuse"))
            return {"paused": fake._pause_mode}
        if path == "/resume":
            fake.resume()
            return {"paused": None, "port": fake.port}
        if path == "/inject":
            fake.inject_error(int(q.get("code", 429)), int(q.get("count", 1)),
                              method=q.get("method"), path=q.get("path"),
                              retry_after=int(q["retry_after"]) if "retry_after" in q else None)
            return {"faults": len(fake._faults)}
        if path == "/token":
            fake.set_token(data["token"] if isinstance(data, dict) else q["token"])
            return {"ok": True}
        raise ApiError(404, "NotFound", "unknown control path %s" % path)


# --------------------------------------------------------------------------
# the server

class FakeApiServer:
    """A Kubernetes API server for tests.

        srv = FakeApiServer(state_dir, token="t0k3n", rbac="deploy/rbac.yaml")
        srv.start()
        srv.write_kubeconfig(path)
        srv.apply(obj); srv.patch("httproute", "default", name, {...})
        srv.compact(); srv.pause(); srv.resume(); srv.inject_429(2)
        srv.stop()
    """

    def __init__(self, state_dir, token=None, token_file=None, rbac=None, port=0,
                 bind="127.0.0.1", sans=(), user=DEFAULT_USER, bookmark_interval=5.0,
                 history_size=1000, initial_rv=1000, watch_timeout=1800.0, control=True,
                 control_port=0, verbose=False, kube_version=DEFAULT_KUBE_VERSION,
                 defaulting=True, openapi=True, idle_timeout=600.0, log=None):
        try:
            if not ipaddress.ip_address(bind).is_loopback:
                raise ValueError
        except ValueError:
            raise ValueError("bind address must be a loopback address, got %r" % (bind,))
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, exist_ok=True)
        self.bind = bind
        self.requested_port = int(port)
        self.sans = list(sans)
        self.user = user
        self.bookmark_interval = float(bookmark_interval)
        self.watch_timeout = float(watch_timeout)
        self.control_enabled = control
        self.control_port_requested = int(control_port)
        self.verbose = verbose
        self.kube_version = kube_version
        self.openapi = openapi
        self.idle_timeout = idle_timeout
        self.log = log or sys.stderr
        self.store = Store(initial_rv=initial_rv, history_size=history_size,
                           defaulting=defaulting)
        self.token_file = os.path.abspath(token_file) if token_file else \
            os.path.join(self.state_dir, "token")
        if token is not None:
            self.set_token(token)
        elif not os.path.exists(self.token_file):
            self.set_token(secrets.token_urlsafe(24))
        if rbac is None or isinstance(rbac, Rbac):
            self.rbac = rbac
        else:
            self.rbac = Rbac.load(rbac)
        self.kubeconfig_path = os.path.join(self.state_dir, "kubeconfig")
        self.ca_path = None
        self.port = None
        self.control_port = None
        self._httpd = None
        self._thread = None
        self._control = None
        self._control_thread = None
        self._ssl_ctx = None
        self._lock = threading.Lock()
        self._conns = set()
        self._pause_mode = None
        self._resume_event = threading.Event()
        self._epoch = 0
        self._stopping = False
        self._faults = []
        self._requests = collections.deque(maxlen=2000)

    # -- lifecycle

    def start(self):
        """Listen (again: after stop() the same ports and objects are reused,
        like an API server restart)."""
        self._stopping = False
        self._resume_event.clear()
        self.ca_path, cert, key = generate_certs(self.state_dir, self.sans)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        ctx.set_alpn_protocols(["http/1.1"])
        self._ssl_ctx = ctx
        self._start_listener(self.port or self.requested_port)
        if self.control_enabled:
            self._control = _HTTPServer((self.bind, self.control_port or
                                         self.control_port_requested),
                                        _ControlHandler, self, tls=False)
            self.control_port = self._control.server_address[1]
            self._control_thread = threading.Thread(
                target=self._control.serve_forever, kwargs={"poll_interval": 0.1},
                name="fake-apiserver-control", daemon=True)
            self._control_thread.start()
        self.write_kubeconfig(self.kubeconfig_path)
        return self

    def _start_listener(self, port):
        last = None
        for _ in range(50):  # a port just closed may take a moment to rebind
            try:
                self._httpd = _HTTPServer((self.bind, port), _ApiHandler, self, tls=True)
                break
            except OSError as e:
                if not port:
                    raise
                last = e
                time.sleep(0.1)
        else:
            raise last
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1},
                                        name="fake-apiserver", daemon=True)
        self._thread.start()

    def _stop_listener(self):
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(5)
            self._httpd = None

    def stop(self):
        self._stopping = True
        self._epoch += 1
        with self.store.cond:
            self.store.cond.notify_all()
        self._stop_listener()
        if self._control is not None:
            self._control.shutdown()
            self._control.server_close()
            self._control_thread.join(5)
            self._control = None
        self._drop_connections()
        self._resume_event.set()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def pause(self, mode="refuse"):
        """Simulate an API outage.  mode: "refuse" (listener closed: connection
        refused), "close" (connections accepted then closed at once), "hang"
        (connections accepted, never answered).  Open connections and watches
        are dropped in every mode."""
        if mode not in ("refuse", "close", "hang"):
            raise ValueError("pause mode must be refuse, close or hang")
        with self._lock:
            if self._pause_mode:
                return
            self._pause_mode = mode
            self._resume_event.clear()
        self._epoch += 1
        with self.store.cond:
            self.store.cond.notify_all()
        if mode == "refuse":
            self._stop_listener()
        self._drop_connections()

    def resume(self):
        with self._lock:
            mode, self._pause_mode = self._pause_mode, None
        if mode == "refuse":
            self._start_listener(self.port)
        self._resume_event.set()

    def _hold(self, sock):
        self._resume_event.wait()
        _hard_close(sock)

    def _track(self, conn, add):
        with self._lock:
            if add:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def _drop_connections(self):
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                fd = c.fileno()
                if fd >= 0:
                    s = socket.fromfd(fd, c.family, c.type)
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    finally:
                        s.close()
            except OSError:
                pass

    # -- auth, faults, logging

    def set_token(self, token):
        tmp = self.token_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(token + "\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.token_file)

    @property
    def token(self):
        t = self._valid_tokens()
        return t[0] if t else ""

    def _valid_tokens(self):
        try:
            with open(self.token_file, encoding="utf-8") as f:
                return [ln.strip() for ln in f if ln.strip()]
        except OSError:
            return []

    def inject_429(self, count=1, retry_after=1):
        """The next count API requests answer 429 TooManyRequests + Retry-After."""
        self.inject_error(429, count, retry_after=retry_after)

    def inject_error(self, code, count=1, method=None, path=None, retry_after=None,
                     message=None):
        """The next count API requests (optionally only those with this HTTP
        method and whose path contains path) answer with this status code."""
        reasons = {429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable",
                   504: "Timeout", 410: "Expired", 409: "Conflict", 403: "Forbidden",
                   401: "Unauthorized", 404: "NotFound"}
        with self._lock:
            self._faults.append({"code": int(code), "remaining": int(count), "method": method,
                                 "path": path, "retry_after": retry_after,
                                 "message": message, "reason": reasons.get(int(code),
                                                                           "InternalError")})

    def _take_fault(self, method, path):
        with self._lock:
            for f in self._faults:
                if f["remaining"] <= 0:
                    continue
                if f["method"] and f["method"].upper() != method:
                    continue
                if f["path"] and f["path"] not in path:
                    continue
                f["remaining"] -= 1
                self._faults = [x for x in self._faults if x["remaining"] > 0]
                headers, details = {}, None
                msg = f["message"]
                if f["code"] == 429:
                    ra = f["retry_after"] if f["retry_after"] is not None else 1
                    headers["Retry-After"] = ra
                    details = {"retryAfterSeconds": ra}
                    msg = msg or "Too many requests, please try again later."
                elif f["retry_after"] is not None:
                    headers["Retry-After"] = f["retry_after"]
                    details = {"retryAfterSeconds": f["retry_after"]}
                return ApiError(f["code"], f["reason"], msg or "injected error", details,
                                headers)
        return None

    def _log_request(self, handler, path, query, body, elapsed):
        entry = {"time": time.time(), "method": handler.command, "path": path,
                 "query": query, "status": getattr(handler, "_status", 0),
                 "user_agent": handler.headers.get("User-Agent", "") if handler.headers else "",
                 "content_type": handler.headers.get("Content-Type", "")
                 if handler.headers else "",
                 "body": body[:65536].decode("utf-8", "replace") if body else ""}
        if handler._watch_events is not None:
            entry["watch_events"] = handler._watch_events
        self._requests.append(entry)
        if self.verbose:
            self.log.write("%s %s%s %s %.1fms%s\n" % (
                handler.command, path, "?" + query if query else "", entry["status"],
                elapsed * 1000, " events=%d" % handler._watch_events
                if handler._watch_events is not None else ""))
            self.log.flush()

    def requests(self, clear=False):
        """Recent API requests: method, path, query, status, user_agent,
        content_type, body (first 64 KiB)."""
        out = list(self._requests)
        if clear:
            self._requests.clear()
        return out

    # -- discovery documents

    @property
    def host_port(self):
        host = "[%s]" % self.bind if ":" in self.bind else self.bind
        return "%s:%s" % (host, self.port)

    @property
    def url(self):
        return "https://%s" % self.host_port

    def version_info(self):
        v = self.kube_version.lstrip("v").split(".")
        return {"major": v[0], "minor": v[1] if len(v) > 1 else "0",
                "gitVersion": self.kube_version,
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2025-04-22T16:03:51Z",
                "goVersion": "go1.23.8", "compiler": "gc", "platform": "linux/amd64"}

    def api_group(self, name):
        versions = [v for g, v in group_versions() if g == name]
        if not versions:
            return None
        vs = [{"groupVersion": "%s/%s" % (name, v), "version": v} for v in versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": name, "versions": vs,
                "preferredVersion": vs[0]}

    def api_group_list(self):
        groups = []
        for g, _ in group_versions():
            if g and all(x["name"] != g for x in groups):
                grp = self.api_group(g)
                del grp["kind"], grp["apiVersion"]
                groups.append(grp)
        return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}

    def api_resource_list(self, group, version):
        gv = "%s/%s" % (group, version) if group else version
        res = []
        for rt in RESOURCE_TYPES:
            if rt.group == group and rt.version == version:
                res.extend(rt.discovery())
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
                "resources": res}

    def openapi_v3_root(self):
        paths = {}
        for g, v in group_versions():
            p = "api/%s" % v if not g else "apis/%s/%s" % (g, v)
            paths[p] = {"serverRelativeURL": "/openapi/v3/%s?hash=%s" % (p, "0" * 16)}
        return {"paths": paths}

    def openapi_v3_doc(self, gvpath):
        """A minimal OpenAPI v3 document per group-version.  It only tells
        kubectl that PATCH takes fieldValidation (so kubectl leaves field
        validation to the server, which accepts all fields)."""
        for g, v in group_versions():
            p = "api/%s" % v if not g else "apis/%s/%s" % (g, v)
            if p != gvpath:
                continue
            paths = {}
            for rt in RESOURCE_TYPES:
                if rt.group != g or rt.version != v:
                    continue
                base = "/" + p + ("/namespaces/{namespace}" if rt.namespaced else "")
                gvk = {"group": g, "version": v, "kind": rt.kind}
                params = [{"name": "fieldValidation", "in": "query",
                           "schema": {"type": "string", "uniqueItems": True}},
                          {"name": "fieldManager", "in": "query",
                           "schema": {"type": "string", "uniqueItems": True}}]
                op = {"operationId": "patch" + rt.kind, "parameters": params,
                      "x-kubernetes-action": "patch",
                      "x-kubernetes-group-version-kind": gvk,
                      "responses": {"200": {"description": "OK"}}}
                paths["%s/%s/{name}" % (base, rt.plural)] = {"patch": op}
            return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version":
                                                 self.kube_version},
                    "paths": paths, "components": {"schemas": {}}}
        return None

    # -- objects (god mode for tests)

    def apply(self, obj):
        """Create or replace an object as a test fixture: keeps the given uid,
        creationTimestamp and generation on create, sets spec and status in one
        step on update (generation bumps when spec changes).  Returns the stored
        object."""
        rt = type_for_object(obj)
        md = obj.get("metadata") or {}
        ns = (md.get("namespace") or "default") if rt.namespaced else ""
        obj = copy.deepcopy(obj)
        obj.setdefault("metadata", {}).pop("resourceVersion", None)
        with self.store.cond:
            try:
                self.store.get(rt, ns, md.get("name", ""))
                exists = bool(md.get("name"))
            except ApiError:
                exists = False
            if not exists:
                return copy.deepcopy(self.store.create(rt, obj, rest=False))
            return copy.deepcopy(self.store.update(rt, ns, md["name"], obj, keep_status=False,
                                                   keep_generation=True))

    def load_file(self, path):
        return [self.apply(o) for o in load_documents(path)]

    def get(self, kind, namespace, name):
        rt = find_type(kind)
        return copy.deepcopy(self.store.get(rt, namespace if rt.namespaced else "", name))

    def list(self, kind, namespace=None):
        rt = find_type(kind)
        _, objs = self.store.snapshot(rt)
        return [copy.deepcopy(objs[k]) for k in sorted(objs)
                if not namespace or objs[k]["metadata"].get("namespace") == namespace]

    def patch(self, kind, namespace, name, patch, subresource=None):
        """Merge-patch an object (like a client would); subresource="status"
        changes only status."""
        rt = find_type(kind)

        def mutate(cur):
            out = merge_patch(cur, patch)
            out.setdefault("metadata", {})["resourceVersion"] = \
                cur["metadata"]["resourceVersion"]
            return out
        return copy.deepcopy(self.store.update(rt, namespace if rt.namespaced else "", name,
                                               None, subresource=subresource, mutate=mutate))

    def merge_patch(self, kind, namespace, name, patch, subresource=None):
        """patch under the name KubeRest gives it, so that the Argo player (get, update,
        apply, merge_patch) can write straight into this server: Argo's writes without
        a token, where the agent under test only has the deploy/ ClusterRole."""
        return self.patch(kind, namespace, name, patch, subresource=subresource)

    def update(self, obj, subresource=None):
        """PUT semantics: metadata.resourceVersion, when given, must be current
        (ApiError 409 otherwise); status is ignored unless subresource="status"."""
        rt = type_for_object(obj)
        md = obj.get("metadata") or {}
        ns = (md.get("namespace") or "default") if rt.namespaced else ""
        return copy.deepcopy(self.store.update(rt, ns, md.get("name", ""), obj,
                                               subresource=subresource))

    def update_status(self, kind, namespace, name, status):
        """Replace status only (PUT .../status)."""
        rt = find_type(kind)
        return copy.deepcopy(self.store.update(rt, namespace if rt.namespaced else "", name,
                                               {"status": status}, subresource="status"))

    def delete(self, kind, namespace, name):
        rt = find_type(kind)
        return copy.deepcopy(self.store.delete(rt, namespace if rt.namespaced else "", name))

    def compact(self):
        """Compact history: every older resourceVersion (watch or continue)
        now answers 410 Expired.  Returns the current resourceVersion."""
        return self.store.compact()

    @property
    def resource_version(self):
        return str(self.store.current_rv())

    # -- files

    def write_kubeconfig(self, path=None, embed_ca=True, use_token_file=False,
                         namespace="default"):
        path = path or self.kubeconfig_path
        text = kubeconfig_text(self.url, self.ca_path, token=self.token,
                               token_file=self.token_file if use_token_file else None,
                               embed_ca=embed_ca, namespace=namespace)
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
        return path

    def info(self):
        d = {"port": self.port, "server": self.url, "ca": self.ca_path,
             "kubeconfig": self.kubeconfig_path, "token_file": self.token_file,
             "state_dir": self.state_dir, "pid": os.getpid(),
             "resource_version": self.resource_version, "paused": self._pause_mode}
        if self.control_port:
            d["control_port"] = self.control_port
            host = "[%s]" % self.bind if ":" in self.bind else self.bind
            d["control_url"] = "http://%s:%d" % (host, self.control_port)
        return d


# --------------------------------------------------------------------------
# CLI

def main(argv=None):
    ap = argparse.ArgumentParser(description="Kubernetes API server for bpfsplit tests.")
    ap.add_argument("--state-dir", required=True, help="certs, token, kubeconfig go here")
    ap.add_argument("--bind", default="127.0.0.1", help="loopback address (127.0.0.1, ::1)")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--token-file", help="bearer token file, re-read on every request "
                    "(default STATE_DIR/token, generated)")
    ap.add_argument("--token", help="write this token to the token file")
    ap.add_argument("--rbac", help="YAML/JSON with ClusterRole(s) to enforce")
    ap.add_argument("--user", default=DEFAULT_USER, help="user name in 403 messages")
    ap.add_argument("--ready-file", help="write the ready JSON here once listening")
    ap.add_argument("--load", action="append", default=[], metavar="FILE",
                    help="initial objects (object, List, or YAML documents); repeatable")
    ap.add_argument("--san", action="append", default=[], help="extra server cert SAN")
    ap.add_argument("--bookmark-interval", type=float, default=5.0, metavar="SECONDS")
    ap.add_argument("--history-size", type=int, default=1000,
                    help="watch events kept per resource type")
    ap.add_argument("--initial-rv", type=int, default=1000)
    ap.add_argument("--watch-timeout", type=float, default=1800.0, metavar="SECONDS",
                    help="watch length when the client sends no timeoutSeconds")
    ap.add_argument("--control-port", type=int, default=0)
    ap.add_argument("--kube-version", default=DEFAULT_KUBE_VERSION)
    ap.add_argument("--no-defaulting", action="store_true",
                    help="do not apply CRD/Service defaults")
    ap.add_argument("--no-openapi", action="store_true",
                    help="answer 404 on /openapi/v2 and /openapi/v3")
    ap.add_argument("-v", "--verbose", action="store_true", help="log requests to stderr")
    args = ap.parse_args(argv)

    srv = FakeApiServer(args.state_dir, token=args.token, token_file=args.token_file,
                        rbac=args.rbac, port=args.port, bind=args.bind, sans=args.san,
                        user=args.user, bookmark_interval=args.bookmark_interval,
                        history_size=args.history_size, initial_rv=args.initial_rv,
                        watch_timeout=args.watch_timeout, control_port=args.control_port,
                        verbose=args.verbose, kube_version=args.kube_version,
                        defaulting=not args.no_defaulting, openapi=not args.no_openapi)
    for f in args.load:
        srv.load_file(f)
    done = threading.Event()

    def on_signal(signum, frame):
        done.set()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    srv.start()
    ready = json.dumps(srv.info(), sort_keys=True)
    if args.ready_file:
        tmp = args.ready_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(ready + "\n")
        os.replace(tmp, args.ready_file)
    print(ready, flush=True)
    while not done.wait(1.0):
        pass
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
