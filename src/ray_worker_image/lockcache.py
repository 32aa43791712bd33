"""Reuse a lock check's pip-compile result within one run, keyed by everything it reads.

The lock check (:func:`.steps.lock_stale`) runs pip-compile inside the base: tens of
seconds each time. A folder named by ``$RAY_IMAGE_LOCK_CACHE`` keeps each fresh result under
:func:`compute_key` (the base digest and every file and setting :func:`.lock.compute_lock`
reads), so the same inputs are compiled once per folder. Unset (the default), nothing is
kept. The test suite sets it to a folder of its own for one run (tests/conftest.py,
docs/testing.md): PyPI moves, so a result is never reused across runs.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from .definition import ImageDefinition
from .lock import PIP_TOOLS_LOCK, LockResult, variant_input
from .runcache import kept_or_computed
from .state import ResolvedBase

ENV = "RAY_IMAGE_LOCK_CACHE"
KEY_VERSION = 1


def compute_key(definition: ImageDefinition, base: ResolvedBase, ca_cert: Path | None) -> str:
    """sha256 hex of what pip-compile in the base depends on. Reads the .in files, the
    pip-tools lock and the CA bundle; raises OSError if one is missing."""
    reqs = definition.requirements
    base_def = definition.base
    files = {
        "shared.in": reqs.input.read_bytes(),
        "build.in": reqs.build_input.read_bytes(),
        "variant.in": variant_input(definition).encode(),
        "pip-tools.txt": (definition.root / PIP_TOOLS_LOCK).read_bytes(),
        "ca": ca_cert.read_bytes() if ca_cert else b"",
    }
    document = {
        "version": KEY_VERSION,
        "base": base.digest,
        "variant": definition.variant,
        "python": base_def.python_path,
        "pip": base_def.pip_path,
        "user": [base_def.user.uid, base_def.user.gid],
        "paths": [
            p.relative_to(definition.root).as_posix()
            for p in (reqs.input, reqs.lock, reqs.build_input, reqs.build_lock, reqs.constraints)
        ],
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def cached_lock(
    definition: ImageDefinition,
    base: ResolvedBase,
    ca_cert: Path | None,
    compute: Callable[[], LockResult],
    folder: str | None = None,
) -> tuple[LockResult, bool]:
    """``compute()``'s result, or the one kept under the same key: (result, reused).

    ``folder`` defaults to ``$RAY_IMAGE_LOCK_CACHE``; empty or unset: always compute.
    """
    where = os.environ.get(ENV, "") if folder is None else folder
    if not where:
        return compute(), False
    data, reused = kept_or_computed(
        where,
        f"lock-{compute_key(definition, base, ca_cert)}.json",
        lambda: json.dumps(asdict(compute())).encode(),
        valid=_is_lock_result,
    )
    return LockResult(**json.loads(data)), reused


def _is_lock_result(data: bytes) -> bool:
    try:
        LockResult(**json.loads(data))
    except (ValueError, TypeError):
        return False
    return True
