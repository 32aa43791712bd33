"""Run `invoke ARGS` inside the test process, as the `invoke` console script runs it.

A subprocess per call costs about 0.5 s of interpreter and import start-up; the fast lane makes
about a hundred such calls, so the command-line tests run invoke's own ``Program`` here instead,
with the environment, the working folder, argv and the standard streams swapped for the call
and put back afterwards. What the user sees is the same: the exit code (``SystemExit``), stdout
and stderr. ``TASK --help`` re-executes the interpreter as ``python -m invoke --help TASK``
(``cli/task.py``); here that ``os.execv`` is caught and its argv run in the same way.
``tests/unit/test_command.py`` and one test of ``tests/unit/test_tasks.py`` keep starting the
real console scripts in a subprocess, so the entry points and the re-exec stay proven.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import invoke
from invoke.program import Program

from ray_worker_image.cli import TASKS
from ray_worker_image.cli.program import main as command_main


class _Exec(Exception):
    def __init__(self, argv: list[str]) -> None:
        super().__init__(argv)
        self.argv = argv


def _execv(path: str, argv: list[str]) -> None:
    raise _Exec(list(argv))


@dataclass(frozen=True)
class Ran:
    """What a run of the command showed: ``returncode``, ``stdout`` and ``stderr`` (text)."""

    returncode: int
    stdout: str
    stderr: str


def run_invoke(
    args: list[str] | tuple[str, ...],
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> Ran:
    """``invoke *args`` in ``cwd`` with exactly ``env`` (default: this process's environment).

    Returns the :class:`Ran` of the call; never raises for the command's own failures.
    """
    return run_program("invoke", args, cwd, env, stdin)


def _program(name: str) -> Callable[[list[str]], object]:
    if name == "invoke":
        stock = Program(
            name="Invoke",
            binary="inv[oke]",
            binary_names=["invoke", "inv"],
            version=invoke.__version__,
        )
        return stock.run
    if name == "ray-worker-image":
        return lambda argv: command_main()
    raise ValueError(f"unknown program {name!r}")


def run_program(
    name: str,
    args: list[str] | tuple[str, ...],
    cwd: Path,
    env: dict[str, str] | None = None,
    stdin: str | None = None,
) -> Ran:
    """``NAME *args`` (``invoke`` or the console script ``ray-worker-image``) as
    :func:`run_invoke` runs ``invoke``."""
    program = _program(name)
    saved_env, saved_cwd, saved_argv, saved_stdin = (
        dict(os.environ),
        Path.cwd(),
        sys.argv,
        sys.stdin,
    )
    saved_modules, saved_execv = set(sys.modules), os.execv
    # invoke pops each option's help text from its Task when it first parses (Task.arg_opts):
    # a process does that once; here the tasks are kept, so their texts are put back
    saved_help = [(task, dict(task.help)) for task in TASKS]
    out, err = io.StringIO(), io.StringIO()
    code = 0
    exec_argv: list[str] | None = None
    try:
        if env is not None:
            os.environ.clear()
            os.environ.update(env)
        os.chdir(cwd)
        sys.argv = [name, *args]
        sys.stdin = io.StringIO(stdin or "")
        os.execv = _execv
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                program([name, *args])
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            except _Exec as exc:
                exec_argv = exc.argv
    finally:
        for task, texts in saved_help:
            task.help = texts
        os.execv = saved_execv
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.argv = saved_argv
        sys.stdin = saved_stdin
        for module in ("tasks", "devtasks"):  # each project folder's own tasks.py is loaded anew
            if module not in saved_modules:
                sys.modules.pop(module, None)
    if exec_argv is not None:  # the process would have become `python -m invoke ...`
        assert exec_argv[1:3] == ["-m", "invoke"], exec_argv
        assert name == "invoke", exec_argv
        again = run_invoke(exec_argv[3:], cwd, env, stdin)
        return Ran(again.returncode, out.getvalue() + again.stdout, err.getvalue() + again.stderr)
    return Ran(code, out.getvalue(), err.getvalue())
