"""`invoke release`: the supply chain of the pushed images (SBOM, signature, attestations).

All or none across variants (:func:`push_immutable_all`): what a failed variant attached is
taken back. A release found in the registry gets only what it lacks
(:func:`complete_release`).
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from . import supply
from .errors import PipelineError
from .push_all import PushJob, push_immutable_first
from .release_plan import ReleasePlan, variant_out_dir, variant_push
from .session import Session
from .state import BuiltImage, PushRecord, TestRecord
from .supply.artifacts import remove_attachments
from .supply.attest import Attested, restore
from .supply.sbom import sbom_filename

T = TypeVar("T")


def complete_release(
    plan: ReleasePlan, s: Session, released: PushRecord
) -> tuple[PushRecord, dict[str, Any], list[str]]:
    """A release found by its inputs: its floating tag back on its digest when it moved
    (same manifest bytes, nothing uploaded), then the SBOM and signature it lacks
    (:func:`.supply.complete_released`). Returns the record, the ``supply`` part and what
    was done."""
    done: list[str] = []
    floating = s.definition.target.tag
    if floating not in released.tags:
        plan.destination.repository(released.repository).put_tag(released.digest, floating)
        done.append(f"{floating} moved back to it")
        released = dataclasses.replace(released, tags=(floating, *released.tags))
    supplied, more = supply_step_for(supply.complete_released, plan, s, released)
    return released, supplied, done + more


def attach_supply(plan: ReleasePlan, s: Session, pushed: PushRecord) -> dict[str, Any]:
    """The SBOM attached to the pushed digest and written to the variant's folder; signed."""
    return supply_step_for(supply.after_push, plan, s, pushed)


def supply_step_for(step: Callable[..., T], plan: ReleasePlan, s: Session, pushed: PushRecord) -> T:
    """``step`` (:func:`.supply.after_push` or :func:`.supply.complete_released`) with the
    variant's definition, engine, registry access, credentials, CA and output folder."""
    return step(
        s.definition,
        s.engine,
        pushed,
        plan.destination,
        ca_cert=s.ca_cert,
        out_dir=variant_out_dir(plan, s),
    )


SupplyStep = Callable[[ReleasePlan, Session, PushRecord], dict[str, Any]]


def push_immutable_all(
    plan: ReleasePlan,
    tested: list[tuple[Session, BuiltImage, TestRecord]],
    *,
    supply_step: SupplyStep = attach_supply,
) -> tuple[list[PushRecord], dict[str, dict[str, Any]]]:
    """All or none: every variant's immutable tags, then every variant's SBOM and signature,
    before any floating tag moves (:func:`.push_all.push_immutable_first`). When a variant's
    SBOM or signature fails, what was attached to the new digests (and the SBOM files
    written) is taken back with their tags. Returns the records and each variant's
    ``supply`` document part. Raises PipelineError (one line)."""
    jobs = [
        PushJob(
            s.variant,
            s.engine,
            variant_push(plan, s, built, tests),
            plan.destination,
        )
        for s, built, tests in tested
    ]
    supplied: dict[str, dict[str, Any]] = {}

    def attach_all(records: list[tuple[PushRecord, bool]]) -> None:
        pairs = [
            (s, record, new) for (s, _b, _t), (record, new) in zip(tested, records, strict=True)
        ]
        for s, record, _new in pairs:
            try:
                supplied[s.variant] = supply_step(plan, s, record)
            except PipelineError as exc:
                for other, done, new in pairs:
                    if new and (other.variant in supplied or other is s):
                        _take_back_supply(plan, other, done, supplied.get(other.variant))
                raise PipelineError(f"{s.variant}: {exc}") from None

    records = push_immutable_first(jobs, force=plan.force, then=attach_all)
    return records, supplied


def _take_back_supply(
    plan: ReleasePlan, s: Session, record: PushRecord, part: dict[str, Any] | None = None
) -> None:
    """Best effort: the SBOM and signature on a digest this release made, the SBOM file,
    and its attestations (``part``: its ``supply`` document part): the ``.att`` tag put
    back on the manifest it held before (other attestations share it), or deleted."""
    store = plan.destination.repository(record.repository)
    attested = (part or {}).get("attestations")
    if attested:
        with contextlib.suppress(PipelineError):
            restore(
                store,
                record.digest,
                Attested(attested["tag"], attested["manifest"], attested["previous"]),
            )
    with contextlib.suppress(PipelineError):  # even when the restore failed
        remove_attachments(store, record.digest)
    (variant_out_dir(plan, s) / sbom_filename(s.variant)).unlink(missing_ok=True)
