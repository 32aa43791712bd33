"""Two pipelines needing the same missing stand-in build it once (pytest-xdist runs podman's
and Docker's lanes at once on a fresh machine). The engine, the registry, mmdebstrap and the
contract check are stubbed at their boundary; ensure_stand_in and its lock are the real ones.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any, ClassVar

import pytest

from ray_worker_image import standin
from ray_worker_image.definition import load_variant
from ray_worker_image.registry import Destination

from ..conftest import ROOT

DIGEST = "sha256:" + "5" * 64


class _Registry:
    """One loopback registry shared by both pipelines: labels appear once pushed."""

    labels_of: ClassVar[dict[str, dict[str, str]]] = {}

    def __init__(self, registry: str, *_: Any, **__: Any) -> None:
        self.registry = registry

    def ping(self) -> bool:
        return True

    @property
    def access(self) -> Any:
        return Destination.of(self.registry).access

    def labels(self, ref: Any) -> dict[str, str]:
        return dict(self.labels_of.get(str(ref), {}))

    def manifest_digest(self, ref: Any) -> str | None:
        return DIGEST if str(ref) in self.labels_of else None


class _Engine:
    name = "podman"

    def __init__(self) -> None:
        self.built: list[str] = []
        self.labels: dict[str, str] = {}

    def build(self, tar: bytes, tag: str, *, labels: dict[str, str], on_line: Any) -> str:
        self.built.append(tag)
        self.labels = labels
        time.sleep(0.3)  # long enough for the other pipeline to ask meanwhile
        return "sha256:" + "1" * 64

    def push(self, ref: Any, **_: Any) -> str:
        _Registry.labels_of[str(ref)] = self.labels
        return DIGEST


@pytest.fixture
def stubbed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    _Registry.labels_of = {}
    monkeypatch.setattr(Destination, "repository", lambda self, name: _Registry(self.registry))
    monkeypatch.setattr(standin, "_mmdebstrap", lambda target, suite: target.write_bytes(b"fs"))
    monkeypatch.setattr(standin, "check_image", lambda engine, image, expected: [])
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # the lock file lives in the temp folder
    monkeypatch.setattr(standin.tempfile, "tempdir", None)


def test_two_pipelines_build_a_missing_stand_in_once(stubbed: None) -> None:
    definition = load_variant(root=ROOT)
    engines = [_Engine(), _Engine()]
    results: list[standin.StandIn] = []

    def pipeline(engine: _Engine) -> None:
        results.append(
            standin.ensure_stand_in(
                definition,
                engine,
                registry="127.0.0.1:5000",
                ca_cert=None,  # type: ignore[arg-type]
            )
        )

    threads = [threading.Thread(target=pipeline, args=(e,)) for e in engines]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(len(e.built) for e in engines) == 1
    assert sorted(r.rebuilt for r in results) == [False, True]
    assert {str(r.ref) for r in results} == {f"127.0.0.1:5000/rayproject/ray:2.49.2@{DIGEST}"}
