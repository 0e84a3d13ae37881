#!/usr/bin/python3
# SPDX-License-Identifier: BSD-2-Clause
"""The test API server (tests/apiserver/fake_apiserver.py, same command line) plus
faults a real API server never produces, for tests/unit/test_kube_client.c:

    POST /garble?where=list|watch&path=SUBSTR[&count=N]   (control API)

where=list: the next N list responses whose path contains SUBSTR are cut JSON
(HTTP 200). where=watch: the next N watch events (not bookmarks) on such a path
are replaced by one malformed line, so the event itself is lost on that stream.
Everything else is the unchanged test server."""
import os
import sys
import threading

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "apiserver"))
import fake_apiserver as fa  # noqa: E402

_lock = threading.Lock()
_faults = []


def _take(where, path):
    with _lock:
        for f in _faults:
            if f["where"] == where and f["count"] > 0 and f["path"] in path:
                f["count"] -= 1
                return True
    return False


_orig_handle = fa._ControlHandler._handle


def _handle(self, fake, method, path, q, body):
    if method == "POST" and path == "/garble":
        if q.get("where") not in ("list", "watch"):
            raise ValueError("where must be list or watch")
        with _lock:
            _faults.append({"where": q["where"], "path": q.get("path", ""),
                            "count": int(q.get("count", 1))})
        return {"ok": True}
    return _orig_handle(self, fake, method, path, q, body)


_orig_list = fa._ApiHandler._list


def _list(self, rt, ns, query, fsel):
    if _take("list", self.path.split("?")[0]):
        return self._send(200, '{"kind":"%sList","apiVersion":"%s","metadata":'
                          '{"resourceVersion":"1"},"items":[{"metadata":{"name":'
                          % (rt.kind, rt.api_version))
    return _orig_list(self, rt, ns, query, fsel)


_orig_chunk = fa._ApiHandler._chunk


def _chunk(self, data):
    raw = data.encode() if isinstance(data, str) else data
    if raw.startswith(b'{"type":"') and not raw.startswith(b'{"type":"BOOKMARK"') and \
            not raw.startswith(b'{"type":"ERROR"') and _take("watch", self.path.split("?")[0]):
        raw = b'{"type":"MODIFIED","object":{"metadata":{"name":"cut\n'
    return _orig_chunk(self, raw)


fa._ControlHandler._handle = _handle
fa._ApiHandler._list = _list
fa._ApiHandler._chunk = _chunk

if __name__ == "__main__":
    sys.exit(fa.main())
