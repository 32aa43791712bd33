"""The steps, each usable alone (one task) and composed by :mod:`release`.

Every step works on one :class:`~.session.Session` (one variant) and returns what the next
step needs, so `release` hands results along in memory; a task run alone finds the build
in the engine and the push in the registry (:mod:`.records`); only the in-image test
verdict is kept under ``build/<variant>/state/tests/``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import console, contract, lazy, noop
from .build import build_image, build_inputs
from .errors import ImageTestFailure, LockError, PipelineError
from .release_tag import parse_release_tag
from .render import render_context
from .session import Session
from .standin import ensure_stand_in
from .state import BuiltImage, PushRecord, TestRecord

if TYPE_CHECKING:  # the modules of the other steps, executed when one runs (lazy.py)
    from . import e2e, imagetest, lock, lockcache, push, push_all
else:
    e2e = lazy.module("ray_worker_image.e2e")
    imagetest = lazy.module("ray_worker_image.imagetest")
    lock = lazy.module("ray_worker_image.lock")
    lockcache = lazy.module("ray_worker_image.lockcache")
    push = lazy.module("ray_worker_image.push")
    push_all = lazy.module("ray_worker_image.push_all")


def stale_error(stale: Mapping[str, list[str]]) -> PipelineError | None:
    """One line naming the variant of every stale entry (at most 8 shown); None if current."""
    entries = [f"{variant}: {entry}" for variant, found in stale.items() for entry in found]
    if not entries:
        return None
    variants = " ".join(f"--variant {v}" for v, found in stale.items() if found)
    return LockError(
        "lock is stale: "
        + "; ".join(entries[:8])
        + (f" (+{len(entries) - 8} more)" if len(entries) > 8 else "")
        + f" — run `invoke lock` ({variants}) and commit requirements/"
    )


def lock_stale(s: Session) -> list[str]:
    """Lock the variant afresh inside its base; what differs from the committed files.

    Within one run with ``$RAY_IMAGE_LOCK_CACHE`` set, the same inputs are compiled once
    (:mod:`.lockcache`)."""
    base = s.resolve_base()
    console.step(f"{s.variant}: locking inside the base image (check only)")
    fresh, reused = lockcache.cached_lock(
        s.definition,
        base,
        s.ca_cert,
        lambda: lock.compute_lock(s.definition, s.engine, base, s.ca_cert),
    )
    if reused:
        console.info(f"{s.variant}: same lock inputs as earlier in this run (${lockcache.ENV})")
    return lock.stale_entries(s.definition, fresh)


def lock_check(sessions: list[Session]) -> dict[str, list[str]]:
    """Each variant's stale entries (``[]``: current), nothing raised (``lock --check --json``)."""
    stale: dict[str, list[str]] = {}
    for s in sessions:
        stale[s.variant] = lock_stale(s)
        if not stale[s.variant]:
            console.info(f"{s.variant}: constraints and locks match the base and the .in files")
    return stale


def do_lock_check(sessions: list[Session]) -> None:
    """Check every variant; one LockError naming the variant of each stale entry."""
    error = stale_error(lock_check(sessions))
    if error:
        raise error


def do_lock(s: Session, *, check: bool = False) -> None:
    """Write the variant's constraints and locks (``check``: only verify)."""
    if check:
        do_lock_check([s])
        return
    base = s.resolve_base()
    console.step(f"{s.variant}: locking requirements inside the base image")
    lock.write_lock(s.definition, lock.compute_lock(s.definition, s.engine, base, s.ca_cert))
    folder = s.definition.requirements.lock_dir.relative_to(s.definition.root)
    console.info(f"wrote {folder}/constraints.txt, ray-worker.txt and ray-worker-build.txt")


def do_render(s: Session) -> Path:
    context = render_context(s.definition, s.resolve_base(), s.build_dir)
    console.step(f"rendered {context.directory}/Dockerfile")
    return context.directory


def do_build(s: Session, *, force: bool = False, no_cache: bool = False) -> BuiltImage:
    """Render and build; an image of this revision with the same input key in the engine
    is "already built" and returned as is (``force``/``no_cache``: build anyway)."""
    base = s.resolve_base()
    context = render_context(s.definition, base, s.build_dir)
    inputs = build_inputs(s.definition, context, base, s.revision())
    if not (force or no_cache):
        found = noop.already_built(s, inputs)
        if found is not None:
            console.step(
                f"{s.variant}: {found.tags[1]} ({found.image_id[:19]}) already built with "
                "these inputs; nothing to build (--force rebuilds)"
            )
            return found
    return build_image(
        s.definition, s.engine, context, base, ca_cert=s.ca_cert, no_cache=no_cache, inputs=inputs
    )


def do_test(s: Session, image_id: str | None = None) -> TestRecord:
    built = s.built() if image_id is None else None
    target = image_id or (built.image_id if built else "")
    if not s.engine.image_exists(target):
        raise PipelineError(
            f"image {target[:19]} is not in {s.engine.name}'s storage; run `invoke build "
            f"--engine {s.engine.name} --variant {s.variant}` first"
        )
    record = imagetest.run_image_tests(s.definition, s.engine, target, s.build_dir)
    s.state.save_test(record)
    if not record.passed:
        raise ImageTestFailure(
            f"{s.variant}: in-image tests failed: {record.failed} of {record.count} "
            f"(report: {record.report})"
        )
    console.step(f"{s.variant}: in-image tests passed: {record.count} tests on {target[:19]}")
    return record


