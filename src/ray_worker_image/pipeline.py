"""One function per `invoke` task. tasks.py parses options; this module does the work.

Every entry point turns a PipelineError into a one-line message and a non-zero exit.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from . import console, contract, rollout
from . import engine as engines
from .base import resolve_base
from .build import build_image
from .context import resolve_ca_cert
from .definition import DEFAULT_DEFINITION, ImageDefinition, load_definition
from .errors import PipelineError, RolloutError
from .imagetest import run_image_tests
from .lock import compute_lock, stale_entries, write_lock
from .push import credentials_from_env, plan_push, push_image
from .refs import ImageRef
from .registry import RegistryClient
from .release_tag import parse_release_tag
from .render import lock_digest, render_context, render_dockerfile
from .standin import DEFAULT_STAND_IN_REGISTRY, ensure_stand_in
from .state import BUILD_DIR, BuiltImage, PushRecord, ResolvedBase, StateStore, TestRecord

P = ParamSpec("P")
R = TypeVar("R")


def entry(func: Callable[P, R]) -> Callable[P, R]:
    """Report a PipelineError as `error: <one line>` on stderr and exit with its code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except PipelineError as exc:
            console.err.print(f"[bold red]error:[/] {exc}", markup=True, highlight=False)
            raise SystemExit(exc.exit_code) from None
        except KeyboardInterrupt:
            console.err.print("[bold red]interrupted[/]")
            raise SystemExit(130) from None

    return wrapper


@dataclass(frozen=True)
class Options:
    """What most tasks share. Built by tasks.py from flags, environment and invoke.yaml."""

    root: Path
    definition_path: Path = DEFAULT_DEFINITION
    engine: str | None = None
    configured_engine: str | None = None
    stand_in: bool = False
    stand_in_registry: str = DEFAULT_STAND_IN_REGISTRY
    ca_cert: str | None = None
    build_dir: Path | None = None  # default: <root>/build


class Session:
    """Loads the definition once and connects to the engine on first use."""

    def __init__(
        self,
        options: Options,
        definition: ImageDefinition | None = None,
        engine: engines.Engine | None = None,
    ) -> None:
        """``definition`` and ``engine`` override loading and connecting (tests, benchmarks)."""
        self.options = options
        self.definition: ImageDefinition = definition or load_definition(
            options.definition_path, options.root
        )
        self.build_dir = options.build_dir or self.definition.root / BUILD_DIR
        self.state = StateStore(self.build_dir)
        self.ca_cert = resolve_ca_cert(options.ca_cert)
        self._engine: engines.Engine | None = engine
        self._owns_engine = engine is None
        self._base: ResolvedBase | None = None

    @property
    def engine(self) -> engines.Engine:
        if self._engine is None:
            name = engines.resolve_engine_name(self.options.engine, self.options.configured_engine)
            self._engine = engines.connect(name)
            console.info(f"engine: {self._engine.name} ({self._engine.base_url})")
        return self._engine

    def resolve_base(self) -> ResolvedBase:
        """Resolved once per session: `release` needs it for the lock check and the build."""
        if self._base is not None:
            return self._base
        base = resolve_base(
            self.definition,
            self.engine,
            stand_in=self.options.stand_in,
            stand_in_registry=self.options.stand_in_registry,
            ca_cert=self.ca_cert,
        )
        self._base = base
        return base

    def built(self) -> BuiltImage:
        return self.state.load("image", BuiltImage, hint="run `invoke build` first")

    def close(self) -> None:
        if self._engine is not None and self._owns_engine:
            self._engine.close()


@contextmanager
def session(options: Options) -> Iterator[Session]:
    current = Session(options)
    try:
        yield current
    finally:
        current.close()


# -- steps (each usable alone, and composed by release) -----------------------------------


def do_lock(s: Session, *, check: bool) -> None:
    base = s.resolve_base()
    console.step("locking requirements inside the base image" + (" (check only)" if check else ""))
    fresh = compute_lock(s.definition, s.engine, base, s.ca_cert)
    if check:
        stale = stale_entries(s.definition, fresh)
        if stale:
            raise PipelineError(
                "lock is stale: "
                + "; ".join(stale[:8])
                + (" ..." if len(stale) > 8 else "")
                + " — run `invoke lock` and commit constraints.txt and requirements/"
            )
        console.info("constraints.txt and the locks match the base and requirements/*.in")
        return
    write_lock(s.definition, fresh)
    console.info("wrote constraints.txt and requirements/ray-worker{,-build}.txt")


