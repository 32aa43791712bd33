"""A counting HTTP relay in front of the loopback registry: how many bytes a push really uploads.

Engines push to ``127.0.0.1:<port>`` of this relay (loopback, so plain HTTP on both engines and
in the pipeline); every request is forwarded unchanged (the ``Host`` header too, so the
registry's ``Location`` headers point back at the relay) to the upstream registry. Request
*bodies* are counted by what the registry API says they are (distribution's routes,
``/v2/<name>/blobs/uploads/...`` and ``/v2/<name>/manifests/<ref>``): blob bytes, manifest
bytes, and the rest. Headers are not counted, so a push that finds every blob present
(``HEAD`` -> 200) and sends no manifest counts zero.
"""

from __future__ import annotations

import dataclasses
import http.client
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "upgrade"}
)
CHUNK = 1 << 20


def body_kind(method: str, path: str) -> str:
    """``blob``, ``manifest`` or ``other`` for a request that carries a body (distribution API)."""
    route = path.split("?", 1)[0]
    if method in {"PATCH", "PUT", "POST"} and "/blobs/uploads" in route:
        return "blob"
    if method == "PUT" and "/manifests/" in route:
        return "manifest"
    return "other"


@dataclasses.dataclass
class Counts:
    """Body bytes by kind, and request counts by method; ``minus`` gives a phase's share."""

    blob_bytes: int = 0
    manifest_bytes: int = 0
    other_bytes: int = 0
    requests: dict[str, int] = dataclasses.field(default_factory=dict)

    @property
    def uploaded_bytes(self) -> int:
        return self.blob_bytes + self.manifest_bytes + self.other_bytes

    def minus(self, before: Counts) -> Counts:
        methods = set(self.requests) | set(before.requests)
        return Counts(
            self.blob_bytes - before.blob_bytes,
            self.manifest_bytes - before.manifest_bytes,
            self.other_bytes - before.other_bytes,
            {m: self.requests.get(m, 0) - before.requests.get(m, 0) for m in sorted(methods)},
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "uploaded_bytes": self.uploaded_bytes,
            "blob_bytes": self.blob_bytes,
            "manifest_bytes": self.manifest_bytes,
            "requests": {m: n for m, n in self.requests.items() if n},
        }


class CountingProxy:
    """Relay ``127.0.0.1:<port>`` -> ``upstream`` (``HOST:PORT``); ``snapshot()`` reads counts."""

    def __init__(self, upstream: str) -> None:
        host, _, port = upstream.rpartition(":")
        self.upstream = (host, int(port))
        self._lock = threading.Lock()
        self._counts = Counts()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.address = f"127.0.0.1:{self._server.server_address[1]}"

    def snapshot(self) -> Counts:
        with self._lock:
            return dataclasses.replace(self._counts, requests=dict(self._counts.requests))

    def _add(self, method: str, kind: str, size: int) -> None:
        with self._lock:
            c = self._counts
            c.requests[method] = c.requests.get(method, 0) + 1
            if kind == "blob":
                c.blob_bytes += size
            elif kind == "manifest":
                c.manifest_bytes += size
            else:
                c.other_bytes += size

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def _relay(self) -> None:
                upstream = http.client.HTTPConnection(*proxy.upstream, timeout=600)
                try:
                    upstream.putrequest(
                        self.command, self.path, skip_host=True, skip_accept_encoding=True
                    )
                    chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
                    for key, value in self.headers.items():
                        if key.lower() not in HOP_BY_HOP:
                            upstream.putheader(key, value)
                    if chunked:
                        upstream.putheader("Transfer-Encoding", "chunked")
                    upstream.endheaders()
                    sent = self._send_chunked(upstream) if chunked else self._send_length(upstream)
                    proxy._add(self.command, body_kind(self.command, self.path), sent)
                    response = upstream.getresponse()
                    body = response.read()
                    self.send_response_only(response.status, response.reason)
                    length = response.getheader("Content-Length")
                    for key, value in response.getheaders():
                        if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                            self.send_header(key, value)
                    if self.command == "HEAD" and length is not None:
                        self.send_header("Content-Length", length)
                    elif response.status not in (204, 304):
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    if self.command != "HEAD" and body:
                        self.wfile.write(body)
                finally:
                    upstream.close()

            def _send_length(self, upstream: http.client.HTTPConnection) -> int:
                remaining = int(self.headers.get("Content-Length") or 0)
                sent = 0
                while remaining > 0:
                    data = self.rfile.read(min(CHUNK, remaining))
                    if not data:
                        break
                    upstream.send(data)
                    sent += len(data)
                    remaining -= len(data)
                return sent

            def _send_chunked(self, upstream: http.client.HTTPConnection) -> int:
                sent = 0
                while True:
                    size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass
                        upstream.send(b"0\r\n\r\n")
                        return sent
                    data = self.rfile.read(size)
                    self.rfile.readline()
                    upstream.send(b"%x\r\n%s\r\n" % (len(data), data))
                    sent += len(data)

            do_GET = do_HEAD = do_PUT = do_PATCH = do_POST = do_DELETE = _relay

        return Handler

    @contextmanager
    def running(self) -> Iterator[CountingProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=10)
