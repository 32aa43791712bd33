"""`invoke add-variant 2.53.0-py311 --stand-in` in a clean clone, on each engine: the new base
is resolved (its stand-in built from Debian 12 and pip's resolution of ray[default]==2.53.0),
its constraints read, its locks written, and the definition gains one line; nothing else.

The command is the one `invoke status` advises (issue 21 point 3) for a fleet whose groups run
the new variant's base, `rayproject/ray:2.53.0-py311`: the test takes it from the row's advice
text. On one engine (podman when present, else Docker: the chain costs a release) it then
follows the row's advice to the end in the same clone: the diff committed, `status` says
`invoke release --variant V, then roll out`, that release (offline, into the loopback
registry), `status` says `roll out REF`, `invoke patch --write FLEET --image REF`, and `status`
says `up to date` with exit 0. Every command is read from the advice, so a wrong advice fails.

The clone releases under a private repository (committed before add-variant runs, so its diff
is add-variant's alone). The stand-in it builds is removed from the registry and the engines
afterwards, after the release that builds on it; the release's images, tags and attachments too.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_worker_image.definition import load_definition
from ray_worker_image.lock import parse_constraints, parse_lock
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination
from ray_worker_image.supply.artifacts import remove_attachments
from tests.refclient import RefClient

from ..conftest import ROOT, first_engine
from ..lanes import remove_at_run_end, shared_lock

pytestmark = pytest.mark.engine
INVOKE = str(Path(sys.executable).parent / "invoke")
NEW = "2.53.0-py311"
BASE = f"rayproject/ray:{NEW}"  # the new variant's official base: what the fleet runs
REPOSITORY_LINE = "  repository: swe-fleet/ray\n"  # images/ray-swe-fleet/image.yaml's target


@pytest.fixture(scope="module")
def stand_in_cleanup(registry: str) -> Iterator[None]:
    """The new stand-in is one repository of the shared registry. Within a run (pytest-xdist
    runs each engine's lane in its own worker) both lanes use it at once: the pipeline's own
    stand-in lock lets the first build it and the other reuse it, and it is removed when the
    whole run ends. Outside a run, one test at a time holds it and removes it afterwards."""
    ref = ImageRef.parse(f"{registry}/rayproject/ray:{NEW}")
    if remove_at_run_end(registry, str(ref)):
        yield
        return
    with shared_lock(str(ref)):
        yield
        _remove_from_registry(registry, ref)


def _remove_from_registry(registry: str, ref: ImageRef) -> None:
    client = RefClient(registry)
    if (digest := client.manifest_digest(ref)) is not None:
        client.delete(ref.with_digest(digest))


def _git(clone: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=clone, capture_output=True, text=True, check=True
    ).stdout


def private_repository(clone: Path) -> str:
    """The clone's releases go to a repository of their own (committed: a clean revision)."""
    path = clone / "images/ray-swe-fleet/image.yaml"
    text = path.read_text()
    assert text.count(REPOSITORY_LINE) == 1, "the definition's target repository line moved"
    repository = f"swe-fleet/ray-chain-{uuid.uuid4().hex[:8]}"
    path.write_text(text.replace(REPOSITORY_LINE, f"  repository: {repository}\n"))
    commit(clone, "tests: a private release repository")
    return repository


def commit(clone: Path, message: str) -> None:
    _git(clone, "add", "--all")
    who = ("-c", "user.name=test", "-c", "user.email=test@localhost")
    _git(clone, *who, "commit", "--quiet", "--message", message)


def fleet_on_the_new_base(path: Path) -> Path:
    """The fleet's manifest (deploy/k8s/ray-gpu.yaml) with every group on ``BASE``."""
    raw = yaml.safe_load((ROOT / "deploy/k8s/ray-gpu.yaml").read_text())
    spec = raw["spec"]
    spec["rayVersion"] = "2.53.0"
    for group in (spec["headGroupSpec"], *spec["workerGroupSpecs"]):
        group["template"]["spec"]["containers"][0]["image"] = BASE
    path.write_text(yaml.safe_dump(raw))
    return path


def run(clone: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, *args],
        cwd=clone,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=2400,
    )


def status(clone: Path, env: dict[str, str], fleet: Path, registry: str, code: int) -> list[Any]:
    """``invoke status --from FLEET --json`` in the clone: its rows, after checking its exit."""
    done = run(clone, env, "status", "--from", str(fleet), "--registry", registry, "--json")
    assert done.returncode == code, done.stderr[-3000:]
    rows: list[Any] = json.loads(done.stdout)
    assert [r["group"] for r in rows] == ["headgroup", "gpu-workers"], rows
    return rows


def advised(rows: list[Any], action: str) -> tuple[list[str], str]:
    """The command every row advises (they agree) as argv, and what the advice says follows."""
    assert {r["action"] for r in rows} == {action}, rows
    (advice,) = {r["advice"] for r in rows}
    command, _, then = advice.partition(", then ")
    return shlex.split(command), then


