"""`invoke release`: the steps of a plan (:mod:`.release_plan`), in memory.

Executing (:func:`execute`), for every variant: lock --check, build, test. Only when every
variant is built and tested does anything get pushed (the supply chain with it:
:mod:`.release_supply`); then each variant's patch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import console, noop, rollout
from .patching import label_reader, plan_patch
from .push import push_image
from .push_rehearsal import rehearse_push
from .release_plan import ReleasePlan, variant_out_dir, variant_push
from .release_supply import attach_supply, complete_release, push_immutable_all
from .session import Session
from .state import BuiltImage, PushRecord, TestRecord
from .steps import do_build, do_lock_check, do_test


@dataclass(frozen=True)
class VariantResult:
    variant: str
    document: dict[str, Any]
    plan: rollout.Rollout | None
    out_dir: Path
    image: str | None = None  # REPO:TAG@digest pushed (or rehearsed on a dry run)


def release_document(
    variant: str,
    built: BuiltImage,
    tests: TestRecord,
    pushed: PushRecord | None,
    refs: list[str],
    plan: rollout.Rollout | None,
    *,
    rehearsed_digest: str | None = None,
) -> dict[str, Any]:
    """The machine-readable summary of one variant's image (`invoke release --json`)."""
    return {
        "variant": variant,
        "image": refs[0],
        "tags": refs,
        "digest": pushed.digest if pushed else None,
        "registry": refs[0].split("/", 1)[0],
        "image_id": built.image_id,
        "engine": built.engine,
        "revision": built.revision,
        "dry_run": pushed is None,
        "rehearsed_digest": rehearsed_digest,
        "base": {
            "ref": built.base.name,
            "source": built.base.source,
            "digest": built.base.digest,
            "stand_in": built.base.stand_in,
        },
        "tests": {"passed": tests.passed, "count": tests.count, "failed": tests.failed},
        "patch": plan.patch if plan else None,
        "rollback": plan.rollback if plan else None,
        "warnings": list(plan.warnings) if plan else [],
    }


def _publish(
    plan: ReleasePlan,
    s: Session,
    built: BuiltImage,
    tests: TestRecord,
    *,
    released: PushRecord | None = None,
    supplied: dict[str, Any] | None = None,
) -> VariantResult:
    """Push (``released``: already in the registry, push nothing), then patch and document.

    ``supplied``: the SBOM and signature already attached (:func:`push_immutable_all`)."""
    push_plan = variant_push(plan, s, built, tests)
    rehearsed: str | None = None
    pushed: PushRecord | None = None
    image: str | None
    if released is not None:
        pushed = released
        refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
        image = pushed.by_tag_and_digest
    elif plan.dry_run:
        refs = [str(r) for r in push_plan.refs]
        console.step(f"dry run: would push to {plan.registry} (nothing is published)")
        for line in push_plan.describe():
            console.info(line)
        rehearsed = rehearse_push(s, push_plan.refs, built.image_id)
        console.info(f"digest the push would produce (rehearsed on loopback): {rehearsed}")
        image = f"{refs[0]}@{rehearsed}" if rehearsed else None
    else:
        pushed = push_image(s.engine, push_plan, plan.destination, force=plan.force)
        console.step(f"pushed {pushed.by_tag_and_digest}")
        refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
        image = pushed.by_tag_and_digest
    patch = None
    out_dir = variant_out_dir(plan, s)
    # SBOM attached to the digest and written next to the rollout; signed (a released
    # image got both when it was pushed; several variants got them before any tag moved)
    if pushed is not None and released is None and supplied is None:
        supplied = attach_supply(plan, s, pushed)
    if image and not (plan.cluster.source and len(plan.sessions) > 1):
        console.step(f"{s.variant}: RayCluster patch and rollout")
        read = label_reader(s, plan.registry, plan.credentials)
        patch = plan_patch(s, image, plan.cluster, read)
        for warning in patch.warnings:
            console.warn(warning)
        if not plan.dry_run:
            for path in rollout.write_outputs(patch, out_dir).values():
                console.info(f"wrote {path}")
    document = release_document(
        s.variant, built, tests, pushed, refs, patch, rehearsed_digest=rehearsed
    )
    if supplied is not None:
        document["supply"] = supplied
    return VariantResult(s.variant, document, patch, out_dir, image)


