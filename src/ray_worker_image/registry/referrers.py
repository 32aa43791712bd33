"""Referrers: attach a manifest to a subject, list them, take them back, safely.

OCI distribution-spec v1.1 ``spec.md``:
- "Pushing Manifests with Subject": a registry that indexes referrers itself answers the
  manifest PUT with ``OCI-Subject: <subject digest>``; without that header the client
  must keep the "Referrers Tag Schema" fallback: an image index under the tag
  ``sha256-<hex>`` of the subject listing the referrers. The choice is made from that
  answer, never assumed.
- The fallback tag is shared ground: some registries keep it pointing elsewhere
  (GitLab: oras-project/oras-go#1396). Its content is checked before it is trusted or
  extended: it must be an OCI image index whose entries are manifests with ``subject`` =
  ours. Entries that are not ours are dropped when the index is rebuilt; a tag holding
  anything else (an image manifest, say) is refused.
- Clean-up deletes only manifests this run created (or, taking a release back, manifests
  whose ``subject`` is the digest), each checked by digest, and never the subject itself.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from ..errors import PushError
from . import content
from .repository import Repository


@dataclass(frozen=True)
class Attached:
    """What an attach wrote: the referrer's digest, the fallback tag (None when the
    registry indexed it), and entries dropped from a foreign fallback index."""

    manifest_digest: str
    fallback_tag: str | None
    dropped: tuple[str, ...] = field(default=())


class ForeignFallbackTag(PushError):
    """The referrers fallback tag holds something that is not a referrers index."""


def _refers_to(repo: Repository, digest: str, subject: str) -> bool:
    """The manifest ``digest`` exists and its ``subject`` is ``subject``."""
    if not content.is_digest(digest) or digest == subject:
        return False
    found = repo.manifest(digest)
    return found is not None and (found[1].get("subject") or {}).get("digest") == subject


def fallback_index(
    repo: Repository, subject: str
) -> tuple[dict[str, Any] | None, str | None, tuple[str, ...]]:
    """(checked index, digest the tag held, dropped entries) of ``subject``'s fallback tag.

    The index keeps only entries whose manifest refers to ``subject``. Raises
    ForeignFallbackTag (one line) when the tag holds something other than an OCI image index,
    PushError/RegistryUnavailable when the registry cannot be read.
    """
    tag = content.fallback_tag(subject)
    found = repo.manifest(tag)
    if found is None:
        return None, None, ()
    data, document = found
    held = content.sha256(data)
    if held == subject or document.get("mediaType") != content.OCI_INDEX:
        what = "the image itself" if held == subject else (document.get("mediaType") or "?")
        raise ForeignFallbackTag(
            f"registry {repo.registry}: {repo.repository}:{tag} (the referrers fallback tag) "
            f"holds {what}, not a referrers index; the registry keeps that tag for something "
            "else: use a registry with the OCI referrers API, or move that tag"
        )
    kept: list[Any] = []
    dropped: list[Any] = []
    for entry in document.get("manifests") or []:
        digest = str(entry.get("digest")) if isinstance(entry, dict) else ""
        (kept if _refers_to(repo, digest, subject) else dropped).append(entry)
    index = {**document, "manifests": kept}
    return index, held, tuple(str(e.get("digest")) for e in dropped if isinstance(e, dict))


def attach(repo: Repository, subject: str, manifest: dict[str, Any]) -> Attached:
    """Push the referrer ``manifest`` (by digest; its ``subject`` must be ``subject``) and,
    when the registry's answer lacks ``OCI-Subject``, keep the fallback index current.

    A failure after the referrer's PUT deletes the referrer again when this run created it
    (checked by digest, never the subject; a failure of that clean-up is not reported over
    the first), then raises the first one-line PushError.
    """
    if (manifest.get("subject") or {}).get("digest") != subject:
        raise PushError(f"internal: the referrer's subject is not {subject[:19]}")
    body = content.canonical(manifest)
    digest = content.sha256(body)
    existed = repo.manifest_digest(digest) is not None
    put = repo.put_manifest(body, str(manifest.get("mediaType") or content.OCI_MANIFEST))
    created = () if existed else (digest,)
    if put.subject == subject:
        return Attached(digest, None)
    tag = content.fallback_tag(subject)
    try:
        index, _held, dropped = fallback_index(repo, subject)
        entry = content.referrer_descriptor(body, manifest)
        repo.push_manifest(content.referrers_index(index, entry), tag)
    except PushError:
        with contextlib.suppress(PushError):
            for mine in created:
                if mine != subject and _refers_to(repo, mine, subject):
                    repo.delete_manifest(mine)
        raise
    return Attached(digest, tag, dropped)


def referrers(repo: Repository, subject: str) -> tuple[dict[str, Any] | None, str]:
    """(index, where it came from): the referrers API, else the fallback tag (its entries
    checked: only manifests that refer to ``subject``). None when there is none."""
    index = repo.referrers_api(subject)
    if index is not None:
        return index, "referrers API"
    tag = content.fallback_tag(subject)
    try:
        checked, _held, _dropped = fallback_index(repo, subject)
    except ForeignFallbackTag:
        return None, f"tag {tag}"
    return checked, f"tag {tag}"


def remove(repo: Repository, subject: str, tags: tuple[str, ...] = ()) -> list[str]:
    """Take back what refers to ``subject``: the verified referrers of its fallback index,
    the index itself, and the manifests under ``tags`` (e.g. cosign's ``.sig``) that are
    not the subject. Returns the digests deleted; the subject is never among them."""
    deleted: list[str] = []
    try:
        index, held, _dropped = fallback_index(repo, subject)
    except ForeignFallbackTag:
        index, held = None, None  # a foreign tag: not ours to delete
    for entry in (index or {}).get("manifests") or []:
        digest = str(entry.get("digest"))
        if digest != subject and repo.delete_manifest(digest):
            deleted.append(digest)
    if held and held != subject and repo.delete_manifest(held):
        deleted.append(held)
    for tag in tags:
        under = repo.manifest_digest(tag)
        if under and under != subject and repo.delete_manifest(under):
            deleted.append(under)
    return deleted
