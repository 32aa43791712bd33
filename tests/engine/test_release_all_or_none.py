"""A release of several variants is all or none: every variant's immutable tag is pushed,
then every variant's SBOM attached and signature made, before any floating tag moves; when
one variant's push or SBOM fails, the images (and SBOMs and signatures) already pushed for
the others are deleted again, so the registry holds nothing of the failed release."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image import engine as engines
from ray_worker_image import release_supply
from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import RegistryAccess
from ray_worker_image.release_plan import plan_release
from ray_worker_image.release_supply import push_immutable_all
from ray_worker_image.rollout import ClusterOptions
from ray_worker_image.supply import sign
from tests.refclient import RefClient

from ..conftest import ROOT, Builds

pytestmark = pytest.mark.engine
VARIANTS = load_definition(root=ROOT).names


@pytest.fixture
def tested_variants(builds: Builds) -> list:
    if len(VARIANTS) < 2:
        pytest.skip("the definition has one variant")
    return [(builds.get(v).session, builds.get(v).image, builds.tested(v)) for v in VARIANTS]


@pytest.fixture
def cleanup(
    engine: engines.Engine, registry: str, tested_variants: list
) -> Iterator[list[ImageRef]]:
    """Registry manifests the test names, and the local registry-named tags a push made."""
    pushed: list[ImageRef] = []
    yield pushed
    client = RefClient(RegistryAccess(registry))
    for ref in pushed:
        if client.manifest_digest(ref):
            client.delete(ref)
    for _s, built, _t in tested_variants:
        if engine.image_exists(built.image_id):
            for tag in engine.image_attrs(built.image_id)["RepoTags"] or []:
                if tag.startswith(f"{registry}/"):
                    engine.untag(tag)


def _plan(registry: str, tested: list, out: str | None = None):
    sessions = [s for s, _b, _t in tested]
    return plan_release(
        sessions,
        ClusterOptions(name="ray-gpu", namespace="ray", groups=("gpu-workers",)),
        registry=registry,
        username=None,
        allow_stand_in=True,
        dry_run=False,
        out=out,
    )


def _tags(registry: str, tested: list) -> dict[str, list[str]]:
    client = RefClient(RegistryAccess(registry))
    repositories = {s.definition.target.repository for s, _b, _t in tested}
    return {repo: sorted(client.tags(repo)) for repo in repositories}


def test_immutable_tags_of_every_variant_first(
    engine: engines.Engine, registry: str, tested_variants: list, cleanup: list[ImageRef]
) -> None:
    records, _supplied = push_immutable_all(
        _plan(registry, tested_variants), tested_variants, supply_step=lambda *_a: {}
    )
    cleanup.extend(ImageRef(r.registry, r.repository, r.tags[0], r.digest) for r in records)
    assert len(records) == len(VARIANTS)
    client = RefClient(RegistryAccess(registry))
    for (s, built, _t), record in zip(tested_variants, records, strict=True):
        target = s.definition.target
        assert record.tags == (target.immutable_tag(built.revision),)
        # The floating tag has not moved: it does only once every variant is in.
        assert client.manifest_digest(ImageRef(registry, target.repository, target.tag)) is None


def test_a_failing_variant_takes_the_others_back_out(
    engine: engines.Engine, registry: str, tested_variants: list, cleanup: list[ImageRef]
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


def test_a_failing_sbom_takes_back_every_image_sbom_and_signature(
    engine: engines.Engine,
    registry: str,
    tested_variants: list,
    cleanup: list[ImageRef],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The earlier variants get their real SBOM (made in the image, attached by referrer
    fallback tag) and signature; the last variant's SBOM fails (injected at the supply
    step): every new tag, SBOM, signature and SBOM file is gone again, no floating tag."""
    key = tmp_path / "key.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv(sign.KEY_ENV, str(key))
    monkeypatch.delenv(sign.PASSPHRASE_ENV, raising=False)
    before = _tags(registry, tested_variants)
    out = tmp_path / "out"
    made: list[dict] = []
    last = VARIANTS[-1]

    def supply_step(plan, s, record):  # type: ignore[no-untyped-def]
        if s.variant == last:
            raise PipelineError("SBOM: cyclonedx-py failed inside the image (injected)")
        made.append(release_supply.attach_supply(plan, s, record))
        assert _tags(registry, tested_variants) != before  # the image, SBOM, signature are in
        return made[-1]

    with pytest.raises(PipelineError) as caught:
        push_immutable_all(
            _plan(registry, tested_variants, out=str(out)), tested_variants, supply_step=supply_step
        )
    message = str(caught.value)
    assert message.startswith(f"{last}: SBOM: cyclonedx-py failed"), message
    assert "all or none: removed the images already pushed for " + ", ".join(VARIANTS) in message
    assert "\n" not in message
    assert len(made) == len(VARIANTS) - 1 and all(m["signature"] for m in made)
    assert all(m["attestations"]["previous"] is None for m in made)  # .att made by the release
    assert _tags(registry, tested_variants) == before  # no -g tag, .sig, .att, sha256- index
    assert not list(out.rglob("*.cdx.json"))
