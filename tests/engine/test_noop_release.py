"""Nothing changed, nothing done: a second `invoke release` finds the image by its inputs.

Podman only (one release costs a lock check, a build and the in-image suite). A found
release lacking its floating tag, signature or SBOM gets exactly those. A changed template
(a comment, in the private copy of the definition's folder) rebuilds.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from ray_worker_image import engine as engines
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination, RegistryAccess, content
from ray_worker_image.supply import artifacts, oci, sign
from ray_worker_image.supply.artifacts import remove_attachments
from tests.refclient import RefClient

from .test_cli import SAMPLE, _invoke, private_definition  # noqa: F401 - the fixture

pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("podman")]  # podman's lane


def _release(definition: Path, registry: str, build_dir: Path, **env: str):
    return _invoke(
        "release", "--engine", "podman", "--stand-in", "--stand-in-registry", registry,
        "--registry", registry, "--definition", str(definition), "--from", str(SAMPLE),
        "--nats-url", "nats://nats.ray.svc:4222", "--json",
        "--allow-stand-in", build_dir=build_dir, **env,
    )  # fmt: skip


def _completes_what_it_lacks(
    definition: Path, registry: str, build_dir: Path, doc: dict, key: Path
) -> None:
    """A found release is completed, never rebuilt: the floating tag moved elsewhere is put
    back (same manifest bytes), a missing signature and attestations are made once a key is
    set, a missing SBOM is made again from the local image."""
    ref = ImageRef.parse(doc["image"])
    floating = ref.with_tag(doc["tags"][0].rsplit(":", 1)[1])
    store = Destination(RegistryAccess(registry), None).repository(ref.repository)
    client = RefClient(registry)
    elsewhere = store.manifest(
        content.fallback_tag(doc["digest"])
    )  # the SBOM index: another digest
    assert elsewhere is not None
    store.put_tag(content.sha256(elsewhere[0]), floating.tag or "")
    assert client.manifest_digest(floating) != doc["digest"]
    signed = _release(definition, registry, build_dir, RAY_IMAGE_SIGNING_KEY=str(key))
    assert signed.returncode == 0, signed.stderr[-3000:]
    assert f"completed: {floating.tag} moved back to it, signed, attested" in signed.stderr
    assert "building" not in signed.stderr and "pushing" not in signed.stderr
    assert client.manifest_digest(floating) == doc["digest"]
    public = load_pem_private_key(key.read_bytes(), None).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    sign.verify_digest(store, doc["digest"], public)
    assert json.loads(signed.stdout)["supply"]["signature"] == oci.signature_tag(doc["digest"])
    # signed already, SBOM taken away: only the SBOM is made again (from the local image)
    sig = store.manifest(oci.signature_tag(doc["digest"]))
    assert sig is not None
    remove_attachments(store, doc["digest"])
    store.push_manifest(sig[1], oci.signature_tag(doc["digest"]))
    again = _release(definition, registry, build_dir, RAY_IMAGE_SIGNING_KEY=str(key))
    assert again.returncode == 0, again.stderr[-3000:]
    assert (
        "completed: SBOM attached" in again.stderr
        and "signed" not in again.stderr.split("completed:")[1].splitlines()[0]
        and "attested" not in again.stderr.split("completed:")[1].splitlines()[0]
    )
    assert artifacts.find_sbom(store, doc["digest"]) is not None


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
    client = RefClient(registry)
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
        key = tmp_path / "key.pem"
        key.write_bytes(
            ec.generate_private_key(ec.SECP256R1()).private_bytes(
                Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
            )
        )
        _completes_what_it_lacks(private_definition, registry, build_dir, doc, key)
        tags = client.tags(repository)  # now with the signature's tag

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
