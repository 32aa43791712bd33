"""Issue 17 point 1: the image identifies itself (labels), else its tag (said), else --variant.

The registry is the one boundary stubbed here (a LabelReader); the engine tests read the
same labels from real pushes of both engines (tests/engine/test_identity_on_engine.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from ray_worker_image import labels as L
from ray_worker_image.definition import ImageDefinition, load_variant
from ray_worker_image.errors import PushError, RolloutError
from ray_worker_image.raytag import RayTag
from ray_worker_image.refs import ImageRef
from ray_worker_image.rollout import ClusterOptions, classify, plan_from_options
from ray_worker_image.rollout.identity import identify, variant_from_labels

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/kuberay"
D = "sha256:" + "d1" * 32
BY_DIGEST = f"registry.example.com/swe-fleet/ray@{D}"  # the careful operator's reference
FLEET_311 = str(DATA / "variants/fleet-2.52.1-py311.yaml")
CLUSTER_249 = str(ROOT / "deploy/k8s/ray-gpu.yaml")
LLM = str(DATA / "variants/ray-llm-2.49.2-py311-cu128.yaml")


def labels_of(variant: str, *, stand_in: bool = False, own: bool = True) -> dict[str, str]:
    tag = RayTag.parse(variant)
    out = {L.BASE_NAME: f"docker.io/rayproject/ray:{variant}", L.STAND_IN: str(stand_in).lower()}
    if own:
        out |= {L.VARIANT: tag.canonical, L.RAY_VERSION: tag.ray_version, L.PYTHON: tag.python}
    return out


def reader(found: Mapping[str, str] | None = None, error: str | None = None):  # type: ignore[no-untyped-def]
    def read(ref: ImageRef) -> Mapping[str, str] | None:
        if error:
            raise PushError(error)
        return found

    return read


@pytest.fixture(scope="module")
def definition() -> ImageDefinition:
    return load_variant(root=ROOT)  # the default variant, 2.49.2


def plan(definition: ImageDefinition, source: str | None, image: str, read, **kw):  # type: ignore[no-untyped-def]
    cluster = ClusterOptions(source, images=(image,), **kw)
    if source is None:
        cluster = ClusterOptions(None, "ray-gpu", "ray", ("gpu-workers",), images=(image,), **kw)
    return plan_from_options(definition, cluster, default_image=None, read=read)


def test_labels_tell_the_variant() -> None:
    assert variant_from_labels(labels_of("2.52.1-py311")) == RayTag.parse("2.52.1-py311")
    # an earlier build of this project: only the OCI base name
    assert variant_from_labels(labels_of("2.52.1-py311", own=False)) == RayTag.parse("2.52.1-py311")
    assert variant_from_labels({L.BASE_NAME: "rayproject/ray-llm:2.49.2-py311-cu128"}) == (
        RayTag.parse("2.49.2-py311-cu128")
    )
    assert variant_from_labels({"maintainer": "someone"}) is None


@pytest.mark.parametrize("variant", ["2.49.2", "2.52.1-py311"])
@pytest.mark.parametrize("cluster", [CLUSTER_249, FLEET_311])
def test_a_digest_only_reference_is_what_its_labels_say(
    definition: ImageDefinition, variant: str, cluster: str
) -> None:
    """Was: the definition's default variant (2.49.2) whatever the image was."""
    runs = "2.49.2" if cluster == CLUSTER_249 else "2.52.1-py311"
    read = reader(labels_of(variant))
    if variant == runs:
        done = plan(definition, cluster, BY_DIGEST, read)
        assert done.images["*"].variant == RayTag.parse(variant)
        assert not any("taken from its tag" in w for w in done.warnings)
    else:
        with pytest.raises(RolloutError, match=rf"variant {runs}\b.*is variant {variant}\b"):
            plan(definition, cluster, BY_DIGEST, read)


