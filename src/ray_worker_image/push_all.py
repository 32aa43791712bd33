"""All or none across variants: every variant's immutable tags pushed before any floating tag.

Split from :mod:`.push` (one image's push); this module runs several and takes back what a
failed run made (only manifests this run pushed under new tags, checked by digest).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .engine import Engine
from .errors import PipelineError, PushError
from .push import PushPlan, push_image
from .refs import ImageRef
from .registry import Destination, Repository
from .state import PushRecord


@dataclass(frozen=True)
class PushJob:
    """One variant's push: its name, the engine holding the image, the plan, the registry."""

    name: str
    engine: Engine
    plan: PushPlan
    destination: Destination


def push_immutable_first(
    jobs: list[PushJob],
    *,
    force: bool = False,
    then: Callable[[list[tuple[PushRecord, bool]]], None] | None = None,
) -> list[PushRecord]:
    """All or none across variants: every job's immutable tags, before any floating tag.

    When a job fails, the images the earlier jobs pushed under new tags are deleted again
    (nothing else pointed at them) and PushError names the job, the cause and what was
    removed or left. ``then`` runs once every immutable tag is in, with each record and
    whether its tag is new (what it attaches, e.g. SBOMs and signatures); when it raises
    PipelineError (after taking back what it made for the new ones) the new tags are
    deleted too. A failure later, while floating tags move, is manifest-only (every layer
    is in by then); a rerun completes it.
    """
    done: list[tuple[PushJob, PushRecord, bool]] = []
    for job in jobs:
        client = job.destination.repository(job.plan.refs[0].repository)
        new = False  # unknown until the registry answered: then nothing is taken back
        try:
            new = all(client.manifest_digest(ref) is None for ref in job.plan.immutable)
            record = push_image(
                job.engine, job.plan, job.destination, force=force,
                only_immutable=True,
            )  # fmt: skip
        except PipelineError as exc:
            # This job's own immutable tags too: a push that failed after the registry took
            # the manifest (a digest mismatch, say) must not leave a new tag behind.
            partial = [
                PushRecord(
                    image_id=job.plan.image_id,
                    engine=job.engine.name,
                    registry=ref.registry,
                    repository=ref.repository,
                    tags=(ref.tag or "",),
                    digest=served,
                )
                for ref in job.plan.immutable
                if new and (served := _served(client, ref))
            ]
            removed = _take_back(done + [(job, r, True) for r in partial])
            raise PushError(
                f"{job.name}: {exc}; all or none: {removed or 'nothing else was pushed'}"
            ) from None
        done.append((job, record, new))
    if then is not None:
        try:
            then([(record, new) for _job, record, new in done])
        except PipelineError as exc:
            removed = _take_back(done)
            raise PushError(f"{exc}; all or none: {removed or 'nothing was new'}") from None
    return [record for _job, record, _new in done]


def _served(client: Repository, ref: ImageRef) -> str | None:
    """The digest the registry serves for ``ref`` now, or None (also when it cannot say)."""
    try:
        return client.manifest_digest(ref)
    except PipelineError:
        return None


def _take_back(done: list[tuple[PushJob, PushRecord, bool]]) -> str:
    removed, kept = [], []
    for job, record, new in done:
        ref = ImageRef(record.registry, record.repository, record.tags[0], record.digest)
        if not new:
            kept.append(f"{job.name} (its tag was there before)")
            continue
        client = job.destination.repository(record.repository)
        try:
            client.delete_manifest(record.digest)
            gone = client.manifest_digest(ref.with_tag(record.tags[0])) is None
        except PipelineError:
            gone = False
        if gone:
            removed.append(job.name)
        else:
            kept.append(f"{job.name} (the registry refused to delete {ref}; delete it by hand)")
    parts = [f"removed the images already pushed for {', '.join(removed)}"] if removed else []
    if kept:
        parts.append(f"left {', '.join(kept)}")
    return "; ".join(parts)
