"""Pure shapes of the supply-chain artifacts: descriptors, the SBOM manifest, the referrers
index of the tag-schema fallback, and the cosign "simple signing" payload and manifest.

Sources of the shapes:
- OCI image-spec v1.1 ``manifest.md`` (``artifactType``, ``subject``, the empty config
  ``application/vnd.oci.empty.v1+json`` = ``{}``) and ``image-index.md``.
- OCI distribution-spec v1.1 ``spec.md``, "Referrers Tag Schema": on a registry without the
  referrers API the client keeps an image index under the tag ``<alg>-<ref>`` (``sha256-<hex>``)
  of the subject, listing one descriptor per referrer with ``artifactType`` and annotations.
- cosign ``pkg/cosign/payload`` / containers/image ``docs/containers-signature.5.md``
  ("sigstore" payloads): ``{"critical": {"identity": {"docker-reference": R},
  "image": {"docker-manifest-digest": D}, "type": "cosign container image signature"},
  "optional": null}``; the signature travels as a layer of media type
  ``application/vnd.dev.cosign.simplesigning.v1+json`` in the manifest tagged
  ``sha256-<hex>.sig`` with the base64 signature in the annotation
  ``dev.cosignproject.cosign/signature`` (containers/image ``docker/docker_image_src.go``
  ``appendSigstoreSignatures`` reads exactly that).
Every function here is pure (bytes and dicts in, bytes and dicts out).
"""

from __future__ import annotations

import json
from typing import Any

# The generic digest/descriptor/referrers-index facts live in the registry seam
# (:mod:`..registry.content`); the artifact shapes below are built from them.
from ..registry.content import (
    OCI_MANIFEST,
    canonical,
    check_digest,
    descriptor,
    fallback_tag,
    sha256,
)

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
EMPTY_CONFIG = "application/vnd.oci.empty.v1+json"
EMPTY_JSON = b"{}"
CYCLONEDX_JSON = "application/vnd.cyclonedx+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
COSIGN_SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
COSIGN_TYPE = "cosign container image signature"
TITLE = "org.opencontainers.image.title"


def sbom_manifest(
    subject: dict[str, Any], sbom: bytes, *, filename: str, annotations: dict[str, str]
) -> dict[str, Any]:
    """The OCI image manifest that carries an SBOM and refers to ``subject``.

    Shape (image-spec v1.1 "Guidelines for Artifact Usage", artifactType set, empty config):
    one layer of ``application/vnd.cyclonedx+json`` titled ``filename``.
    """
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": CYCLONEDX_JSON,
        "config": descriptor(EMPTY_CONFIG, EMPTY_JSON),
        "layers": [descriptor(CYCLONEDX_JSON, sbom, annotations={TITLE: filename})],
        "subject": subject,
        "annotations": dict(annotations),
    }


def signature_tag(digest: str) -> str:
    """cosign's signature tag of a digest: ``sha256-<hex>.sig``."""
    return fallback_tag(digest) + ".sig"


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The cosign / containers-signature "sigstore" payload bytes that get signed.

    ``docker_reference`` is the repository (``HOST[:PORT]/PATH``, no tag), as cosign writes it;
    a policy matches it with ``signedIdentity: matchRepository``.
    """
    return canonical(
        {
            "critical": {
                "identity": {"docker-reference": docker_reference},
                "image": {"docker-manifest-digest": check_digest(digest)},
                "type": COSIGN_TYPE,
            },
            "optional": None,
        }
    )


def parse_payload(payload: bytes) -> tuple[str, str]:
    """(docker-reference, docker-manifest-digest) of a payload; ValueError when malformed."""
    try:
        document = json.loads(payload)
        critical = document["critical"]
        if critical["type"] != COSIGN_TYPE:
            raise ValueError(f"payload type {critical['type']!r}")
        return str(critical["identity"]["docker-reference"]), check_digest(
            str(critical["image"]["docker-manifest-digest"])
        )
    except (KeyError, TypeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not a cosign simple-signing payload ({type(exc).__name__})") from None


def signature_config(payload: bytes) -> bytes:
    """The small image config cosign writes for a signature manifest (rootfs = the payload)."""
    return canonical(
        {
            "architecture": "",
            "os": "",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256(payload)]},
        }
    )


def signature_manifest(payload: bytes, signature_b64: str) -> dict[str, Any]:
    """The manifest under ``sha256-<hex>.sig``: one simple-signing layer per signature."""
    return {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": descriptor(OCI_CONFIG, signature_config(payload)),
        "layers": [
            descriptor(
                SIMPLE_SIGNING,
                payload,
                annotations={COSIGN_SIGNATURE_ANNOTATION: signature_b64},
            )
        ],
    }
