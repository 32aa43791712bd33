"""The rollout's own flags, checked before anything is planned or printed (one line each).

The generic checks (``--out``, a folder we can write in) are :mod:`..preflight`'s; these
need the rollout's types: ``--write`` (a manifest, or a folder with a kustomization file:
:mod:`.kustomize`) and ``patch``'s flag combinations (:class:`.options.ClusterOptions`).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import UsageError
from ..preflight import check_out_dir, probe_folder
from .kustomize import FILES, kustomization_in
from .options import ClusterOptions


def check_writable_file(path: str | None, flag: str = "--write") -> None:
    """``path`` (when given) is an existing file that can be replaced in place (its folder
    is writable too: the edit is written next to it and renamed over it), or a folder with
    a kustomization file (then that file is checked). A symlink's target is checked."""
    if not path:
        return
    file = Path(path)
    if file.is_dir():
        found = kustomization_in(file)
        if found is None:
            raise UsageError(
                f"{flag} {path}: is a folder without {' or '.join(FILES)}; give the manifest file"
                " or a kustomization folder"
            )
        file = found
    if not file.is_file():
        raise UsageError(f"{flag} {path}: no such file; give the manifest file to edit")
    file = Path(os.path.realpath(file))
    try:
        with file.open("r+b"):
            pass
    except OSError as exc:
        raise UsageError(
            f"{flag} {path}: cannot write it ({exc.strerror}); fix its permissions or mount"
        ) from None
    reason = probe_folder(file.absolute().parent)
    if reason:
        raise UsageError(
            f"{flag} {path}: cannot write in its folder ({reason}): the edit is written next "
            "to the file, then renamed over it; fix the folder's permissions"
        )


def check_patch_inputs(
    cluster: ClusterOptions, *, all_variants: bool, out: str | None, write: str | None, check: bool
) -> None:
    """``patch``'s flags before anything is planned or printed: ``--image`` with
    ``--all-variants`` (each variant's last push is the image: refused, not ignored),
    ``--out`` a folder we can write, ``--write`` a file we can replace (checked before the
    diff is printed as if it were written)."""
    if all_variants and cluster.images:
        raise UsageError(
            "--image with --all-variants: each variant's own last push is its image; drop "
            "--image, or drop --all-variants and give --image REF (or GROUP=REF per group)"
        )
    check_out_dir(out)
    if write and not check:
        check_writable_file(write)
