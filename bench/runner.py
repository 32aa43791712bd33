"""Running engine commands for the benchmark: under the shared engine lock, timed, bounded.

The engines and the registry are shared with other developers, so every command that uses them
runs while this process holds ``/tmp/ray-image-engine.lock`` (the lock ``flock(1)`` takes; see
notes/common.md), one command per hold. Only the command itself is timed, never the wait for
the lock. ``invoke bench`` must therefore not itself be started under ``flock`` on that file.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

from ray_worker_image.errors import PipelineError
from ray_worker_image.proc import file_lock

ENGINE_LOCK = Path(os.environ.get("RAY_IMAGE_ENGINE_LOCK", "/tmp/ray-image-engine.lock"))
TIMEOUT_S = 900


class BenchError(PipelineError):
    """A step of the benchmark failed; the message is one line for the user."""


@dataclasses.dataclass(frozen=True)
class Timed:
    """One command: wall seconds (lock wait excluded), exit code and its output."""

    argv: tuple[str, ...]
    seconds: float
    returncode: int
    stdout: str
    stderr: str


@contextmanager
def engine_lock() -> Iterator[None]:
    """Hold the shared engine lock (blocks until the other developers' holds end)."""
    with file_lock(ENGINE_LOCK):
        yield


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = TIMEOUT_S,
    check: bool = True,
) -> Timed:
    """Run ``argv`` (no shell); BenchError naming the command and its last error line."""
    started = time.perf_counter()
    try:
        done = subprocess.run(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"{' '.join(argv[:3])}: no answer within {timeout:.0f} s") from exc
    except OSError as exc:
        raise BenchError(f"{argv[0]}: {exc.strerror}") from exc
    timed = Timed(
        tuple(argv), time.perf_counter() - started, done.returncode, done.stdout, done.stderr
    )
    if check and done.returncode != 0:
        raise BenchError(f"{' '.join(argv[:3])} failed: {last_error_line(done.stderr)}")
    return timed


def last_error_line(stderr: str) -> str:
    """The line that says why (``error:`` first, else the last non-empty line), one line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.lower().startswith("error")]
    return (errors or lines or ["(no output)"])[-1][:300]


def locked(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = TIMEOUT_S,
    check: bool = True,
) -> Timed:
    """``run`` while holding the engine lock."""
    with engine_lock():
        return run(argv, env=env, cwd=cwd, timeout=timeout, check=check)


def dangling(cli: str) -> set[str]:
    """Ids of the engine's dangling images (untagged build stages); call under the lock."""
    out = run([cli, "images", "-q", "--no-trunc", "--filter", "dangling=true"]).stdout
    return {line.strip() for line in out.splitlines() if line.strip()}


def remove_images(cli: str, refs: Sequence[str]) -> None:
    """Remove images by id or tag, ignoring ones already gone; call under the lock."""
    for ref in refs:
        run([cli, "rmi", "-f", ref], check=False)
