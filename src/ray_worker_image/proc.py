"""Host commands outside the engine and registry seams (git, mmdebstrap, pytest, linters).

Every one runs with a timeout; a command that cannot start or does not finish in time
becomes a one-line PipelineError naming what to do, never a traceback.
"""

from __future__ import annotations

import fcntl
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .errors import PipelineError

GIT_TIMEOUT = 60  # seconds: git rev-parse/status/log on a checkout
STAND_IN_TIMEOUT = 1800  # seconds: mmdebstrap of a minimal Debian root from the archive
IMAGE_TESTS_TIMEOUT = 1800  # seconds: the whole in-image testinfra suite of one image
LINT_TIMEOUT = 600  # seconds: one linter over the generated files


def run(
    argv: Sequence[str], *, timeout: float, hint: str, **kwargs: Any
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(argv, timeout=timeout, check=False, **kwargs)``.

    Raises PipelineError (one line: the program, what happened, ``hint``) when the
    program is missing or cannot start (OSError) or runs longer than ``timeout`` seconds
    (it is killed first). A non-zero exit is returned, not raised: callers decide.
    """
    program = argv[0] if argv else "?"
    try:
        return subprocess.run(list(argv), timeout=timeout, check=False, **kwargs)
    except subprocess.TimeoutExpired:
        raise PipelineError(
            f"`{program}` did not finish within {timeout:.0f} s and was stopped; {hint}"
        ) from None
    except OSError as exc:
        raise PipelineError(f"`{program}` could not run ({exc.strerror or exc}); {hint}") from None


def git(root: object, *args: str) -> str | None:
    """``git ARGS`` in ``root`` (bounded by GIT_TIMEOUT): its stripped stdout, or None when
    git is missing, fails or hangs (callers fall back or raise their own one line)."""
    try:
        return subprocess.run(
            ["git", *args],
            cwd=str(root),
            capture_output=True,
            text=True,
            check=True,
            timeout=GIT_TIMEOUT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return None


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive flock(2) on ``path`` (created if missing) while inside: one holder
    per machine, released when the block ends or the process dies. Blocks until free."""
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
