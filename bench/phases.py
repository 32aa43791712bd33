"""Where a build's wall time goes: lines of its output timestamped as they arrive.

A cold build is split at the engine's first ``STEP`` line and its ``COMMIT`` line (buildah
prints both, for the pipeline's API build and for ``podman build`` alike): *before* (for the
pipeline: Python start-up, the base's digest, render, input key; for the CLI: its start),
*steps* (the Dockerfile's steps, the same engine work on both sides) and *after* (commit, the
pipeline's normalisation and tagging, exit).
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from .runner import TIMEOUT_S, BenchError, Timed, last_error_line

MARKS = {"steps": re.compile(r"\bSTEP 1/\d+"), "commit": re.compile(r"\bCOMMIT\b")}


def split(total: float, seen: Mapping[str, float]) -> dict[str, float] | None:
    """``{"before_s", "steps_s", "after_s"}`` from the marks' times (pure); None if one is
    missing."""
    if "steps" not in seen or "commit" not in seen:
        return None
    return {
        "before_s": round(seen["steps"], 2),
        "steps_s": round(seen["commit"] - seen["steps"], 2),
        "after_s": round(total - seen["commit"], 2),
    }


def run_marked(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = TIMEOUT_S,
) -> tuple[Timed, dict[str, float] | None]:
    """Run ``argv`` like runner.run (check=True) and split its time (see :func:`split`)."""
    started = time.perf_counter()
    seen: dict[str, float] = {}
    lines: dict[str, list[str]] = {"out": [], "err": []}

    def pump(stream: IO[str], sink: list[str]) -> None:
        for line in stream:
            now = time.perf_counter() - started
            sink.append(line)
            for name, pattern in MARKS.items():
                if name not in seen and pattern.search(line):
                    seen[name] = now

    try:
        process = subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    except OSError as exc:
        raise BenchError(f"{argv[0]}: {exc.strerror}") from exc
    assert process.stdout is not None and process.stderr is not None
    pumps = [
        threading.Thread(target=pump, args=(process.stdout, lines["out"]), daemon=True),
        threading.Thread(target=pump, args=(process.stderr, lines["err"]), daemon=True),
    ]
    for thread in pumps:
        thread.start()
    try:
        code = process.wait(timeout)
    except subprocess.TimeoutExpired as exc:
        process.kill()
        raise BenchError(f"{' '.join(argv[:3])}: no answer within {timeout:.0f} s") from exc
    for thread in pumps:
        thread.join(10)
    total = time.perf_counter() - started
    out, err = "".join(lines["out"]), "".join(lines["err"])
    if code != 0:
        raise BenchError(f"{' '.join(argv[:3])} failed: {last_error_line(err)}")
    return Timed(tuple(argv), total, code, out, err), split(total, seen)