def do_push(
    s: Session,
    *,
    registry: str,
    username: str | None,
    skip_tests: bool,
    allow_stand_in: bool,
    dry_run: bool = False,
    force: bool = False,
) -> PushRecord | None:
    records = do_push_all(
        [s],
        registry=registry,
        username=username,
        skip_tests=skip_tests,
        allow_stand_in=allow_stand_in,
        dry_run=dry_run,
        force=force,
    )
    return records[0] if records else None


def do_push_all(
    sessions: list[Session],
    *,
    registry: str,
    username: str | None,
    skip_tests: bool,
    allow_stand_in: bool,
    dry_run: bool = False,
    force: bool = False,
) -> list[PushRecord]:
    """Push each variant's last tested build; every plan is checked before the first push."""
    plans = []
    for s in sessions:
        built = s.built()
        tests = s.state.load_test(built.image_id)
        plans.append(
            push.plan_push(
                s.definition,
                built,
                tests,
                registry=registry,
                skip_tests=skip_tests,
                allow_stand_in=allow_stand_in,
            )
        )
    if dry_run:
        console.step("dry run: would push")
        for plan in plans:
            for line in plan.describe():
                console.info(line)
        return []
    credentials = push.credentials_from_env(username)
    if len(plans) > 1:  # all or none: every immutable tag before any floating tag moves
        jobs = [
            push_all.PushJob(s.variant, s.engine, plan, s.destination(registry, credentials))
            for s, plan in zip(sessions, plans, strict=True)
        ]
        push_all.push_immutable_first(jobs, force=force)
    records = []
    for s, plan in zip(sessions, plans, strict=True):
        record = push.push_image(s.engine, plan, s.destination(registry, credentials), force=force)
        console.step(f"pushed {record.by_tag_and_digest}")
        records.append(record)
    return records


def do_standin(s: Session, *, force: bool) -> str:
    built = ensure_stand_in(
        s.definition, s.engine, registry=s.options.stand_in_registry, ca_cert=s.ca_cert, force=force
    )
    return str(built.ref)


def do_contract(
    s: Session, image: str | None, *, strict: bool = True
) -> tuple[str, list[contract.Outcome]]:
    """Check the base contract on ``image`` (default: the base, stand-in or real, pulled).

    Prints one line per row (stderr); returns the image checked and the rows. ``strict``:
    raise :class:`~.contract.ContractError` (CheckFailed) naming every broken row.
    """
    if image is None:
        base = s.resolve_base()
        image = f"{base.source}@{base.digest}"
    console.step(f"base contract on {image[:80]} ({s.engine.name})")
    outcomes = contract.check_image(s.engine, image, contract.expected_for(s.definition.base))
    for o in outcomes:
        console.info(f"{'ok  ' if o.ok else 'FAIL'} {o.row:<13} {o.detail}")
    if strict:
        raise_contract(image, outcomes)
    return image, outcomes


def raise_contract(image: str, outcomes: list[contract.Outcome]) -> None:
    """ContractError (CheckFailed, exit 1) naming every broken row; nothing when all hold."""
    if contract.failures(outcomes):
        raise contract.summary_error(image, outcomes)


def do_e2e(
    s: Session,
    *,
    image: str | None,
    manifest: str | None,
    name: str | None,
    tasks: int,
    namespace: str | None = None,
    login_shell: bool = False,
) -> list[Any]:
    """The cluster of ``manifest`` on the image (it must deliver), then on its base (it must
    fail with ModuleNotFoundError). The plan is made, and the manifest checked, first."""
    plan = e2e.load_plan(
        manifest or s.options.root / e2e.DEFAULT_MANIFEST,
        name=name,
        namespace=namespace,
        login_shell=login_shell,
    )
    built = s.built() if image is None else None
    target = image or (built.image_id if built else "")
    runs = [(target, True)]
    if built is not None:
        runs.append((built.base.pinned, False))
    reports = []
    runtime = e2e.NodeRuntime.of(s.definition.base)
    for candidate, expect_nats in runs:
        report = e2e.run_e2e(
            s.engine, candidate, plan, runtime, expect_nats=expect_nats, tasks=tasks
        )
        if not report.passed:
            raise PipelineError(f"e2e on {candidate[:71]}: {report.failure}")
        if expect_nats:
            console.step(
                f"e2e passed: {report.received}/{report.tasks} results over JetStream, "
                f"first-task latency {report.first_task_latency_s:.2f} s"
            )
        reports.append(report)
    return reports


def do_verify_tag(s: Session, tag: str) -> int:
    """The release number N of ``tag`` = ``v<variant tag>.N`` (PipelineError, exit 1: the tag
    does not fit); one release covers every variant,
    and its git tag names the default variant's (``v2.49.2-nats.1``) unless --variant."""
    where = (
        f"{s.definition.path.name} variant {s.variant} (<name>-<target.tag_suffix>, "
        "or the variant's own tag)"
    )
    return parse_release_tag(tag, s.definition.target.tag, where=where)
