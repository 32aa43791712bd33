"""The lock check's result reused within one run, by the inputs pip-compile reads.

The boundary stubbed is pip-compile in the base (compute_lock); the committed files, the
key, the folder and the stale comparison are the real ones.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from ray_worker_image import lock, lockcache, steps
from ray_worker_image.definition import load_variant
from ray_worker_image.lock import LockResult
from ray_worker_image.state import ResolvedBase

from ..conftest import ROOT

BASE = ResolvedBase(
    "rayproject/ray:2.49.2", "127.0.0.1:5000/rayproject/ray", "sha256:" + "a" * 64, True
)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    for folder in ("images", "requirements"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def _committed(root: Path) -> LockResult:
    reqs = load_variant(root=root).requirements
    return LockResult(
        reqs.constraints.read_text(), reqs.lock.read_text(), reqs.build_lock.read_text()
    )


def test_same_inputs_compile_once_and_any_input_compiles_again(repo: Path, tmp_path: Path) -> None:
    definition = load_variant(root=repo)
    calls: list[str] = []

    def compute() -> LockResult:
        calls.append("pip-compile")
        return _committed(repo)

    folder = str(tmp_path / "cache")
    first = lockcache.cached_lock(definition, BASE, None, compute, folder)
    again = lockcache.cached_lock(definition, BASE, None, compute, folder)
    assert (first[1], again[1]) == (False, True) and first[0] == again[0]
    assert len(calls) == 1
    other_base = ResolvedBase(BASE.name, BASE.source, "sha256:" + "b" * 64, True)
    assert lockcache.cached_lock(definition, other_base, None, compute, folder)[1] is False
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    assert lockcache.cached_lock(definition, BASE, ca, compute, folder)[1] is False
    shared = definition.requirements.input
    shared.write_text(shared.read_text() + "# edited\n")
    assert lockcache.cached_lock(definition, BASE, None, compute, folder)[1] is False
    assert len(calls) == 4
    assert lockcache.cached_lock(definition, BASE, None, compute, "")[1] is False  # off
    assert len(calls) == 5


def test_the_release_lock_check_compiles_once_per_run_and_still_sees_stale_locks(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    definition = load_variant(root=repo)
    calls: list[str] = []

    def compute_lock(d, engine, base, ca_cert) -> LockResult:  # pip-compile in the base
        calls.append(d.variant)
        fresh = _committed(repo)
        return LockResult(fresh.constraints, fresh.lock + "zzz==1.0\n", fresh.build_lock)

    monkeypatch.setattr(lock, "compute_lock", compute_lock)  # steps imports it lazily
    monkeypatch.setenv(lockcache.ENV, str(tmp_path / "run"))
    session = SimpleNamespace(
        definition=definition,
        engine=None,
        ca_cert=None,
        variant=definition.variant,
        resolve_base=lambda: BASE,
    )
    first = steps.lock_stale(session)  # type: ignore[arg-type]
    second = steps.lock_stale(session)  # type: ignore[arg-type]
    assert first == second and first and "zzz" in first[0]
    assert calls == [definition.variant]