def do_render(s: Session) -> Path:
    base = s.resolve_base()
    context = render_context(s.definition, base, s.build_dir)
    console.step(f"rendered {context.directory}/Dockerfile")
    return context.directory


def do_build(s: Session) -> BuiltImage:
    base = s.resolve_base()
    context = render_context(s.definition, base, s.build_dir)
    built = build_image(s.definition, s.engine, context, base, ca_cert=s.ca_cert)
    s.state.save("image", built)
    return built


def do_test(s: Session, image_id: str | None = None) -> TestRecord:
    built = s.built()
    target = image_id or built.image_id
    if not s.engine.image_exists(target):
        raise PipelineError(
            f"image {target[:19]} is not in {s.engine.name}'s storage; run `invoke build "
            f"--engine {s.engine.name}` first"
        )
    record = run_image_tests(s.definition, s.engine, target, s.build_dir)
    s.state.save(s.state.test_kind(target), record)
    if not record.passed:
        raise PipelineError(
            f"in-image tests failed: {record.failed} of {record.count} (report: {record.report})"
        )
    console.step(f"in-image tests passed: {record.count} tests on {target[:19]}")
    return record


def do_push(
    s: Session,
    *,
    registry: str,
    username: str | None,
    skip_tests: bool,
    allow_stand_in: bool,
    dry_run: bool = False,
) -> PushRecord | None:
    built = s.built()
    tests = s.state.load_optional(s.state.test_kind(built.image_id), TestRecord)
    plan = plan_push(
        s.definition,
        built,
        tests,
        registry=registry,
        skip_tests=skip_tests,
        allow_stand_in=allow_stand_in,
    )
    if dry_run:
        console.step("dry run: would push")
        for line in plan.describe():
            console.info(line)
        return None
    credentials = credentials_from_env(username)
    record = push_image(s.engine, plan, credentials)
    s.state.save("push", record)
    console.step(f"pushed {record.by_tag_and_digest}")
    return record