@pytest.mark.parametrize(
    "why",
    [
        "registry registry.example.com: ConnectionError at https://registry.example.com/v2",
        "registry registry.example.com refused the credentials (HTTP 401); check --username",
        "registry registry.example.com: access to /x denied (HTTP 403); ask for push rights",
        "registry registry.example.com: ReadTimeout at https://registry.example.com/v2",
    ],
)
def test_unreadable_image_falls_back_to_its_tag_and_says_so(why: str) -> None:
    ref = f"registry.example.com/swe-fleet/ray:2.52.1-py311-nats@{D}"
    found = identify(ref, reader(error=why), release_repository="swe-fleet/ray")
    assert found.how == "tag" and found.variant == RayTag.parse("2.52.1-py311")
    assert found.note is not None and "taken from its tag" in found.note and why in found.note


def test_404_and_foreign_images_fall_back_to_the_tag() -> None:
    ref = f"docker.io/rayproject/ray:2.52.1-py311@{D}"
    for read, why in ((reader(None), "404"), (reader({"maintainer": "x"}), "do not say")):
        found = identify(ref, read, release_repository="swe-fleet/ray")
        assert found.how == "tag" and found.note and why in found.note


def test_no_labels_no_tag_is_refused_unless_variant_is_declared(
    definition: ImageDefinition,
) -> None:
    """Was: a digest alone was the definition's variant, with exit 0."""
    down = reader(error="registry registry.example.com: ConnectionError")
    with pytest.raises(RolloutError, match=r"cannot tell which Ray variant.*pass --variant"):
        plan(definition, CLUSTER_249, BY_DIGEST, down)
    done = plan(definition, CLUSTER_249, BY_DIGEST, down, declared_variant="2.49.2")
    assert any("as --variant says" in w for w in done.warnings)
    with pytest.raises(RolloutError, match=r"variant 2\.49\.2\b.*is variant 2\.52\.1-py311"):
        plan(definition, CLUSTER_249, BY_DIGEST, down, declared_variant="2.52.1-py311")


def test_a_declared_variant_that_contradicts_the_labels_is_refused() -> None:
    with pytest.raises(RolloutError, match=r"labels say variant 2\.52\.1-py311 but --variant"):
        identify(
            BY_DIGEST,
            reader(labels_of("2.52.1-py311")),
            release_repository="swe-fleet/ray",
            declared=RayTag.parse("2.49.2"),
        )


def test_a_stand_in_build_is_refused_for_a_cluster_unless_allowed(
    definition: ImageDefinition,
) -> None:
    """Was: patched into any cluster without a word."""
    read = reader(labels_of("2.49.2", stand_in=True))
    for source in (CLUSTER_249, None):
        with pytest.raises(RolloutError, match=r"offline stand-in .*--allow-stand-in"):
            plan(definition, source, BY_DIGEST, read)
    done = plan(definition, CLUSTER_249, BY_DIGEST, read, allow_stand_in=True)
    assert any("stand-in" in w for w in done.warnings)


def test_every_rayproject_repository_is_classified() -> None:
    llm = classify("rayproject/ray-llm:2.49.2-py311-cu128")
    assert llm is not None and llm.is_gpu and llm.python == "3.11"
    assert classify("docker.io/rayproject/ray-ml:2.49.2-py311-gpu") == RayTag.parse(
        "2.49.2-py311-cu121"
    )
    assert classify("rayproject/ray-llm:latest") is None
    assert classify("someone/ray-llm:2.49.2") is None


def test_a_ray_llm_cluster_is_refused_for_the_cpu_image(definition: ImageDefinition) -> None:
    """Was: exit 0, the GPU py311 cluster moved to the CPU py39 image."""
    with pytest.raises(
        RolloutError, match=r"variant 2\.49\.2-py311-cu128\) but .* is variant 2\.49\.2 "
    ):
        plan(definition, LLM, BY_DIGEST, reader(labels_of("2.49.2")))
