"""The one decorator every task uses: long flags, shared options, checks, errors, exit codes.

``@task(help=..., shared=COMMON + ALL_VARIANTS)`` on ``def build(c, given, force=False)``
gives invoke a task whose signature (invoke reads ``inspect.signature``) and help hold the
task's own options and the shared ones, and calls ``build(c, given, force=...)`` with
:class:`~.options.Given`. Before the body runs: ``--help`` given as a value shows the help,
invoke's inert core flags are refused (:mod:`.inert`), a task that needs the clone is
refused outside one. Any :class:`~ray_worker_image.errors.PipelineError` is one
``error:`` line and the exit code of :mod:`.exits`; stdout is flushed inside, so a full
disk is one line and a closed pipe is quiet.
"""

from __future__ import annotations

import functools
import inspect
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

from invoke.context import Context
from invoke.tasks import Task
from invoke.tasks import task as invoke_task

from .. import console
from ..errors import PipelineError, UsageError
from . import exits
from .inert import check_inert
from .options import CLONE_KEY, Given, Opt

PROGRAM_KEY = "ray_image_program"  # set by the console script: how to show a task's help


def needs_clone(name: str) -> UsageError:
    return UsageError(
        f"{name} needs a clone of the ray-worker-image repository (the Dockerfile template, the "
        "locks and the tests live there); run it in the clone"
    )


def _show_help(c: Context, name: str) -> None:
    program = c.config.get(PROGRAM_KEY) or ""
    argv = (
        [sys.executable, "-m", "ray_worker_image.cli", "--help", name]
        if program
        else [sys.executable, "-m", "invoke", "--help", name]
    )
    sys.stdout.flush()
    os.execv(sys.executable, argv)  # noqa: S606 - fixed argv


def _signature(func: Callable[..., Any], shared: Iterable[Opt]) -> inspect.Signature:
    own = list(inspect.signature(func).parameters.values())
    ctx, rest = own[0], own[2:]  # drop `given`
    taken = {p.name for p in rest}
    extra = [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
        for o in shared
        if o.name not in taken
    ]
    params = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in rest]
    extra = [p.replace(kind=inspect.Parameter.POSITIONAL_OR_KEYWORD) for p in extra]
    return inspect.Signature([ctx, *params, *extra])


class StdoutError(Exception):
    """Writing the result to stdout failed (``> /dev/full``: ENOSPC, EIO...)."""


class _GuardedStdout:
    """sys.stdout whose write errors, other than a closed pipe, are :class:`StdoutError`
    (so they cannot be taken for a failure of the task's own files)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        try:
            return int(self._inner.write(text))
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.strerror or str(exc)) from None

    def flush(self) -> None:
        try:
            self._inner.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise StdoutError(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _silence_stdout() -> None:
    """Point fd 1 at /dev/null, so the interpreter's last flush cannot fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def _output_failed(exc: BaseException) -> int:
    """Report a failed write to stdout: one line (``> /dev/full``), or nothing for a closed
    pipe (``| head -0``: the reader is gone); the exit code to use."""
    _silence_stdout()
    if isinstance(exc, BrokenPipeError):
        return exits.PIPE
    console.error(f"cannot write to stdout: {exc}; send it to a file or a pipe that reads it")
    return exits.UNAVAILABLE


def _excepthook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """Under plain ``invoke``, its own output (``--list``, ``--help``) fails outside any task."""
    if isinstance(exc, BrokenPipeError | StdoutError):
        raise SystemExit(_output_failed(exc))
    sys.__excepthook__(kind, exc, tb)


def guard_stdout() -> None:
    """Install the stdout guard and the hook for write errors outside a task (idempotent)."""
    if not isinstance(sys.stdout, _GuardedStdout):
        sys.stdout = _GuardedStdout(sys.stdout)
    sys.excepthook = _excepthook


def _finish_output() -> None:
    """Flush stdout here, where a failure can still be reported in one line."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, StdoutError) as exc:
        raise SystemExit(_output_failed(exc)) from None


def run_reporting(body: Callable[[], Any]) -> Any:
    """``body()`` with every PipelineError as one line and its exit code; stdout guarded."""
    guard_stdout()
    try:
        result = body()
        _finish_output()
        return result
    except PipelineError as exc:
        _finish_output()
        console.error(str(exc))
        raise SystemExit(exits.code_for(exc)) from None
    except (BrokenPipeError, StdoutError) as exc:
        raise SystemExit(_output_failed(exc)) from None
    except KeyboardInterrupt:
        console.err.print("[bold red]interrupted[/]")
        raise SystemExit(exits.INTERRUPTED) from None


def task(
    *,
    help: dict[str, str] | None = None,
    shared: Iterable[Opt] = (),
    clone: bool = False,
    **kwargs: Any,
) -> Callable[[Callable[..., Any]], Task[Any]]:
    """invoke's @task with long flags only, the ``shared`` options added (``help`` may
    override their text), and ``clone``: refused outside a clone of the repository."""
    chosen = tuple(shared)

    def decorate(func: Callable[..., Any]) -> Task[Any]:
        name = kwargs.get("name") or func.__name__.replace("_", "-")
        names = {o.name for o in chosen} - set(inspect.signature(func).parameters)

        @functools.wraps(func)
        def wrapper(c: Context, *args: Any, **given: Any) -> Any:
            if any(v in ("-h", "--help") for v in (*args, *given.values())):
                _show_help(c, name)

            def body() -> Any:
                check_inert(c.config)
                if clone and not c.config.get(CLONE_KEY):
                    raise needs_clone(name)
                values = {k: v for k, v in given.items() if k in names}
                own = {k: v for k, v in given.items() if k not in names}
                return func(c, Given(c, values), *args, **own)

            return run_reporting(body)

        wrapper.__signature__ = _signature(func, chosen)  # type: ignore[attr-defined]
        texts = {o.name: o.help for o in chosen} | (help or {})
        made: Task[Any] = invoke_task(auto_shortflags=False, help=texts, **kwargs)(wrapper)
        return made

    return decorate