def print_summary(document: dict[str, Any]) -> None:
    """The release record for a human: what was pushed, from what, and how it was tested."""
    base = document["base"]
    tests = document["tests"]
    lines = [
        f"image    {document['image']}@{document['digest']}",
        f"tags     {', '.join(document['tags'])}",
        f"built    {document['image_id'][:19]} by {document['engine']} from {document['revision']}",
        f"base     {base['ref']} = {base['source']}@{base['digest']}"
        + ("  (STAND-IN)" if base["stand_in"] else ""),
        f"tests    {tests['count']} in-image tests, {tests['failed']} failed",
        f"patch    {len(document['patch'] or [])} operations (invoke patch prints them)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


# -- rollout, release -------------------------------------------------------------------


ClusterOptions = rollout.ClusterOptions


def plan_patch(s: Session, image: str | None, cluster: ClusterOptions) -> rollout.Rollout:
    """The rollout for ``cluster``; ``image`` is the default image (the last push)."""
    return rollout.plan_from_options(s.definition, cluster, default_image=image)


def pushed_image_ref(s: Session) -> str:
    record = s.state.load("push", PushRecord, hint="run `invoke push` first, or pass --image")
    return record.by_tag_and_digest


def do_patch(
    s: Session,
    cluster: ClusterOptions,
    *,
    fmt: str,
    out: str | None,
    write: str | None = None,
    check: bool = False,
) -> rollout.Rollout:
    """Plan, then print (``fmt``), write files (``out``) or edit a manifest (``write``).

    ``write`` with ``check``: change nothing, exit 1 (RolloutError) when the file is not
    on the image. Every input is checked before anything is written.
    """
    if fmt not in rollout.FORMATS:
        raise PipelineError(f"--format {fmt!r}: use {', '.join(rollout.FORMATS)}")
    if check and not write:
        raise PipelineError("--check goes with --write FILE: it checks that file")
    if write and cluster.source not in (None, write):
        raise PipelineError("--write FILE reads FILE itself; drop --from")
    if write and (out or fmt != "json"):
        raise PipelineError("--write FILE edits the file and prints its diff; drop --out/--format")
    default = None if cluster.images else pushed_image_ref(s)
    if write:
        cluster = dataclasses.replace(cluster, source=write)
    plan = plan_patch(s, default, cluster)
    for warning in plan.warnings:
        console.warn(warning)
    if write:
        edit = rollout.edit_manifest(write, plan)
        sys.stderr.write(edit.diff)
        if check:
            if edit.changed:
                raise RolloutError(
                    f"{write}: not on the image ({len(edit.changed)} line(s) differ);"
                    f" run invoke patch --write {write}"
                )
            console.info(f"{write}: already on the image")
        else:
            edit.save()
            console.info(f"{write}: {len(edit.changed)} line(s) changed")
        return plan
    if out:
        written = rollout.write_outputs(plan, out)
        for path in written.values():
            console.info(f"wrote {path}")
    if fmt == "shell":
        sys.stdout.write(rollout.render_shell(plan))
    elif fmt == "helm-values":
        sys.stdout.write(rollout.helm_values(plan))
    else:
        sys.stdout.write({"json": rollout.to_json, "yaml": rollout.to_yaml}[fmt](plan.patch))
    return plan


def do_report(s: Session, cluster: ClusterOptions) -> dict[str, Any]:
    """The release record of the last build, test and push, from build/state (no engine)."""
    built = s.built()
    tests = s.state.load(
        s.state.test_kind(built.image_id), TestRecord, hint="run `invoke test` first"
    )
    pushed = s.state.load("push", PushRecord, hint="run `invoke push` first")
    if pushed.image_id != built.image_id:
        raise PipelineError(
            f"the last push ({pushed.image_id[:19]}) is not the last build "
            f"({built.image_id[:19]}); run `invoke push`"
        )
    plan = plan_patch(s, pushed.by_tag_and_digest, cluster)
    refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
    return release_document(built, tests, pushed, refs, plan)


def release_document(
    built: BuiltImage,
    tests: TestRecord,
    pushed: PushRecord | None,
    refs: list[str],
    plan: rollout.Rollout | None,
    *,
    rehearsed_digest: str | None = None,
) -> dict[str, Any]:
    """The machine-readable summary `invoke release --json` prints."""
    return {
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
        digest = s.engine.push(scratch, auth=None, on_line=lambda _line: None)
        digest = client.manifest_digest(scratch) or digest
    finally:
        if (stored := client.manifest_digest(scratch)) is not None:
            client.delete(scratch.with_digest(stored))
        s.engine.untag(str(scratch))
    return digest


@dataclass(frozen=True)
class ReleaseResult:
    document: dict[str, Any]
    plan: rollout.Rollout | None
    out_dir: Path


def do_release(
    s: Session,
    cluster: ClusterOptions,
    *,
    registry: str,
    username: str | None,
    allow_stand_in: bool,
    dry_run: bool,
    out: str | None,
) -> ReleaseResult:
    """lock --check, render, build, test, push (or its plan), patch; stop at the first failure."""
    do_lock(s, check=True)
    built = do_build(s)
    tests = do_test(s)
    refs: list[str]
    rehearsed: str | None = None
    if dry_run:
        plan_ = plan_push(
            s.definition,
            built,
            tests,
            registry=registry,
            skip_tests=False,
            allow_stand_in=allow_stand_in,
        )
        refs = [str(r) for r in plan_.refs]
        console.step(f"dry run: would push to {registry} (nothing is published)")
        for line in plan_.describe():
            console.info(line)
        rehearsed = rehearse_push(s, plan_.refs, built.image_id)
        console.info(f"digest the push would produce (rehearsed on loopback): {rehearsed}")
        image = f"{refs[0]}@{rehearsed}" if rehearsed else None
        pushed = None
    else:
        pushed = do_push(
            s, registry=registry, username=username, skip_tests=False, allow_stand_in=allow_stand_in
        )
        assert pushed is not None
        refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
        image = pushed.by_tag_and_digest
    plan = None
    out_dir = Path(out) if out else s.build_dir / "rollout"
    if image:
        console.step("RayCluster patch and rollout")
        plan = plan_patch(s, image, cluster)
        for warning in plan.warnings:
            console.warn(warning)
        if not dry_run:
            for path in rollout.write_outputs(plan, out_dir).values():
                console.info(f"wrote {path}")
    document = release_document(built, tests, pushed, refs, plan, rehearsed_digest=rehearsed)
    return ReleaseResult(document, plan, out_dir)


def print_rollout(plan: rollout.Rollout, out_dir: Path) -> None:
    """For humans: the patch and each rollout command, ready to paste."""
    if plan.view.live:
        sys.stdout.write(f"# {plan.view.kind.name} patch ({out_dir / 'patch.json'}):\n")
    else:
        sys.stdout.write(
            "# The patch below assumes the groups lead workerGroupSpecs and run the base image;"
            f" {out_dir / 'rollout.sh'} instead reads the live cluster when it runs and writes"
            " its own patch.json and rollback.json from what it finds.\n"
        )
    sys.stdout.write(rollout.to_json(plan.patch))
    for command in plan.commands:
        sys.stdout.write(f"\n# {command.title} [{command.phase}]\n# {command.why}\n")
        sys.stdout.write(command.shell.rstrip() + "\n")
    sys.stdout.write(f"\n# Or run it all: bash {out_dir / 'rollout.sh'} (see --help inside)\n")


def do_standin(s: Session, *, force: bool) -> str:
    built = ensure_stand_in(
        s.definition, s.engine, registry=s.options.stand_in_registry, ca_cert=s.ca_cert, force=force
    )
    return str(built.ref)


def do_contract(s: Session, image: str | None) -> list[contract.Outcome]:
    """Check the base contract on ``image`` (default: the base, stand-in or real, pulled).

    Prints one line per row; raises :class:`~.contract.ContractError` naming every broken row.
    """
    if image is None:
        base = s.resolve_base()
        image = f"{base.source}@{base.digest}"
    console.step(f"base contract on {image[:80]} ({s.engine.name})")
    outcomes = contract.check_image(s.engine, image, contract.expected_for(s.definition.base))
    for o in outcomes:
        console.info(f"{'ok  ' if o.ok else 'FAIL'} {o.row:<13} {o.detail}")
    if contract.failures(outcomes):
        raise contract.summary_error(image, outcomes)
    return outcomes


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
    from . import e2e  # starts containers and networks: imported only when asked for

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


# -- checks -------------------------------------------------------------------------------


def do_verify_tag(s: Session, tag: str) -> int:
    number = parse_release_tag(tag, s.definition.target.tag)
    console.info(f"{tag}: release {number} of {s.definition.target.tag}")
    return number


def do_lint(s: Session) -> None:
    """ruff, mypy, hadolint on the rendered Dockerfile, shellcheck on each rollout.sh shape."""
    root = s.definition.root
    placeholder = ResolvedBase(
        name=str(s.definition.base.image),
        source=str(s.definition.base.image),
        digest="sha256:" + "0" * 64,
        stand_in=False,
    )
    dockerfile = render_dockerfile(s.definition, placeholder, lock_digest(s.definition))
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        rendered = Path(tmp) / "Dockerfile"
        rendered.write_text(dockerfile, "utf-8")
        scripts = []
        for name, text in rollout.sample_scripts().items():
            scripts.append(str(Path(tmp) / name))
            Path(scripts[-1]).write_text(text, "utf-8")
        shellcheck = rollout.find_shellcheck() or "shellcheck"
        checks = [
            ("ruff", [str(bin_dir / "ruff"), "check", "."]),
            ("mypy", [str(bin_dir / "mypy")]),
            ("hadolint", [str(bin_dir / "hadolint"), "--no-color", str(rendered)]),
            ("shellcheck", [shellcheck, *scripts]),
        ]
        failed = []
        for name, argv in checks:
            console.step(name)
            if subprocess.run(argv, cwd=root, check=False).returncode != 0:
                failed.append(name)
    if failed:
        raise PipelineError(f"lint failed: {', '.join(failed)} (see the output above)")
