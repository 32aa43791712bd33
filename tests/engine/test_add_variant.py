"""`invoke add-variant 2.53.0-py311 --stand-in` in a clean clone, on each engine: the new base
is resolved (its stand-in built from Debian 12 and pip's resolution of ray[default]==2.53.0),
its constraints read, its locks written, and the definition gains one line; nothing else.

The stand-in it builds is removed from the registry and the engines afterwards.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image.definition import load_definition
from ray_worker_image.lock import parse_constraints, parse_lock
from ray_worker_image.refs import ImageRef
from tests.refclient import RefClient

from ..conftest import ROOT
from ..lanes import remove_at_run_end, shared_lock

pytestmark = pytest.mark.engine
INVOKE = str(Path(sys.executable).parent / "invoke")
NEW = "2.53.0-py311"


@pytest.fixture(scope="module")
def stand_in_cleanup(registry: str) -> Iterator[None]:
    """The new stand-in is one repository of the shared registry: one lane at a time uses
    it (pytest-xdist runs each engine's lane in its own worker), the first builds it, the
    other reuses it, and it is removed when the whole run ends (or here, outside a run)."""
    ref = ImageRef.parse(f"{registry}/rayproject/ray:{NEW}")
    with shared_lock(str(ref)):
        yield
        if not remove_at_run_end(registry, str(ref)):
            _remove_from_registry(registry, ref)


def _remove_from_registry(registry: str, ref: ImageRef) -> None:
    client = RefClient(registry)
    if (digest := client.manifest_digest(ref)) is not None:
        client.delete(ref.with_digest(digest))


def _git(clone: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=clone, capture_output=True, text=True, check=True
    ).stdout


def test_add_variant_leaves_a_reviewable_diff(
    engine, registry: str, stand_in_cleanup: None, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    env = {**os.environ, "RAY_IMAGE_BUILD_DIR": str(tmp_path / "build")}
    try:
        result = subprocess.run(
            [
                INVOKE,
                "add-variant",
                NEW,
                "--stand-in",
                "--stand-in-registry",
                registry,
                "--engine",
                engine.name,
            ],
            cwd=clone,
            capture_output=True,
            text=True,
            env=env,
            check=False,
            timeout=2400,
        )
    finally:
        ref = ImageRef.parse(f"{registry}/rayproject/ray:{NEW}")
        digest = RefClient(registry).manifest_digest(ref)
        if digest:
            engine.remove_image(f"{ref.registry}/{ref.repository}@{digest}")
        engine.remove_image(str(ref))
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"added variant {NEW}" in result.stderr

    # The definition gained exactly one line; comments and layout are untouched.
    diff = _git(clone, "diff", "--unified=0", "images/ray-swe-fleet/image.yaml")
    added = [ln for ln in diff.splitlines() if ln.startswith("+") and not ln.startswith("+++")]
    removed = [ln for ln in diff.splitlines() if ln.startswith("-") and not ln.startswith("---")]
    assert added == [f'+  - name: "{NEW}"'] and removed == []
    new_files = set(_git(clone, "status", "--porcelain", "--untracked-files=all").splitlines())
    assert new_files == {
        " M images/ray-swe-fleet/image.yaml",
        f"?? images/stand-in/{NEW}/pins.txt",
        f"?? requirements/{NEW}/constraints.txt",
        f"?? requirements/{NEW}/ray-worker-build.txt",
        f"?? requirements/{NEW}/ray-worker.txt",
    }

    # The new variant loads, and its locks were read from its own (Python 3.11, Ray 2.53.0) base.
    variant = load_definition(root=clone).variant(NEW)
    constraints = parse_constraints(variant.requirements.constraints.read_text())
    assert constraints["ray"] == "2.53.0"
    lock = parse_lock(variant.requirements.lock.read_text())
    assert lock["nats-py"].version == "2.10.0" and all(p.hashes for p in lock.values())
    assert "with Python 3.11" in variant.requirements.lock.read_text()
    moved = {n for n, p in lock.items() if n in constraints and constraints[n] != p.version}
    assert not moved
