"""`release --dry-run`: the digest a push would produce, learned without publishing."""

from __future__ import annotations

from . import console
from .refs import ImageRef
from .registry import Destination
from .session import Session


def rehearse_push(s: Session, refs: tuple[ImageRef, ...], image_id: str) -> str | None:
    """Learn the manifest digest a push would produce, on a loopback registry, then delete it.

    The digest only exists once an engine has written the manifest; pushing to a
    scratch repository on the loopback registry is the one way to know it without
    publishing anything.
    """
    scratch_registry = s.options.stand_in_registry
    scratch = ImageRef(scratch_registry, f"rehearsal/{refs[0].repository}", refs[0].tag)
    client = Destination.of(scratch_registry).repository(scratch.repository)
    if not client.ping():
        console.warn(f"dry run: no loopback registry at {scratch_registry}; digest unknown")
        return None
    try:
        s.engine.tag(image_id, scratch)
        digest = s.engine.push(scratch, auth=None, on_line=lambda _line: None, access=client.access)
        digest = client.manifest_digest(scratch) or digest
    finally:
        if (stored := client.manifest_digest(scratch)) is not None:
            client.delete_manifest(stored)
        s.engine.untag(str(scratch))
    return digest
