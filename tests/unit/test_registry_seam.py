"""The registry seam's own rules (issue 20, point 1), engine-free.

- No module outside ``registry/`` imports requests, urllib3 or oras (an ast scan of src/);
  the engine seam catches docker-py's requests exceptions and the e2e job (it runs inside
  the image, against a Ray Serve app) asks its service: both named, nothing else.
- The transport against a stub HTTP boundary (a fake ``Session.request``): a pull token is
  renewed with the scope a PUT needs and cached per scope; Basic is answered; one timeout
  on every request; 429 honours ``Retry-After``; foreign exceptions become one line
  without the secret.
"""

from __future__ import annotations

import ast
import base64
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from ray_worker_image.errors import PushError, RegistryUnavailable
from ray_worker_image.registry import Credentials, Destination, RegistryAccess, Repository
from ray_worker_image.registry.auth import parse_challenge
from ray_worker_image.registry.transport import Transport

SRC = Path(__file__).resolve().parents[2] / "src" / "ray_worker_image"
HTTP_CLIENTS = {"requests", "urllib3", "oras"}
ALLOWED = {
    "engine/seam.py": {"requests"},  # catches docker-py's requests exceptions (one line)
    "engine/base.py": {"requests"},  # the same, around docker-py calls
    "e2e/job.py": {"requests"},  # runs inside the image: asks the Ray Serve app, no registry
}


def http_imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {n.split(".")[0] for n in names} & HTTP_CLIENTS
    return found


def outside_the_seam(src: Path) -> list[str]:
    out = []
    for path in sorted(src.rglob("*.py")):
        rel = path.relative_to(src).as_posix()
        if rel.startswith("registry/"):
            continue
        extra = http_imports(path) - ALLOWED.get(rel, set())
        out += [f"{rel}: {name}" for name in sorted(extra)]
    return out


def test_no_module_outside_the_seam_imports_an_http_client() -> None:
    assert outside_the_seam(SRC) == []
    assert all("oras" not in http_imports(p) for p in SRC.rglob("*.py"))


def test_the_scan_finds_an_import(tmp_path: Path) -> None:
    """The check itself: a module that talks to a registry with requests is found."""
    (tmp_path / "push.py").write_text("import requests\nfrom urllib3 import util\n")
    (tmp_path / "registry").mkdir()
    (tmp_path / "registry" / "transport.py").write_text("import requests\n")
    assert outside_the_seam(tmp_path) == ["push.py: requests", "push.py: urllib3"]


class _Response:
    def __init__(self, status: int, headers: dict[str, str] | None = None, body: bytes = b""):
        self.status_code, self.headers, self.content = status, headers or {}, body


class _Registry:
    """A token-auth registry in memory: tokens grant exactly the scope they were asked for."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str, float]] = []
        self.tokens: dict[str, str] = {}

    def request(self, method: str, url: str, **kwargs: Any) -> _Response:
        headers = kwargs.get("headers") or {}
        self.calls.append((method, url, headers.get("Authorization", ""), kwargs["timeout"]))
        if url.startswith("https://auth/token"):
            scope = url.split("scope=", 1)[1].replace("%3A", ":").replace("%2C", ",")
            scope = scope.replace("%2F", "/")
            token = f"tok-{len(self.tokens)}"
            self.tokens[token] = scope
            return _Response(200, body=json.dumps({"token": token}).encode())
        need = "pull,push" if method in ("PUT", "POST") else "pull"
        scope = f"repository:a/b:{need}"
        granted = self.tokens.get(headers.get("Authorization", "").removeprefix("Bearer "))
        if granted != scope:
            challenge = f'Bearer realm="https://auth/token",service="reg",scope="{scope}"'
            return _Response(401, {"WWW-Authenticate": challenge})
        return _Response(201 if method == "PUT" else 200, {"Docker-Content-Digest": "sha256:x"})


def _transport(session: Any, credentials: Credentials | None = None) -> Transport:
    access = RegistryAccess("registry.example:5000")
    return Transport(access, credentials, timeout=7, max_retry_seconds=5, session=session)


def test_a_pull_token_is_renewed_with_the_scope_a_put_needs_and_cached_per_scope() -> None:
    stub = _Registry()
    transport = _transport(stub, Credentials("ci", "s3cret"))
    pull, push = "repository:a/b:pull", "repository:a/b:pull,push"
    assert transport.send("GET", "/v2/a/b/tags/list", scope=pull).status == 200
    assert transport.send("PUT", "/v2/a/b/manifests/t", scope=push, data=b"{}").status == 201
    assert sorted(stub.tokens.values()) == [pull, push]  # one token per scope
    stub.calls.clear()
    transport.send("GET", "/v2/a/b/tags/list", scope=pull)
    transport.send("PUT", "/v2/a/b/manifests/t", scope=push, data=b"{}")
    assert [c[0] for c in stub.calls] == ["GET", "PUT"]  # cached: no 401, no token request
    assert {c[3] for c in stub.calls} == {7}  # the one timeout


def test_basic_is_answered_and_a_missing_password_is_one_line() -> None:
    class Basic:
        def request(self, method: str, url: str, **kwargs: Any) -> _Response:
            if (kwargs.get("headers") or {}).get("Authorization") == "Basic " + base64.b64encode(
                b"ci:s3cret"
            ).decode():
                return _Response(200)
            return _Response(401, {"WWW-Authenticate": 'Basic realm="r"'})

    assert _transport(Basic(), Credentials("ci", "s3cret")).send("GET", "/v2/").status == 200
    assert Repository(_transport(Basic()), "a/b").ping()  # a 401 /v2/ is a registry
    with pytest.raises(PushError, match="needs credentials"):
        _transport(Basic()).send("GET", "/v2/")
    with pytest.raises(PushError, match="refused the credentials") as caught:
        _transport(Basic(), Credentials("ci", "wrong-s3cret")).send("GET", "/v2/")
    assert "s3cret" not in str(caught.value)


def test_429_waits_retry_after_and_a_reset_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = [_Response(429, {"Retry-After": "1"}), _Response(200)]

    class Busy:
        def request(self, method: str, url: str, **kwargs: Any) -> _Response:
            return answers.pop(0)

    slept: list[float] = []
    monkeypatch.setattr("time.sleep", slept.append)
    assert _transport(Busy()).send("GET", "/v2/").status == 200
    assert slept == [1.0]

    class Reset:
        def request(self, method: str, url: str, **kwargs: Any) -> _Response:
            raise requests.ConnectionError("reset by peer for https://u:s3cret@x")

    with pytest.raises(RegistryUnavailable) as caught:
        _transport(Reset()).send("GET", "/v2/")
    assert "\n" not in str(caught.value) and "s3cret" not in str(caught.value)


def test_challenge_parsing_and_the_destination_value() -> None:
    challenge = parse_challenge('Bearer realm="https://a/t",service="r",scope="repository:x:pull"')
    assert (challenge.scheme, challenge.scope) == ("bearer", "repository:x:pull")
    one = Destination.of("127.0.0.1:5000", Credentials("ci", "s3cret"))
    assert one == Destination.of("127.0.0.1:5000", Credentials("ci", "s3cret"))
    assert one.transport is Destination.of("127.0.0.1:5000", Credentials("ci", "s3cret")).transport
    assert "s3cret" not in repr(one)
    assert one.repository("a/b").repository == "a/b"
    assert one.engine_auth() == {"username": "ci", "password": "s3cret"}
