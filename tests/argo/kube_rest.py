# SPDX-License-Identifier: BSD-2-Clause
"""A minimal Kubernetes REST client (Python standard library): what the Argo player
needs to act like Argo Rollouts and its Gateway API plugin against an API server —
GET, PUT, POST, merge PATCH, DELETE and the status subresource, over verified HTTPS
with a bearer token."""

import http.client
import json
import ssl
import urllib.parse

# kind -> (API prefix, plural, namespaced)
KINDS = {
    "Service": ("/api/v1", "services", True),
    "EndpointSlice": ("/apis/discovery.k8s.io/v1", "endpointslices", True),
    "HTTPRoute": ("/apis/gateway.networking.k8s.io/v1", "httproutes", True),
    "Gateway": ("/apis/gateway.networking.k8s.io/v1", "gateways", True),
    "GatewayClass": ("/apis/gateway.networking.k8s.io/v1", "gatewayclasses", False),
    "Rollout": ("/apis/argoproj.io/v1alpha1", "rollouts", True),
}


class KubeError(RuntimeError):
    def __init__(self, status, body):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status
        self.body = body


class KubeRest:
    def __init__(self, server, ca_file, token_file, timeout=10):
        u = urllib.parse.urlsplit(server)
        self.host, self.port = u.hostname, u.port or 443
        self.ctx = ssl.create_default_context(cafile=ca_file)
        self.token_file = token_file
        self.timeout = timeout

    def _token(self):
        with open(self.token_file) as f:
            return f.read().split()[0]

    def request(self, method, path, body=None, content_type="application/json"):
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=self.timeout)
        try:
            headers = {"Authorization": f"Bearer {self._token()}", "Accept": "application/json"}
            data = None
            if body is not None:
                data = json.dumps(body).encode()
                headers["Content-Type"] = content_type
            conn.request(method, path, body=data, headers=headers)
            resp = conn.getresponse()
            text = resp.read().decode()
            if resp.status >= 300:
                raise KubeError(resp.status, text)
            return json.loads(text) if text else None
        finally:
            conn.close()

    @staticmethod
    def path(kind, namespace=None, name=None, subresource=None):
        prefix, plural, namespaced = KINDS[kind]
        p = prefix + (f"/namespaces/{namespace}" if namespaced and namespace else "") + f"/{plural}"
        if name:
            p += f"/{name}"
        if subresource:
            p += f"/{subresource}"
        return p

    def get(self, kind, namespace, name):
        return self.request("GET", self.path(kind, namespace, name))

    def create(self, obj):
        obj = {k: v for k, v in obj.items()}
        meta = dict(obj["metadata"])
        for field in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            meta.pop(field, None)
        obj["metadata"] = meta
        return self.request("POST", self.path(obj["kind"], meta.get("namespace")), obj)

    def update(self, obj):
        meta = obj["metadata"]
        return self.request("PUT", self.path(obj["kind"], meta.get("namespace"), meta["name"]), obj)

    def merge_patch(self, kind, namespace, name, patch, subresource=None):
        return self.request("PATCH", self.path(kind, namespace, name, subresource), patch,
                            "application/merge-patch+json")

    def delete(self, kind, namespace, name):
        return self.request("DELETE", self.path(kind, namespace, name))

    def apply(self, obj):
        """Create, or update in place when it exists (status as given goes through /status)."""
        meta = obj["metadata"]
        try:
            current = self.get(obj["kind"], meta.get("namespace"), meta["name"])
        except KubeError as e:
            if e.status != 404:
                raise
            created = self.create(obj)
            if "status" in obj:
                created["status"] = obj["status"]
                return self.request("PUT", self.path(obj["kind"], meta.get("namespace"), meta["name"], "status"),
                                    created)
            return created
        obj = json.loads(json.dumps(obj))
        obj["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.update(obj)
