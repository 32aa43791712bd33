"""Build records confirmed by the image's labels (records.built_image is pure)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.records import built_image

ROOT = Path(__file__).resolve().parents[2]
D = "sha256:" + "d" * 64
LABELS = {
    "org.opencontainers.image.revision": "0123456789abcdef",
    "org.opencontainers.image.created": "2026-01-01T00:00:00Z",
    "org.opencontainers.image.base.name": "docker.io/rayproject/ray:2.49.2",
    "org.opencontainers.image.base.digest": D,
    "io.github.ray-worker-image.base.source": "127.0.0.1:5000/rayproject/ray:2.49.2",
    "io.github.ray-worker-image.stand-in": "true",
    "io.github.ray-worker-image.requirements.sha256": "f" * 64,
}


def test_labels_describe_the_build() -> None:
    definition = load_definition(root=ROOT).variant(None)
    built = built_image(LABELS, "sha256:" + "e" * 64, "podman", definition)
    target = definition.target
    assert built.tags == (
        f"localhost/{target.repository}:{target.tag}",
        f"localhost/{target.repository}:{target.tag}-g0123456789ab",
    )
    assert built.base.pinned == f"127.0.0.1:5000/rayproject/ray:2.49.2@{D}"
    assert built.base.stand_in and built.lock_sha256 == "f" * 64


def test_an_image_without_the_labels_is_refused_in_one_line() -> None:
    definition = load_definition(root=ROOT).variant(None)
    labels = {k: v for k, v in LABELS.items() if "revision" not in k}
    with pytest.raises(PipelineError, match=r"lacks the pipeline's labels \(org.opencontainers"):
        built_image(labels, "sha256:" + "e" * 64, "docker", definition)


# -- derived build and push (find_built, pushed_image) with stubbed boundaries -------------

from ray_worker_image.build import local_tags  # noqa: E402
from ray_worker_image.records import find_built, pushed_image  # noqa: E402
from ray_worker_image.refs import ImageRef  # noqa: E402

REV = "0123456789abcdef0123456789abcdef01234567"
IMAGE_ID = "sha256:" + "e" * 64


class _Engine:
    name = "podman"

    def __init__(self, images: dict[str, dict]) -> None:
        self.images = images

    def image_exists(self, ref: str) -> bool:
        return ref in self.images

    def image_attrs(self, ref: str) -> dict:
        return self.images[ref]


def _attrs(revision: str = REV) -> dict:
    return {
        "Id": IMAGE_ID,
        "Config": {"Labels": {**LABELS, "org.opencontainers.image.revision": revision}},
    }


def test_the_build_is_the_engines_image_under_the_immutable_tag() -> None:
    definition = load_definition(root=ROOT).variant(None)
    tag = local_tags(definition, REV)[1]
    built = find_built(_Engine({tag: _attrs()}), definition, REV)  # type: ignore[arg-type]
    assert built.image_id == IMAGE_ID and built.revision == REV and built.tags[1] == tag


def test_an_image_built_by_the_other_engine_is_named_in_one_line() -> None:
    definition = load_definition(root=ROOT).variant(None)
    with pytest.raises(
        PipelineError, match=r"was built with docker, not podman; pass --engine docker"
    ):
        find_built(_Engine({}), definition, REV, lambda ref: "docker")  # type: ignore[arg-type]


def test_no_image_anywhere_says_run_build() -> None:
    definition = load_definition(root=ROOT).variant(None)
    with pytest.raises(PipelineError, match=r"run `invoke build --engine podman --variant 2.49.2`"):
        find_built(_Engine({}), definition, REV, lambda ref: None)  # type: ignore[arg-type]


class _Registry:
    """Stands in for a Destination and its repository (the HTTP boundary, in memory)."""

    registry = "127.0.0.1:5000"

    def __init__(self, tags: dict[str, str], config: str) -> None:
        self.served, self.config = tags, config

    def repository(self, _name: str) -> _Registry:
        return self

    def manifest_digest(self, ref: ImageRef) -> str | None:
        return self.served.get(ref.tag or "")

    def config_digest(self, ref: ImageRef | str) -> str | None:
        return self.config


def test_the_push_counts_only_when_its_config_is_the_local_image() -> None:
    definition = load_definition(root=ROOT).variant(None)
    built = find_built(
        _Engine({local_tags(definition, REV)[1]: _attrs()}),
        definition,
        REV,  # type: ignore[arg-type]
    )
    immutable = definition.target.immutable_tag(REV)
    record = pushed_image(_Registry({immutable: D}, IMAGE_ID), definition, built)  # type: ignore[arg-type]
    assert record.digest == D and record.tags[1] == immutable
    assert record.by_tag_and_digest.endswith(f":{definition.target.tag}@{D}")
    with pytest.raises(PipelineError, match=r"not the local build .* run `invoke push"):
        pushed_image(_Registry({immutable: D}, "sha256:" + "1" * 64), definition, built)  # type: ignore[arg-type]
    with pytest.raises(
        PipelineError, match=r"is not in the registry.* run `invoke push --variant 2.49.2"
    ):
        pushed_image(_Registry({}, IMAGE_ID), definition, built)  # type: ignore[arg-type]
