"""Results kept for one run, in a folder an environment variable names, under their input key.

The pipeline recomputes everything from the engine and the registry; a few results are slow
to compute and are a pure function of inputs it already hashes (pip-compile in the base:
:mod:`.lockcache`; the SBOM of an image id: :mod:`.supply.sbom`). When the caller names a
folder (the test suite does, one per run: tests/conftest.py, docs/testing.md), each result is
written there once under its key and read back by every later step of that run, in any
process. Unset (users, the release workflow): nothing is kept and everything is computed.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def kept_or_computed(
    folder: str, name: str, compute: Callable[[], bytes], valid: Callable[[bytes], bool]
) -> tuple[bytes, bool]:
    """``compute()``'s bytes, or those kept as ``folder/name``: (data, reused).

    An empty ``folder`` keeps nothing. Kept bytes that ``valid`` rejects (a file from an older
    format) are computed again and replaced. The write is atomic (a temporary file renamed,
    removed if the write fails): a concurrent reader in another process sees all of it or
    nothing. Raises what ``compute`` raises, or OSError from the write; nothing is kept then.
    """
    if not folder:
        return compute(), False
    path = Path(folder) / name
    try:
        data = path.read_bytes()
        if valid(data):
            return data, True
    except OSError:
        pass
    data = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as out:
        try:
            out.write(data)
            out.close()
            os.replace(out.name, path)
        except BaseException:
            Path(out.name).unlink(missing_ok=True)  # no partial file left behind
            raise
    return data, False
