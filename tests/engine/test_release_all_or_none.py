"""A release of several variants is all or none: every variant's immutable tag is pushed
before any floating tag moves, and when one variant's push fails, the images already pushed
for the others are deleted again, so the registry holds nothing of the failed release."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import RegistryAccess, RegistryClient
from ray_worker_image.release import plan_release, push_immutable_all
from ray_worker_image.rollout import ClusterOptions

from ..conftest import ROOT, Builds

pytestmark = pytest.mark.engine
VARIANTS = load_definition(root=ROOT).names


@pytest.fixture
def tested_variants(builds: Builds) -> list:
    if len(VARIANTS) < 2:
        pytest.skip("the definition has one variant")
    return [(builds.get(v).session, builds.get(v).image, builds.tested(v)) for v in VARIANTS]


@pytest.fixture
def cleanup(registry: str) -> Iterator[list[ImageRef]]:
    pushed: list[ImageRef] = []
    yield pushed
    client = RegistryClient(RegistryAccess(registry))
    for ref in pushed:
        if client.manifest_digest(ref):
            client.delete(ref)


def _plan(registry: str, tested: list):
    sessions = [s for s, _b, _t in tested]
    return plan_release(
        sessions,
        ClusterOptions(name="ray-gpu", namespace="ray", groups=("gpu-workers",)),
        registry=registry,
        username=None,
        allow_stand_in=True,
        dry_run=False,
        out=None,
    )


def _tags(registry: str, tested: list) -> dict[str, list[str]]:
    client = RegistryClient(RegistryAccess(registry))
    repositories = {s.definition.target.repository for s, _b, _t in tested}
    return {repo: sorted(client.tags(repo)) for repo in repositories}


def test_immutable_tags_of_every_variant_first(
    engine: engines.Engine, registry: str, tested_variants: list, cleanup: list[ImageRef]
) -> None:
    records = push_immutable_all(_plan(registry, tested_variants), tested_variants)
    cleanup.extend(ImageRef(r.registry, r.repository, r.tags[0], r.digest) for r in records)
    assert len(records) == len(VARIANTS)
    client = RegistryClient(RegistryAccess(registry))
    for (s, built, _t), record in zip(tested_variants, records, strict=True):
        target = s.definition.target
        assert record.tags == (target.immutable_tag(built.revision),)
        # The floating tag has not moved: it does only once every variant is in.
        assert client.manifest_digest(ImageRef(registry, target.repository, target.tag)) is None


def test_a_failing_variant_takes_the_others_back_out(
    engine: engines.Engine, registry: str, tested_variants: list
) -> None:
    before = _tags(registry, tested_variants)
    session, built, tests = tested_variants[-1]
    missing = "sha256:" + "0" * 64  # an image the engine does not have: its push fails
    broken = [
        *tested_variants[:-1],
        (
            session,
            dataclasses.replace(built, image_id=missing),
            dataclasses.replace(tests, image_id=missing),
        ),
    ]
    with pytest.raises(PipelineError) as caught:
        push_immutable_all(_plan(registry, tested_variants), broken)
    message = str(caught.value)
    assert message.startswith(f"{session.variant}: image sha256:000")
    assert "all or none: removed the images already pushed for " + ", ".join(VARIANTS[:-1]) in (
        message
    )
    assert "\n" not in message
    assert _tags(registry, tested_variants) == before
