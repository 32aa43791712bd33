"""Pure OCI content facts the registry seam needs: media types, digests, descriptors, and
the referrers index of the tag-schema fallback.

Sources: OCI image-spec v1.1 ``descriptor.md``, ``manifest.md`` (``subject``,
``artifactType``) and ``image-index.md``; OCI distribution-spec v1.1 ``spec.md``
("Listing Referrers"; "Referrers Tag Schema": on a registry without the referrers API the
client keeps an image index under the tag ``sha256-<hex>`` of the subject, one descriptor
per referrer with ``artifactType`` and annotations). Every function is pure.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = ", ".join([OCI_INDEX, DOCKER_LIST, OCI_MANIFEST, DOCKER_MANIFEST])
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(document: dict[str, Any]) -> bytes:
    """The bytes pushed for a document: sorted keys, no spaces (same input, same digest)."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def check_digest(digest: str) -> str:
    """``sha256:<64 hex>`` or ValueError naming what was given."""
    if not _DIGEST.match(digest):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return digest


def is_digest(reference: str) -> bool:
    return bool(_DIGEST.match(reference))


def descriptor(
    media_type: str,
    data: bytes,
    *,
    artifact_type: str | None = None,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An OCI content descriptor of ``data`` (size in bytes, sha256 digest)."""
    out: dict[str, Any] = {"mediaType": media_type, "digest": sha256(data), "size": len(data)}
    if artifact_type:
        out["artifactType"] = artifact_type
    if annotations:
        out["annotations"] = dict(annotations)
    return out


def subject_descriptor(media_type: str, digest: str, size: int) -> dict[str, Any]:
    """The descriptor of the image manifest a referrer points at."""
    return {"mediaType": media_type, "digest": check_digest(digest), "size": int(size)}


def fallback_tag(digest: str) -> str:
    """The referrers tag-schema tag of a subject digest: ``sha256:abc…`` -> ``sha256-abc…``."""
    algorithm, _, encoded = check_digest(digest).partition(":")
    return f"{algorithm}-{encoded}"


def referrer_descriptor(manifest_bytes: bytes, manifest: dict[str, Any]) -> dict[str, Any]:
    """The descriptor of a pushed referrer manifest as the referrers list holds it:
    artifactType (else the config's media type) and the manifest's annotations copied."""
    artifact_type = manifest.get("artifactType") or (manifest.get("config") or {}).get("mediaType")
    return descriptor(
        manifest.get("mediaType", OCI_MANIFEST),
        manifest_bytes,
        artifact_type=artifact_type,
        annotations=manifest.get("annotations") or None,
    )


def referrers_index(existing: dict[str, Any] | None, added: dict[str, Any]) -> dict[str, Any]:
    """The fallback tag's image index with ``added`` in it (once: a repeated digest is replaced).

    ``existing`` is what the tag held (None when absent); its other entries are kept in order.
    """
    kept = [
        entry
        for entry in ((existing or {}).get("manifests") or [])
        if isinstance(entry, dict) and entry.get("digest") != added["digest"]
    ]
    return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [*kept, added]}


def referrers_of(index: dict[str, Any] | None, artifact_type: str) -> list[dict[str, Any]]:
    """The descriptors of ``artifact_type`` in a referrers index (API answer or fallback tag)."""
    return [
        entry
        for entry in ((index or {}).get("manifests") or [])
        if isinstance(entry, dict) and entry.get("artifactType") == artifact_type
    ]