def test_add_variant_leaves_a_reviewable_diff(
    engine, registry: str, stand_in_cleanup: None, tmp_path: Path
) -> None:
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    repository = private_repository(clone)
    env = {**os.environ, "RAY_IMAGE_BUILD_DIR": str(tmp_path / "build")}
    fleet = fleet_on_the_new_base(tmp_path / "fleet.yaml")
    argv, then = advised(status(clone, env, fleet, registry, code=1), "add-variant")
    assert argv == ["invoke", "add-variant", NEW] and then == "release and roll out"
    offline = ("--stand-in", "--stand-in-registry", registry, "--engine", engine.name)
    stand_in = ImageRef.parse(f"{registry}/rayproject/ray:{NEW}")
    released: dict[str, Any] = {}
    try:
        result = run(clone, env, *argv[1:], *offline)
        assert result.returncode == 0, result.stderr[-3000:]
        assert f"added variant {NEW}" in result.stderr
        reviewable_diff(clone)
        if engine.name == first_engine():
            began = time.monotonic()
            follow_the_advice_to_the_end(clone, env, fleet, registry, offline, released)
            print(f"chain after add-variant on {engine.name}: {time.monotonic() - began:.0f} s")
            assert released["image"].startswith(f"{registry}/{repository}:")
    finally:
        if released:
            remove_release(engine, registry, released)
        digest = RefClient(registry).manifest_digest(stand_in)
        if digest:
            engine.remove_image(f"{stand_in.registry}/{stand_in.repository}@{digest}")
        engine.remove_image(str(stand_in))


def reviewable_diff(clone: Path) -> None:
    """The definition gained exactly one line; comments and layout are untouched; the new
    variant's locks were read from its own (Python 3.11, Ray 2.53.0) base."""
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

    variant = load_definition(root=clone).variant(NEW)
    constraints = parse_constraints(variant.requirements.constraints.read_text())
    assert constraints["ray"] == "2.53.0"
    lock = parse_lock(variant.requirements.lock.read_text())
    assert lock["nats-py"].version == "2.10.0" and all(p.hashes for p in lock.values())
    assert "with Python 3.11" in variant.requirements.lock.read_text()
    moved = {n for n, p in lock.items() if n in constraints and constraints[n] != p.version}
    assert not moved


def follow_the_advice_to_the_end(
    clone: Path,
    env: dict[str, str],
    fleet: Path,
    registry: str,
    offline: tuple[str, ...],
    released: dict[str, Any],
) -> None:
    """Review and commit the diff; release as the row says; roll out as the row says; then
    every row is up to date. ``released`` gets the release's JSON document (for clean-up)."""
    commit(clone, f"add variant {NEW}")
    argv, then = advised(status(clone, env, fleet, registry, code=1), "release")
    assert argv == ["invoke", "release", "--variant", NEW] and then == "roll out"
    done = run(clone, env, *argv[1:], *offline, "--registry", registry, "--json")
    if done.returncode == 0:
        released.update(json.loads(done.stdout))
    assert done.returncode == 0, done.stderr[-3000:]
    assert released["variant"] == NEW and released["base"]["stand_in"] is True
    assert released["tests"]["passed"] is True

    rows = status(clone, env, fleet, registry, code=1)
    argv, then = advised(rows, "roll-out")
    assert argv[:2] == ["roll", "out"] and len(argv) == 3 and then == ""
    ref = argv[2]  # the reference invoke patch writes by default: the floating tag and digest
    assert ref == f"{released['image']}@{released['digest']}"
    assert {(r["release"], r["nats_py"]) for r in rows} == {(False, False)}  # the plain base
    # "roll out REF" in GitOps (docs/status.md "The actions"): patch the fleet's file.
    patched = run(
        clone, env, "patch", "--write", str(fleet), "--image", ref, "--allow-stand-in",
        "--registry", registry,
    )  # fmt: skip
    assert patched.returncode == 0, patched.stderr[-3000:]

    rows = status(clone, env, fleet, registry, code=0)
    assert {(r["action"], r["advice"], r["image"]) for r in rows} == {
        ("up-to-date", "up to date", ref)
    }
    assert {(r["release"], r["nats_py"], r["variant_from"], r["stand_in"]) for r in rows} == {
        (True, True, "labels", True)  # a release on the stand-in base, read from its labels
    }


def remove_release(engine: Any, registry: str, doc: dict[str, Any]) -> None:
    """The release's registry manifest (its tags with it), attachments and engine images."""
    ref = ImageRef.parse(doc["image"])
    store = Destination.of(registry).repository(ref.repository)
    remove_attachments(store, doc["digest"])  # the SBOM (and signature) it attached
    RefClient(registry).delete(ref.with_digest(doc["digest"]))
    for tag in doc["tags"]:
        engine.remove_image(tag)
    engine.remove_image(doc["image_id"])
