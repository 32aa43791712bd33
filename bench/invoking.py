"""The pipeline as a user runs it: ``invoke build`` / ``invoke release`` as subprocesses.

Each bench run works on a private copy of the image definition (its own target repository) and
a private build folder, as tests/engine/test_cli.py does, so the user's tags, registry
repositories and build/ are never touched and whatever the merged pipeline does is measured.
The private lock folder lives under build/ (the definition requires lock paths inside the
repository), so the "lock only changed" section can edit a copy, never the committed lock.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
INVOKE = str(Path(sys.executable).parent / "invoke")
LOCK_CHANGE_LINE = "# invoke bench: a lock-only change (a comment: no version or hash differs)\n"


def private_definition(workdir: Path, label: str) -> Path:
    """Copy images/ray-swe-fleet and the locks under ``workdir`` (inside ROOT/build/).

    Returns the copied image.yaml: target repository ``swe-fleet/ray-bench-<label>``, locks
    ``<workdir>/requirements`` (relative to ROOT, as the definition requires).
    """
    folder = workdir / "image"
    shutil.copytree(ROOT / "images/ray-swe-fleet", folder)
    raw: dict[str, Any] = yaml.safe_load((folder / "image.yaml").read_text())
    locks = workdir / "requirements"
    shutil.copytree(ROOT / raw["requirements"]["locks"], locks)
    raw["target"]["repository"] = f"swe-fleet/ray-bench-{label}"
    raw["requirements"]["locks"] = str(locks.relative_to(ROOT))
    (folder / "image.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder / "image.yaml"


def change_lock_only(definition: Path, variant: str) -> Path:
    """Append one comment line to the private copy of the variant's ray-worker.txt.

    Nothing pip reads changes (same versions and hashes: ``lock --check`` still passes), but
    the lock's bytes do, so its sha256 (an image label) and the build context change.
    """
    raw = yaml.safe_load(definition.read_text())
    lock: Path = ROOT / raw["requirements"]["locks"] / variant / "ray-worker.txt"
    with lock.open("a") as handle:
        handle.write(LOCK_CHANGE_LINE)
    return lock


def invoke_argv(
    task: str, *, engine: str, definition: Path, variant: str, **flags: Any
) -> list[str]:
    """``invoke TASK --engine E --stand-in --definition D --variant V [--flag value|--flag]``."""
    argv = [
        INVOKE,
        task,
        "--engine",
        engine,
        "--stand-in",
        "--definition",
        str(definition),
        "--variant",
        variant,
    ]
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            argv.append(flag)
        elif value not in (None, False):
            argv += [flag, str(value)]
    return argv


def invoke_env(build_dir: Path) -> dict[str, str]:
    """The environment of a user's shell, with a private state/build folder."""
    return {**os.environ, "RAY_IMAGE_BUILD_DIR": str(build_dir)}
