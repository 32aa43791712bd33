"""`invoke release` with bad input fails in one line before anything slow, against the real
loopback registry: the release's repository gets no tag and no build folder is made.

The plan fails before any engine is asked for, so this file is quick; it still holds the
engine lock, because it reads the shared registry.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
import yaml

from ..conftest import ROOT

INVOKE = str(Path(sys.executable).parent / "invoke")
SAMPLE = ROOT / "tests/data/kuberay/clusters/multi-group.yaml"


def _tags(registry: str, repository: str) -> list[str]:
    answer = requests.get(f"http://{registry}/v2/{repository}/tags/list", timeout=10)
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    return list(answer.json().get("tags") or [])


@pytest.fixture
def private(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "image"
    shutil.copytree(ROOT / "images/ray-swe-fleet", folder)
    raw = yaml.safe_load((folder / "image.yaml").read_text())
    repository = f"swe-fleet/ray-plan-{uuid.uuid4().hex[:8]}"
    raw["target"]["repository"] = repository
    (folder / "image.yaml").write_text(yaml.safe_dump(raw))
    return folder / "image.yaml", repository


BAD = [
    (["--restart", "bogus"], "--restart 'bogus'"),
    (["--from", "/nonexistent/rc.yaml"], "/nonexistent/rc.yaml"),
    (["--from", str(SAMPLE), "--groups", "no-such-group"], "no-such-group"),
    (["--username", "ci-bot"], "RAY_IMAGE_REGISTRY_PASSWORD"),
    (["--variant", "2.52.1-py310"], "--variant 2.52.1-py310: not in"),
    (["--all-variants", "--from", str(SAMPLE)], "build variant 2.49.2-cu121"),
    # preflight.py: refused in the plan, not after the build
    (["--out", "/etc/passwd"], "--out /etc/passwd: is not a folder"),
    (["--out", "/sys/rollout"], "--out /sys/rollout: cannot write in /sys"),
    (["--registry-ca", "/etc/passwd"], "--registry-ca /etc/passwd: holds no PEM certificate"),
    (["--groups", "a b"], "--groups 'a b' is not a valid label value"),
    (["--variant", "2.49.2", "--all-variants"], "--variant 2.49.2 and --all-variants"),
]


@pytest.mark.parametrize(("extra", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_input_builds_and_pushes_nothing(
    registry: str, private: tuple[Path, str], tmp_path: Path, extra: list[str], message: str
) -> None:
    definition, repository = private
    env = {**os.environ, "RAY_IMAGE_BUILD_DIR": str(tmp_path / "build")}
    env.pop("RAY_IMAGE_REGISTRY_PASSWORD", None)
    before = _tags(registry, repository)
    result = subprocess.run(
        [
            INVOKE,
            "release",
            "--stand-in",
            "--registry",
            registry,
            "--definition",
            str(definition),
            "--json",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode != 0
    assert result.stdout == ""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "engine:" not in result.stderr  # refused before an engine was asked for
    assert _tags(registry, repository) == before == []
    assert not (tmp_path / "build").exists()
