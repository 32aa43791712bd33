"""The task docstrings and help= texts are the user's manual: every task must render its help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).parent / "invoke")


def _tasks() -> list[str]:
    out = subprocess.run(
        [INVOKE, "--list", "--list-format=json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return sorted(t["name"] for t in json.loads(out)["tasks"])


def test_the_documented_tasks_exist() -> None:
    assert set(_tasks()) >= {
        "lock",
        "render",
        "build",
        "test",
        "push",
        "patch",
        "release",
        "report",
        "e2e",
        "standin",
        "verify-tag",
        "lint",
        "unit",
    }


@pytest.mark.parametrize("task", _tasks())
def test_every_task_explains_itself(task: str) -> None:
    result = subprocess.run(
        [INVOKE, "--help", task], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "Docstring:" in result.stdout
    options = [line for line in result.stdout.splitlines() if line.strip().startswith("--")]
    undocumented = [line.strip() for line in options if len(line.split()) < 2]
    assert not undocumented, f"options without help: {undocumented}"
