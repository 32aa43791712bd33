"""Connecting to an engine asks its cheap ``/_ping`` for the API version, never ``/version``
(podman answers that one after running conmon, runc and dpkg: about 0.5 s per command)."""

from __future__ import annotations

import http.server
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image.engine.seam import _ping, api_version


class _Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


def _handler(seen: list[str], headers: dict[str, str]) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.path)
            body = b"OK" if self.path.endswith("/_ping") else b'{"ApiVersion": "1.41"}'
            self.send_response(200)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def address_string(self) -> str:  # a unix socket has no client address
            return "unix"

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def engine_api(tmp_path: Path) -> Iterator[tuple[str, list[str], dict[str, str]]]:
    """A fake engine API on a unix socket: (base url, paths asked, headers it answers with)."""
    seen: list[str] = []
    headers = {"Api-Version": "1.41"}
    socket = tmp_path / "engine.sock"
    server = _Server(str(socket), _handler(seen, headers))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"unix://{socket}", seen, headers
    finally:
        server.shutdown()
        server.server_close()


def test_the_api_version_comes_from_ping_alone(
    engine_api: tuple[str, list[str], dict[str, str]],
) -> None:
    url, seen, _headers = engine_api
    client = _ping(url)
    assert client is not None
    assert client.api.api_version == "1.41"
    assert [p for p in seen if p.endswith("/version")] == [], seen
    assert seen == ["/_ping"]


def test_a_ping_without_the_header_falls_back_to_asking_version(
    engine_api: tuple[str, list[str], dict[str, str]],
) -> None:
    url, seen, headers = engine_api
    headers.clear()
    client = _ping(url)
    assert client is not None and client.api.api_version == "1.41"
    assert seen[0] == "/_ping" and seen[-1].endswith("/version")


def test_nothing_listening_is_none(tmp_path: Path) -> None:
    assert _ping(f"unix://{tmp_path / 'absent.sock'}") is None


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Api-Version": "1.41"}, "1.41"),
        ({"api-version": " 1.43 "}, "1.43"),
        ({"Api-Version": ""}, "auto"),
        ({}, "auto"),
    ],
)
def test_api_version_reads_the_header(headers: dict[str, str], expected: str) -> None:
    assert api_version(headers) == expected
