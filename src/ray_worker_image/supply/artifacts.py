"""Attach an SBOM to a pushed image digest, and find it again by that digest.

The SBOM goes up as an OCI image manifest with ``subject`` = the image's manifest
descriptor and ``artifactType: application/vnd.cyclonedx+json`` (shapes: :mod:`.oci`).
A registry with the referrers API (OCI distribution-spec v1.1) indexes it by itself; one
without it (distribution 2.8, the loopback registry) gets the spec's "Referrers Tag
Schema" fallback: the image index under tag ``sha256-<hex>`` of the subject is read,
extended and written back. Readers ask the referrers API first, then that tag.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import PushError
from . import oci
from .transport import ArtifactStore


@dataclass(frozen=True)
class Attached:
    """What an attach wrote: the SBOM manifest's digest and the fallback tag (or None)."""

    manifest_digest: str
    fallback_tag: str | None


def subject_of(store: ArtifactStore, digest: str) -> dict[str, Any]:
    """The descriptor of the image manifest ``digest`` as the registry serves it."""
    found = store.manifest(oci.check_digest(digest))
    if found is None:
        raise PushError(
            f"registry {store.access.registry}: {store.repository}@{digest} does not exist; "
            "push the image first"
        )
    data, document = found
    media_type = str(document.get("mediaType") or oci.OCI_MANIFEST)
    return oci.subject_descriptor(media_type, digest, len(data))


def attach_referrer(
    store: ArtifactStore, subject_digest: str, manifest: dict[str, Any]
) -> Attached:
    """Push a referrer manifest (by digest) and keep the referrers fallback tag current."""
    digest = store.push_manifest(manifest)
    if store.referrers_api(subject_digest) is not None:
        return Attached(digest, None)
    tag = oci.fallback_tag(subject_digest)
    existing = store.manifest(tag)
    entry = oci.referrer_descriptor(oci.canonical(manifest), manifest)
    store.push_manifest(oci.referrers_index(existing[1] if existing else None, entry), tag)
    return Attached(digest, tag)


def attach_sbom(
    store: ArtifactStore,
    subject_digest: str,
    sbom: bytes,
    *,
    filename: str,
    annotations: dict[str, str] | None = None,
) -> Attached:
    """Upload ``sbom`` and its manifest referring to ``subject_digest``. Raises PushError."""
    subject = subject_of(store, subject_digest)
    store.push_blob(oci.EMPTY_JSON, oci.EMPTY_CONFIG)
    store.push_blob(sbom, oci.CYCLONEDX_JSON)
    manifest = oci.sbom_manifest(subject, sbom, filename=filename, annotations=annotations or {})
    return attach_referrer(store, subject_digest, manifest)


def referrers(store: ArtifactStore, digest: str) -> tuple[dict[str, Any] | None, str]:
    """(index, where it came from): the referrers API, else the fallback tag."""
    index = store.referrers_api(digest)
    if index is not None:
        return index, "referrers API"
    tag = oci.fallback_tag(digest)
    found = store.manifest(tag)
    return (found[1] if found else None), f"tag {tag}"


def find_sbom(store: ArtifactStore, digest: str) -> tuple[bytes, str] | None:
    """(SBOM bytes, source) of the newest CycloneDX referrer of ``digest``; None when none.

    Each candidate is checked: its manifest's ``subject`` is ``digest`` and its blob
    matches the layer's digest.
    """
    index, source = referrers(store, digest)
    for entry in reversed(oci.referrers_of(index, oci.CYCLONEDX_JSON)):
        found = store.manifest(str(entry.get("digest")))
        if found is None:
            continue
        manifest = found[1]
        if (manifest.get("subject") or {}).get("digest") != digest:
            continue
        for layer in manifest.get("layers") or []:
            if layer.get("mediaType") == oci.CYCLONEDX_JSON:
                return store.blob(str(layer["digest"])), f"{source} -> {entry['digest'][:19]}"
    return None


def remove_attachments(store: ArtifactStore, digest: str) -> None:
    """Delete what refers to ``digest``: the referrers in its fallback index, the index, and
    its cosign signature manifest (tests, and a release taken back)."""
    for tag in (oci.fallback_tag(digest), oci.signature_tag(digest)):
        found = store.manifest(tag)
        if found is None:
            continue
        for entry in found[1].get("manifests") or []:
            store.delete_manifest(str(entry["digest"]))
        store.delete_manifest(oci.sha256(found[0]))