def execute(plan: ReleasePlan) -> list[VariantResult]:
    """Find each variant by its inputs in the registry first (:mod:`.noop`); for the others
    lock --check (unless the lock inputs are unchanged), build and test each, then push
    each, then the patches. Each document lists its ``skipped`` steps."""
    planned = {
        s.variant: noop.plan_or_unknown(s, plan.destination, dry_run=plan.dry_run)
        for s in plan.sessions
    }
    todo = [s for s in plan.sessions if planned[s.variant].released is None]
    skipped: dict[str, list[str]] = {s.variant: [] for s in plan.sessions}
    for s in plan.sessions:
        if planned[s.variant].released is not None:
            skipped[s.variant] = ["lock", "build", "test", "push"]
        elif planned[s.variant].lock_current:
            skipped[s.variant].append("lock")
            console.info(f"{s.variant}: lock inputs as in the registry's image; lock check skipped")
    checks = [s for s in todo if "lock" not in skipped[s.variant]]
    if checks:
        do_lock_check(checks)
    tested: list[tuple[Session, BuiltImage, TestRecord]] = []
    for s in todo:
        built = do_build(s)
        kept = s.state.load_test(built.image_id)
        if kept is not None and kept.passed and built.input_key:  # unchanged and tested before
            console.info(f"{s.variant}: {built.image_id[:19]} passed its in-image tests already")
            skipped[s.variant].append("test")
            tested.append((s, built, kept))
        else:
            tested.append((s, built, do_test(s, built.image_id)))
    if len(tested) > 1:
        console.step(f"all {len(tested)} variants built and tested; publishing")
    supplied: dict[str, dict[str, Any]] = {}
    if not plan.dry_run and len(tested) > 1:
        supplied = push_immutable_all(plan, tested)[1]
    by_variant = {
        s.variant: _publish(plan, s, b, t, supplied=supplied.get(s.variant)) for s, b, t in tested
    }
    for s in plan.sessions:
        done = planned[s.variant]
        if done.released is not None and done.released_image is not None:
            released, supplied_now, completed = (
                (done.released, None, [])
                if plan.dry_run
                else complete_release(plan, s, done.released)
            )
            noop.say_nothing_to_do(s, released, completed)
            by_variant[s.variant] = _publish(
                plan, s, done.released_image, noop.kept_verdict(s, done.released_image),
                released=released, supplied=supplied_now,
            )  # fmt: skip
    results = []
    for s in plan.sessions:
        result = by_variant[s.variant]
        document = dict(result.document, skipped=skipped[s.variant])
        results.append(dataclasses.replace(result, document=document))
    if plan.cluster.source and len(results) > 1:
        return _one_patch_for_all(plan, results)
    return results


def _one_patch_for_all(plan: ReleasePlan, results: list[VariantResult]) -> list[VariantResult]:
    """The cluster's patch with each group on the variant it runs; in every document."""
    if any(r.image is None for r in results):
        return results  # a dry run whose rehearsal gave no digest: nothing to patch
    console.step("RayCluster patch: each group on the variant it runs")
    combined = rollout.plan_for_variants(
        [s.definition for s in plan.sessions],
        [str(r.image) for r in results],
        plan.cluster,
        read=label_reader(plan.sessions[0], plan.registry, plan.credentials),
    )
    for warning in combined.warnings:
        console.warn(warning)
    out_dir = Path(plan.out) if plan.out else plan.sessions[0].build_dir.parent / "rollout"
    if not plan.dry_run:
        for path in rollout.write_outputs(combined, out_dir).values():
            console.info(f"wrote {path}")
    out = []
    for index, result in enumerate(results):
        document = dict(result.document, patch=combined.patch)
        out.append(
            dataclasses.replace(
                result, document=document, plan=combined if index == 0 else None, out_dir=out_dir
            )
        )
    return out
