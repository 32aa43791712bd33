"""`invoke release`: first a plan (every cheap input checked), then the steps, in memory.

Planning (:func:`plan_release`) touches no engine and no remote registry: the definition and
the variants (stand-in refusals included), the registry reference, the credentials, the
lock files, and the cluster (file, groups, restart, Ray version) through the rollout's own
planning with a placeholder digest. Any failure is one line; nothing was built.

Executing (:func:`execute`) then, for every variant: lock --check, build, test. Only when
every variant is built and tested does anything get pushed; then each variant's patch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import console, preflight, rollout, supply
from .errors import PipelineError
from .patching import ClusterOptions, plan_patch
from .preflight import check_registry
from .push import PushJob, credentials_from_env, plan_push, push_image, push_immutable_first
from .records import verify_push
from .refs import ImageRef
from .registry import Credentials, RegistryClient
from .render import lock_digest
from .session import Session
from .state import BuiltImage, PushRecord, TestRecord
from .steps import do_build, do_lock_check, do_test

PLACEHOLDER_DIGEST = "sha256:" + "0" * 64


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
    placeholders = []
    for s in sessions:
        lock_digest(s.definition)  # every lock file present
        supply.check_sbom_lock(s.definition)  # the SBOM generator's lock for its Python
        ref = ImageRef(registry, s.definition.target.repository, s.definition.target.tag)
        placeholders.append(f"{ref}@{PLACEHOLDER_DIGEST}")
        if not (cluster.source and len(sessions) > 1):
            plan_patch(s, placeholders[-1], cluster)  # file, groups, restart, Ray
    if cluster.source and len(sessions) > 1:  # one patch: each group on the variant it runs
        rollout.plan_for_variants([s.definition for s in sessions], placeholders, cluster)
    if sessions:
        sessions[0].registry_access(registry)  # --registry-ca names a file
    if not dry_run:
        supply.check_signing_key()  # a configured key that does not load stops here
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


def rehearse_push(s: Session, refs: tuple[ImageRef, ...], image_id: str) -> str | None:
    """Learn the manifest digest a push would produce, on a loopback registry, then delete it.

    The digest only exists once an engine has written the manifest; pushing to a
    scratch repository on the loopback registry is the one way to know it without
    publishing anything.
    """
    scratch_registry = s.options.stand_in_registry
    client = RegistryClient(scratch_registry)
    if not client.ping():
        console.warn(f"dry run: no loopback registry at {scratch_registry}; digest unknown")
        return None
    scratch = ImageRef(scratch_registry, f"rehearsal/{refs[0].repository}", refs[0].tag)
    try:
        s.engine.tag(image_id, scratch)
        digest = s.engine.push(scratch, auth=None, on_line=lambda _line: None, access=client.access)
        digest = client.manifest_digest(scratch) or digest
    finally:
        if (stored := client.manifest_digest(scratch)) is not None:
            client.delete(scratch.with_digest(stored))
        s.engine.untag(str(scratch))
    return digest


def _publish(plan: ReleasePlan, s: Session, built: BuiltImage, tests: TestRecord) -> VariantResult:
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
    if plan.dry_run:
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
        s.state.save("push", pushed)
        console.step(f"pushed {pushed.by_tag_and_digest}")
        refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
        image = pushed.by_tag_and_digest
    patch = None
    out_dir = Path(plan.out) / s.variant if plan.out and len(plan.sessions) > 1 else None
    out_dir = out_dir or (Path(plan.out) if plan.out else s.build_dir / "rollout")
    supplied = None
    if pushed is not None:  # SBOM attached to the digest and written next to the rollout; signed
        supplied = supply.after_push(
            s.definition,
            s.engine,
            pushed,
            s.registry_access(plan.registry),
            plan.credentials,
            ca_cert=s.ca_cert,
            out_dir=out_dir,
        )
    if image and not (plan.cluster.source and len(plan.sessions) > 1):
        console.step(f"{s.variant}: RayCluster patch and rollout")
        patch = plan_patch(s, image, plan.cluster)
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
    """lock --check for all, build and test each, then push each, then the patches."""
    do_lock_check(list(plan.sessions))
    tested: list[tuple[Session, BuiltImage, TestRecord]] = []
    for s in plan.sessions:
        built = do_build(s)
        tested.append((s, built, do_test(s, built.image_id)))
    if len(tested) > 1:
        console.step(f"all {len(tested)} variants built and tested; publishing")
    if not plan.dry_run and len(tested) > 1:
        push_immutable_all(plan, tested)
    results = [_publish(plan, s, built, tests) for s, built, tests in tested]
    if plan.cluster.source and len(results) > 1:
        return _one_patch_for_all(plan, results)
    return results


def push_immutable_all(
    plan: ReleasePlan, tested: list[tuple[Session, BuiltImage, TestRecord]]
) -> list[PushRecord]:
    """All or none: every variant's immutable tags before any floating tag moves
    (:func:`.push.push_immutable_first`). Raises PipelineError (one line)."""
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
    return push_immutable_first(jobs, plan.credentials, force=plan.force)


def _one_patch_for_all(plan: ReleasePlan, results: list[VariantResult]) -> list[VariantResult]:
    """The cluster's patch with each group on the variant it runs; in every document."""
    if any(r.image is None for r in results):
        return results  # a dry run whose rehearsal gave no digest: nothing to patch
    console.step("RayCluster patch: each group on the variant it runs")
    combined = rollout.plan_for_variants(
        [s.definition for s in plan.sessions], [str(r.image) for r in results], plan.cluster
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


def do_report(s: Session, cluster: ClusterOptions) -> dict[str, Any]:
    """The release record of the variant's last build, test and push (no rebuild): its state
    folder, confirmed by the engine (image labels) and the registry (HEAD)."""
    built = s.built(recorded_engine=True)
    tests = s.state.load(
        s.state.test_kind(built.image_id), TestRecord, hint="run `invoke test` first"
    )
    pushed = s.state.load("push", PushRecord, hint="run `invoke push` first")
    pushed = verify_push(pushed, s.registry_access(pushed.registry))
    if pushed.image_id != built.image_id:
        raise PipelineError(
            f"the last push ({pushed.image_id[:19]}) is not the last build "
            f"({built.image_id[:19]}); run `invoke push --variant {s.variant}`"
        )
    plan = plan_patch(s, pushed.by_tag_and_digest, cluster)
    refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
    return release_document(s.variant, built, tests, pushed, refs, plan)
