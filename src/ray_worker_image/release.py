"""`invoke release`: first a plan (every cheap input checked), then the steps, in memory.

Planning (:func:`plan_release`) touches no engine and no remote registry: the definition and
the variants (stand-in refusals included), the registry reference, the credentials, the
lock files, and the cluster (file, groups, restart, Ray version) through the rollout's own
planning with a placeholder digest. Any failure is one line; nothing was built.

Executing (:func:`execute`) then, for every variant: lock --check, build, test. Only when
every variant is built and tested does anything get pushed; then each variant's patch.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import console, noop, preflight, rollout, supply
from .errors import PipelineError
from .patching import ClusterOptions, label_reader, plan_patch
from .preflight import check_registry
from .push import PushJob, credentials_from_env, plan_push, push_image, push_immutable_first
from .push_rehearsal import rehearse_push
from .refs import ImageRef
from .registry import Credentials, RegistryClient
from .render import lock_digest
from .rollout.identity import Identity, known
from .session import Session
from .state import BuiltImage, PushRecord, TestRecord
from .steps import do_build, do_lock_check, do_test
from .supply.artifacts import remove_attachments
from .supply.attest import Attested, restore
from .supply.sbom import sbom_filename
from .supply.transport import ArtifactStore

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64
T = TypeVar("T")


@dataclass(frozen=True)
class ReleasePlan:
    """Everything checked before the first slow step."""

    sessions: tuple[Session, ...]
    registry: str
    credentials: Credentials | None
    cluster: ClusterOptions
    allow_stand_in: bool
    dry_run: bool
    out: str | None
    force: bool = False  # --force: the immutable tag may point at a different image


@dataclass(frozen=True)
class VariantResult:
    variant: str
    document: dict[str, Any]
    plan: rollout.Rollout | None
    out_dir: Path
    image: str | None = None  # REPO:TAG@digest pushed (or rehearsed on a dry run)


def plan_release(
    sessions: list[Session],
    cluster: ClusterOptions,
    *,
    registry: str,
    username: str | None,
    allow_stand_in: bool,
    dry_run: bool,
    out: str | None,
    force: bool = False,
) -> ReleasePlan:
    """Check every input of the release; raises PipelineError (one line) on the first bad one."""
    check_registry(registry)
    preflight.check_release_inputs(sessions, cluster, registry, allow_stand_in, out)
    credentials = None if dry_run else credentials_from_env(username)
    # A stand-in build goes into the cluster given with --from only with --allow-stand-in.
    cluster = dataclasses.replace(cluster, allow_stand_in=allow_stand_in or not cluster.source)
    placeholders = []
    builds = []
    for s in sessions:
        lock_digest(s.definition)  # every lock file present
        supply.check_sbom_lock(s.definition)  # the SBOM generator's lock for its Python
        ref = ImageRef(registry, s.definition.target.repository, s.definition.target.tag)
        placeholders.append(f"{ref}@{PLACEHOLDER_DIGEST}")
        builds.append(Identity(placeholders[-1], s.definition.ray_tag, "build", s.options.stand_in))
    own = known(builds)  # nothing is pushed yet: the builds are what the definitions say
    for s, placeholder in zip(sessions, placeholders, strict=True):
        if not (cluster.source and len(sessions) > 1):
            # file, groups, restart, Ray, stand-in, the canary's NATS URL
            rollout.check_runnable(plan_patch(s, placeholder, cluster, own))
    if cluster.source and len(sessions) > 1:  # one patch: each group on the variant it runs
        rollout.check_runnable(
            rollout.plan_for_variants(
                [s.definition for s in sessions], placeholders, cluster, read=own
            )
        )
    if sessions:
        sessions[0].registry_access(registry)  # --registry-ca names a file
    if not dry_run:
        supply.check_signing_key()  # a configured key that does not load stops here
        preflight.check_listening(registry)  # before the base is pulled
    return ReleasePlan(
        tuple(sessions), registry, credentials, cluster, allow_stand_in, dry_run, out, force
    )


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
    push_plan = plan_push(
        s.definition,
        built,
        tests,
        registry=plan.registry,
        skip_tests=False,
        allow_stand_in=plan.allow_stand_in,
    )
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
        pushed = push_image(
            s.engine,
            push_plan,
            plan.credentials,
            access=s.registry_access(plan.registry),
            force=plan.force,
        )
        console.step(f"pushed {pushed.by_tag_and_digest}")
        refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
        image = pushed.by_tag_and_digest
    patch = None
    out_dir = _out_dir(plan, s)
    # SBOM attached to the digest and written next to the rollout; signed (a released
    # image got both when it was pushed; several variants got them before any tag moved)
    if pushed is not None and released is None and supplied is None:
        supplied = _supply(plan, s, pushed)
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


def _complete(
    plan: ReleasePlan, s: Session, released: PushRecord
) -> tuple[PushRecord, dict[str, Any], list[str]]:
    """A release found by its inputs: its floating tag back on its digest when it moved
    (same manifest bytes, nothing uploaded), then the SBOM and signature it lacks
    (:func:`.supply.complete_released`). Returns the record, the ``supply`` part and what
    was done."""
    done: list[str] = []
    floating = s.definition.target.tag
    if floating not in released.tags:
        access = s.registry_access(plan.registry)
        ArtifactStore(access, plan.credentials, released.repository).put_tag(
            released.digest, floating
        )
        done.append(f"{floating} moved back to it")
        released = dataclasses.replace(released, tags=(floating, *released.tags))
    supplied, more = _supply_step(supply.complete_released, plan, s, released)
    return released, supplied, done + more


def execute(plan: ReleasePlan) -> list[VariantResult]:
    """Find each variant by its inputs in the registry first (:mod:`.noop`); for the others
    lock --check (unless the lock inputs are unchanged), build and test each, then push
    each, then the patches. Each document lists its ``skipped`` steps."""
    client = RegistryClient(plan.sessions[0].registry_access(plan.registry), plan.credentials)
    planned = {
        s.variant: noop.plan_or_unknown(s, client, dry_run=plan.dry_run) for s in plan.sessions
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
                (done.released, None, []) if plan.dry_run else _complete(plan, s, done.released)
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


def _out_dir(plan: ReleasePlan, s: Session) -> Path:
    """Where a variant's rollout files and SBOM go: --out (per variant when several)."""
    if plan.out:
        return Path(plan.out) / s.variant if len(plan.sessions) > 1 else Path(plan.out)
    return s.build_dir / "rollout"


