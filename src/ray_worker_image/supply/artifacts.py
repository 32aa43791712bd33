"""Attach an SBOM to a pushed image digest, and find it again by that digest.

The SBOM goes up as an OCI image manifest with ``subject`` = the image's manifest
descriptor and ``artifactType: application/vnd.cyclonedx+json`` (shapes: :mod:`.oci`).
A registry with the referrers API (OCI distribution-spec v1.1) indexes it by itself; one
without it (distribution 2.8, the loopback registry) gets the spec's "Referrers Tag
Schema" fallback: the image index under tag ``sha256-<hex>`` of the subject is read,
extended and written back. Readers ask the referrers API first, then that tag.
"""

from __future__ import annotations

from typing import Any

from ..errors import PushError
from ..registry import Repository, content, referrers
from ..registry.referrers import Attached
from . import oci


def subject_of(store: Repository, digest: str) -> dict[str, Any]:
    """The descriptor of the image manifest ``digest`` as the registry serves it."""
    found = store.manifest(content.check_digest(digest))
    if found is None:
        raise PushError(
            f"registry {store.access.registry}: {store.repository}@{digest} does not exist; "
            "push the image first"
        )
    data, document = found
    media_type = str(document.get("mediaType") or content.OCI_MANIFEST)
    return content.subject_descriptor(media_type, digest, len(data))


def attach_sbom(
    store: Repository,
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
    return referrers.attach(store, subject_digest, manifest)


def find_sbom(store: Repository, digest: str) -> tuple[bytes, str] | None:
    """(SBOM bytes, source) of the newest CycloneDX referrer of ``digest``; None when none.

    Each candidate is checked: its manifest's ``subject`` is ``digest`` and its blob
    matches the layer's digest.
    """
    index, source = referrers.referrers(store, digest)
    for entry in reversed(content.referrers_of(index, oci.CYCLONEDX_JSON)):
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


def remove_attachments(store: Repository, digest: str) -> list[str]:
    """Delete what refers to ``digest``: the verified referrers in its fallback index, the
    index, and its cosign signature manifest (tests, and a release taken back); never the
    image ``digest`` itself (:func:`..registry.referrers.remove`). The digests deleted."""
    return referrers.remove(store, digest, (oci.signature_tag(digest),))
