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
