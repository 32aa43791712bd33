"""Nothing changed, nothing done: a second `invoke release` finds the image by its inputs.

Podman only (one release costs a lock check, a build and the in-image suite). A changed
template (a comment, in the private copy of the definition's folder) rebuilds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import RegistryClient

from .test_cli import SAMPLE, _invoke, private_definition  # noqa: F401 - the fixture

pytestmark = pytest.mark.engine


def _release(definition: Path, registry: str, build_dir: Path):
    return _invoke(
        "release", "--engine", "podman", "--stand-in", "--stand-in-registry", registry,
        "--registry", registry, "--definition", str(definition), "--from", str(SAMPLE), "--json",
        build_dir=build_dir,
    )  # fmt: skip


def test_a_second_release_with_nothing_changed_does_nothing(
    private_definition: Path,  # noqa: F811 - the fixture imported above
    registry: str,
    tmp_path: Path,
) -> None:
    try:
        podman = engines.PodmanEngine.connect()
    except engines.EngineError as exc:
        pytest.skip(f"podman not available: {exc}")
    build_dir = tmp_path / "build"
    client = RegistryClient(registry)
    first = _release(private_definition, registry, build_dir)
    doc = json.loads(first.stdout) if first.returncode == 0 else {}
    repository = ImageRef.parse(doc["image"]).repository if doc else ""
    try:
        assert first.returncode == 0, first.stderr[-3000:]
        assert doc["skipped"] == []
        tags = client.tags(repository)
        digests = {t: client.manifest_digest(ImageRef(registry, repository, t)) for t in tags}

        second = _release(private_definition, registry, build_dir)
        assert second.returncode == 0, second.stderr[-3000:]
        again = json.loads(second.stdout)
        assert "already released with these inputs; nothing to do" in second.stderr
        for word in ("building", "locking", "in-image tests passed", "pushing"):
            assert word not in second.stderr, word
        assert again["skipped"] == ["lock", "build", "test", "push"]
        assert again["digest"] == doc["digest"] and again["patch"] == doc["patch"]
        assert client.tags(repository) == tags
        assert {t: client.manifest_digest(ImageRef(registry, repository, t)) for t in tags} == (
            digests
        )

        # Only the template changed: no lock check (its inputs are the same), a rebuild.
        template = private_definition.parent / "Dockerfile.j2"
        template.write_text(template.read_text() + "# a comment changes the input key\n")
        third = _release(private_definition, registry, build_dir)
        assert "nothing to do" not in third.stderr
        assert "lock check skipped" in third.stderr and "locking" not in third.stderr
        assert "building" in third.stderr, third.stderr[-3000:]
        # A release never moves an immutable tag: the rebuilt image is refused at the push.
        assert third.returncode == 1
        assert "already holds another image" in third.stderr
        assert client.tags(repository) == tags
    finally:
        for digest in {d for d in (
            client.manifest_digest(ImageRef(registry, repository, t))
            for t in client.tags(repository)
        ) if d}:  # fmt: skip
            client.delete(ImageRef(registry, repository, digest=digest))
        for image in podman.images_labelled("org.opencontainers.image.title=ray-swe-fleet"):
            if any(repository in tag for tag in image.get("RepoTags") or []):
                podman.remove_image(str(image["Id"]))
        podman.close()
