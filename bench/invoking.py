"""The pipeline as a user runs it: ``invoke build`` / ``invoke release`` as subprocesses.

Each bench run works on a private copy of the image definition (its own target repository) and
a private build folder, as tests/engine/test_cli.py does, so the user's tags, registry
repositories and build/ are never touched and whatever the merged pipeline does is measured.
The private lock folder lives under build/ (the definition requires lock paths inside the
repository), so the "lock only changed" section can edit a copy, never the committed lock.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import yaml

from .runner import BenchError

ROOT = Path(__file__).resolve().parent.parent
INVOKE = str(Path(sys.executable).parent / "invoke")
# The lock change the warm section measures: a real bump that installs different files.
BUMP = ("nats-py", "2.9.0")


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


def bump_requirement(definition: Path, name: str, version: str) -> tuple[str, Path]:
    """A dependency bump as a user makes it, on the private copy of the definition.

    The definition's ``requirements.input`` (ray-worker.in) is copied next to the private
    locks with ``name==version`` and the definition points at the copy; ``invoke lock``
    then re-locks it inside the base, so the next build installs different files.
    Returns (the version it was pinned to, the copied .in). Raises BenchError when the .in
    does not pin ``name``.
    """
    raw = yaml.safe_load(definition.read_text())
    source = ROOT / raw["requirements"]["input"]
    text = source.read_text()
    pattern = re.compile(rf"^{re.escape(name)}==(\S+)$", re.MULTILINE)
    found = pattern.search(text)
    if found is None:
        raise BenchError(f"{source}: no '{name}==…' line to bump")
    private = ROOT / raw["requirements"]["locks"] / source.name
    private.write_text(pattern.sub(f"{name}=={version}", text))
    raw["requirements"]["input"] = str(private.relative_to(ROOT))
    definition.write_text(yaml.safe_dump(raw, sort_keys=False))
    return found.group(1), private


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
