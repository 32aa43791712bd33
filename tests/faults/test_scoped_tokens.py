"""Scoped Bearer tokens (issue 20, point 1): push, SBOM and signature alike.

distribution's token auth (tests/faults/token_server.py in front of a real docker-registry)
grants exactly the scope asked. The engine pushes the image (`invoke push`); then the SBOM
referrer and the cosign signature go up through the registry seam, which first reads with a
pull token and must renew it with ``pull,push`` for the writes. Before the seam, the oras
client kept its first pull-only token and the SBOM failed blaming the credentials.
"""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image import engine as engines
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Credentials, Destination, content
from ray_worker_image.supply import artifacts, oci, sign
from ray_worker_image.supply.sbom import packages, parse_sbom

from .conftest import Registry, TinyImage, invoke
from .token_server import TokenServer

pytestmark = pytest.mark.engine


def test_push_sbom_and_signature_with_scoped_tokens(
    engine: engines.Engine,
    tiny: TinyImage,
    token_registry: tuple[Registry, TokenServer],
    password: str,
) -> None:
    registry, tokens = token_registry
    pushed = invoke(
        tiny.push_args(registry.address, "--username", "ci"),
        tiny.build_dir,
        RAY_IMAGE_REGISTRY_PASSWORD=password,
    )
    assert pushed.returncode == 0, pushed.stderr[-2000:]
    destination = Destination.of(registry.address, Credentials("ci", password))
    store = destination.repository(tiny.repository)
    store.check()  # a pull-scoped token first
    digest = store.manifest_digest(ImageRef.parse(tiny.tags[1]).tag or "")
    assert digest is not None
    asked = tokens.requests
    sbom = json.dumps(
        {"bomFormat": "CycloneDX", "components": [{"name": "nats-py", "version": "2.10.0"}]}
    ).encode()
    attached = artifacts.attach_sbom(store, digest, sbom, filename="sbom.cdx.json")
    assert attached.fallback_tag == content.fallback_tag(digest)  # distribution 2.8: no API
    key = ec.generate_private_key(ec.SECP256R1())
    assert sign.sign_digest(store, digest, key) == oci.signature_tag(digest)
    # the writes needed a wider scope than the reads: one more token, then reused per scope
    assert tokens.requests > asked
    fresh = Destination.of(registry.address, Credentials("ci", password))
    reader = fresh.repository(tiny.repository)
    found = artifacts.find_sbom(reader, digest)
    assert found is not None and packages(parse_sbom(found[0], "x")) == {"nats-py": "2.10.0"}
    assert "cosign signature" in sign.verify_digest(reader, digest, key.public_key())
    deleted = artifacts.remove_attachments(store, digest)
    assert digest not in deleted and len(deleted) >= 2  # the SBOM, its index, the signature
    assert store.manifest_digest(digest) == digest  # the image itself is untouched
    store.delete_manifest(digest)
    assert store.tags() == []
