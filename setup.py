"""Records the git revision a wheel is built from (`ray-worker-image --version`).

Everything else is in pyproject.toml; this only adds a build_py step that writes
ray_worker_image/_revision.txt (`git rev-parse --short=12 HEAD`, `-dirty` when the work tree
has changes) into the build. Not a git checkout, or no git: nothing is written and
`--version` says `unknown` (docs/command.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", *args], cwd=HERE, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


class BuildPyWithRevision(build_py):
    def run(self) -> None:
        super().run()
        revision = _git("rev-parse", "--short=12", "HEAD")
        if not revision:
            return
        if _git("status", "--porcelain", "--untracked-files=no"):
            revision += "-dirty"
        target = Path(self.build_lib) / "ray_worker_image" / "_revision.txt"
        target.write_text(revision + "\n", "utf-8")


setup(cmdclass={"build_py": BuildPyWithRevision})
