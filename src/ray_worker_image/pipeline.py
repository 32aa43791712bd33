"""One function per `invoke` task. tasks.py parses options; this module does the work.

Every entry point turns a PipelineError into a one-line message and a non-zero exit.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from . import console
from . import engine as engines
from .base import resolve_base
from .build import build_image
from .context import resolve_ca_cert
from .definition import DEFAULT_DEFINITION, ImageDefinition, load_definition
from .errors import PipelineError
from .imagetest import test_image
from .lock import compute_lock, stale_entries, write_lock
from .push import credentials_from_env, plan_push, push_image
from .render import render_context
from .standin import DEFAULT_STAND_IN_REGISTRY
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

    def __init__(self, options: Options, definition: ImageDefinition | None = None) -> None:
        self.options = options
        self.definition: ImageDefinition = definition or load_definition(
            options.definition_path, options.root
        )
        self.build_dir = options.build_dir or self.definition.root / BUILD_DIR
        self.state = StateStore(self.build_dir)
        self.ca_cert = resolve_ca_cert(options.ca_cert)
        self._engine: engines.Engine | None = None

    @property
    def engine(self) -> engines.Engine:
        if self._engine is None:
            name = engines.resolve_engine_name(self.options.engine, self.options.configured_engine)
            self._engine = engines.connect(name)
            console.info(f"engine: {self._engine.name} ({self._engine.base_url})")
        return self._engine

    def resolve_base(self) -> ResolvedBase:
        base = resolve_base(
            self.definition,
            self.engine,
            stand_in=self.options.stand_in,
            stand_in_registry=self.options.stand_in_registry,
            ca_cert=self.ca_cert,
        )
        self.state.save("base", base)
        return base

    def built(self) -> BuiltImage:
        return self.state.load("image", BuiltImage, hint="run `invoke build` first")

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()


@contextmanager
def session(options: Options) -> Iterator[Session]:
    current = Session(options)
    try:
        yield current
    finally:
        current.close()


# -- steps (each usable alone, and composed by release) -----------------------------------


def do_lock(s: Session, *, check: bool) -> list[str]:
    base = s.resolve_base()
    console.step("locking requirements inside the base image" + (" (check only)" if check else ""))
    fresh = compute_lock(s.definition, s.engine, base, s.ca_cert)
    if check:
        stale = stale_entries(s.definition, fresh)
        if stale:
            raise PipelineError(
                "lock is stale: " + "; ".join(stale[:8]) + (" ..." if len(stale) > 8 else "")
                + " — run `invoke lock` and commit constraints.txt and requirements/"
            )
        console.info("constraints.txt and the locks match the base and requirements/*.in")
        return []
    write_lock(s.definition, fresh)
    console.info("wrote constraints.txt, requirements/ray-worker.txt, requirements/ray-worker-build.txt")
    return []


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
    record = test_image(s.definition, s.engine, target, s.build_dir)
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
        s.definition, built, tests,
        registry=registry, skip_tests=skip_tests, allow_stand_in=allow_stand_in,
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


def release_document(
    built: BuiltImage,
    tests: TestRecord,
    pushed: PushRecord | None,
    plan_refs: list[str],
    patch: Any,
) -> dict[str, Any]:
    """The machine-readable summary `invoke release --json` prints."""
    return {
        "image": plan_refs[0] if plan_refs else None,
        "tags": plan_refs,
        "digest": pushed.digest if pushed else None,
        "registry": pushed.registry if pushed else (plan_refs[0].split("/")[0] if plan_refs else None),
        "image_id": built.image_id,
        "engine": built.engine,
        "revision": built.revision,
        "dry_run": pushed is None,
        "base": {"ref": built.base.name, "source": built.base.source,
                 "digest": built.base.digest, "stand_in": built.base.stand_in},
        "tests": {"passed": tests.passed, "count": tests.count, "failed": tests.failed},
        "patch": patch,
    }


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()
