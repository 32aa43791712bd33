"""Where the tool runs: in a clone of the repository, or anywhere with the shipped definition.

``invoke`` in the clone passes the clone (the folder of its ``tasks.py``); the console
script looks for one from the current directory up. Outside a clone the read-only tasks
use ``--definition`` or the definition shipped in the package (``project/``: the image
definition and the requirement inputs it names, installed as package data).
"""

from __future__ import annotations

import json
import subprocess
from importlib import metadata, resources
from pathlib import Path

PROJECT = "ray-worker-image"
SHIPPED = Path(str(resources.files("ray_worker_image") / "project"))


def is_clone(folder: Path) -> bool:
    """``folder`` is a clone: its pyproject.toml names this project and it has tasks.py."""
    pyproject = folder / "pyproject.toml"
    try:
        text = pyproject.read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return f'name = "{PROJECT}"' in text and (folder / "tasks.py").is_file()


def find_clone(start: Path) -> Path | None:
    """The clone containing ``start`` (itself or a parent); None outside any."""
    for folder in (start, *start.parents):
        if is_clone(folder):
            return folder
    return None


def _installed_revision() -> str | None:
    """The commit pip recorded at install (``pip install git+URL@REV``: PEP 610
    direct_url.json ``vcs_info.commit_id``); None when it recorded none."""
    try:
        text = metadata.distribution(PROJECT).read_text("direct_url.json")
    except metadata.PackageNotFoundError:
        return None
    if not text:
        return None

    info = json.loads(text).get("vcs_info") or {}
    commit = info.get("commit_id")
    return str(commit)[:12] if commit else None


def _source_revision() -> str | None:
    """An editable install runs from its clone's src/: that clone's HEAD."""
    package = Path(__file__).resolve().parents[1]
    clone = package.parents[1]
    if not is_clone(clone):
        return None
    try:
        out = subprocess.run(
            ["git", "-C", str(clone), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def _built_revision() -> str | None:
    """The revision setup.py wrote into the wheel at build time (``_revision.txt``)."""
    try:
        text = (resources.files("ray_worker_image") / "_revision.txt").read_text("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return text.strip() or None


def version() -> str:
    """``<package version> (git <revision>)``: the revision written into the wheel at build
    (setup.py), else the commit pip recorded (``pip install git+URL@REV``), else an editable
    install's clone HEAD, else ``unknown``."""
    try:
        number = metadata.version(PROJECT)
    except metadata.PackageNotFoundError:
        number = "unknown"
    revision = _built_revision() or _installed_revision() or _source_revision() or "unknown"
    return f"{number} (git {revision})"