def _supply(plan: ReleasePlan, s: Session, pushed: PushRecord) -> dict[str, Any]:
    """The SBOM attached to the pushed digest and written to the variant's folder; signed."""
    return _supply_step(supply.after_push, plan, s, pushed)


def _supply_step(step: Callable[..., T], plan: ReleasePlan, s: Session, pushed: PushRecord) -> T:
    """``step`` (:func:`.supply.after_push` or :func:`.supply.complete_released`) with the
    variant's definition, engine, registry access, credentials, CA and output folder."""
    return step(
        s.definition,
        s.engine,
        pushed,
        s.registry_access(plan.registry),
        plan.credentials,
        ca_cert=s.ca_cert,
        out_dir=_out_dir(plan, s),
    )


SupplyStep = Callable[[ReleasePlan, Session, PushRecord], dict[str, Any]]


def push_immutable_all(
    plan: ReleasePlan,
    tested: list[tuple[Session, BuiltImage, TestRecord]],
    *,
    supply_step: SupplyStep = _supply,
) -> tuple[list[PushRecord], dict[str, dict[str, Any]]]:
    """All or none: every variant's immutable tags, then every variant's SBOM and signature,
    before any floating tag moves (:func:`.push.push_immutable_first`). When a variant's
    SBOM or signature fails, what was attached to the new digests (and the SBOM files
    written) is taken back with their tags. Returns the records and each variant's
    ``supply`` document part. Raises PipelineError (one line)."""
    jobs = [
        PushJob(
            s.variant,
            s.engine,
            plan_push(
                s.definition,
                built,
                tests,
                registry=plan.registry,
                skip_tests=False,
                allow_stand_in=plan.allow_stand_in,
            ),
            s.registry_access(plan.registry),
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

    records = push_immutable_first(jobs, plan.credentials, force=plan.force, then=attach_all)
    return records, supplied


def _take_back_supply(
    plan: ReleasePlan, s: Session, record: PushRecord, part: dict[str, Any] | None = None
) -> None:
    """Best effort: the SBOM and signature on a digest this release made, the SBOM file,
    and its attestations (``part``: its ``supply`` document part): the ``.att`` tag put
    back on the manifest it held before (other attestations share it), or deleted."""
    store = ArtifactStore(s.registry_access(plan.registry), plan.credentials, record.repository)
    attested = (part or {}).get("attestations")
    with contextlib.suppress(PipelineError):
        if attested:
            restore(
                store,
                record.digest,
                Attested(attested["tag"], attested["manifest"], attested["previous"]),
            )
        remove_attachments(store, record.digest)
    (_out_dir(plan, s) / sbom_filename(s.variant)).unlink(missing_ok=True)


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
