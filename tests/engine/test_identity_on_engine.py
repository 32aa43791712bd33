"""Issue 17 on each real engine: a pushed image identifies itself by its config labels.

Per engine, each variant is built once (the session's stand-in builds, shared with the other
engine tests) and pushed once to the loopback registry (module fixture); then `invoke patch`
gets the pushes by digest alone against a cluster of each variant: accepted when the
variants agree, refused naming both otherwise. Every build here is a stand-in build, so the
accepted paths pass --allow-stand-in, and one test shows the refusal without it. The tag
fallback (registry unreachable, or 404) is checked on the same digests. Registry tags and
engine tags made here are removed at the end.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image import labels as L
from ray_worker_image.raytag import RayTag
from ray_worker_image.refs import ImageRef
from ray_worker_image.state import PushRecord
from ray_worker_image.steps import do_push
from tests.refclient import RefClient

from ..conftest import ROOT, Builds

pytestmark = pytest.mark.engine
INVOKE = str(Path(sys.executable).parent / "invoke")
VARIANTS = ("2.49.2", "2.52.1-py311")
CLUSTERS = {
    "2.49.2": ROOT / "deploy/k8s/ray-gpu.yaml",
    "2.52.1-py311": ROOT / "tests/data/kuberay/variants/fleet-2.52.1-py311.yaml",
}


def patch(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, "patch", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )


def one_error(result: subprocess.CompletedProcess[str]) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, (
        result.stderr
    )  # a refused patch: an input error
    return errors[0]


@pytest.fixture(scope="module")
def pushes(builds: Builds, registry: str) -> Iterator[dict[str, PushRecord]]:
    """variant -> its push on this engine (one build and one push per variant)."""
    done: dict[str, PushRecord] = {}
    try:
        for variant in VARIANTS:
            record = do_push(
                builds.get(variant).session,
                registry=registry,
                username=None,
                skip_tests=True,
                allow_stand_in=False,
            )
            assert record is not None
            done[variant] = record
        yield done
    finally:
        client = RefClient(registry)
        for variant, record in done.items():
            client.delete(ImageRef(registry, record.repository, digest=record.digest))
            for tag in record.tags:
                builds.get(variant).session.engine.remove_image(
                    f"{registry}/{record.repository}:{tag}"
                )


def by_digest(record: PushRecord) -> str:
    return f"{record.registry}/{record.repository}@{record.digest}"


def test_pushes_carry_variant_labels(pushes: dict[str, PushRecord], registry: str) -> None:
    """Was: no variant, Ray version or Python label of the image's own."""
    for variant, record in pushes.items():
        found = RefClient(registry).labels(ImageRef.parse(by_digest(record)))
        assert found[L.VARIANT] == RayTag.parse(variant).canonical
        assert found[L.RAY_VERSION] == variant.split("-")[0]
        assert found[L.PYTHON] == ("3.11" if "py311" in variant else "3.9")
        assert found[L.STAND_IN] == "true"


@pytest.mark.parametrize("image_variant", VARIANTS)
@pytest.mark.parametrize("cluster_variant", VARIANTS)
def test_a_digest_only_reference_is_judged_by_its_labels(
    pushes: dict[str, PushRecord], image_variant: str, cluster_variant: str
) -> None:
    """Was: a digest alone was the definition's default variant (2.49.2): the 2.52.1-py311
    push went into the 2.49.2 cluster with exit 0, and was refused for the 2.52.1 one."""
    ref = by_digest(pushes[image_variant])
    result = patch("--from", str(CLUSTERS[cluster_variant]), "--image", ref, "--allow-stand-in")
    if image_variant == cluster_variant:
        assert result.returncode == 0, result.stderr
        assert ref in result.stdout
        assert "taken from its tag" not in result.stderr
    else:
        error = one_error(result)
        assert f"(variant {cluster_variant})" in error
        assert f"is variant {image_variant} " in error
        assert f"build variant {cluster_variant}" in error


def test_a_stand_in_push_is_refused_without_allow_stand_in(
    pushes: dict[str, PushRecord],
) -> None:
    """Was: patched into the cluster without a word."""
    ref = by_digest(pushes["2.49.2"])
    error = one_error(patch("--from", str(CLUSTERS["2.49.2"]), "--image", ref))
    assert "built on the offline stand-in" in error and "--allow-stand-in" in error
    assert one_error(patch("--image", ref))  # without --from too


def test_the_tag_decides_when_the_labels_cannot_be_read(
    pushes: dict[str, PushRecord], registry: str
) -> None:
    """Unreachable registry, and a digest the registry does not hold (404): the release tag
    (this project's grammar) classifies the image and the output says why."""
    digest = pushes["2.52.1-py311"].digest
    cluster = str(CLUSTERS["2.52.1-py311"])
    unreachable = f"127.0.0.1:9/swe-fleet/ray:2.52.1-py311-nats@{digest}"
    result = patch("--from", cluster, "--image", unreachable)
    assert result.returncode == 0, result.stderr
    assert (
        f"{unreachable}: variant 2.52.1-py311 taken from its tag, because its labels could"
        " not be read (registry 127.0.0.1:9: ConnectionError" in result.stderr
    )
    absent = f"{registry}/swe-fleet/ray:2.52.1-py311-nats@sha256:{'0f' * 32}"
    result = patch("--from", cluster, "--image", absent)
    assert result.returncode == 0, result.stderr
    assert "taken from its tag, because the registry has no image config for it" in result.stderr
    wrong = one_error(patch("--from", str(CLUSTERS["2.49.2"]), "--image", unreachable))
    assert "is variant 2.52.1-py311" in wrong
