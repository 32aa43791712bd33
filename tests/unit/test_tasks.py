"""The task docstrings and help= texts are the user's manual: every task must render its help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess import run_invoke

ROOT = Path(__file__).resolve().parents[2]


def _tasks() -> list[str]:
    listed = run_invoke(["--list", "--list-format=json"], ROOT)
    assert listed.returncode == 0, listed.stderr
    out = listed.stdout
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
    result = run_invoke(["--help", task], ROOT)
    assert result.returncode == 0, result.stderr
    assert "Docstring:" in result.stdout
    options = [line for line in result.stdout.splitlines() if line.strip().startswith("--")]
    undocumented = [line.strip() for line in options if len(line.split()) < 2]
    assert not undocumented, f"options without help: {undocumented}"


@pytest.mark.parametrize("task", _tasks())
def test_help_after_the_task_name_shows_the_help(task: str) -> None:
    """`invoke sign --help` is how most users ask; a task with a positional argument
    (sign, verify, verify-tag) must not take `--help` as that argument's value."""
    result = run_invoke([task, "--help"], ROOT)
    assert result.returncode == 0, result.stderr
    assert "Docstring:" in result.stdout and "error:" not in result.stderr


def test_help_after_the_task_name_re_executes_invoke_for_real() -> None:
    """The in-process runner catches the re-exec; here the real console script does it."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "invoke"), "sign", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "Docstring:" in result.stdout and "REF: positional, or --ref" in " ".join(
        result.stdout.split()
    )


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--from", "nowhere.yaml"], "error: cannot read nowhere.yaml: No such file or directory"),
        (
            ["--from", "tests/data/kuberay/samples/ray-cluster.verl.yaml"],
            "error: tests/data/kuberay/samples/ray-cluster.verl.yaml: spec.workerGroupSpecs: "
            "no worker to run agent tasks on",
        ),
    ],
)
def test_e2e_refuses_a_bad_manifest_before_starting_anything(args: list[str], line: str) -> None:
    """The plan is checked first: one line, exit 1, no engine touched (none is configured)."""
    result = run_invoke(["e2e", "--engine", "no-such-engine", *args], ROOT)
    assert result.returncode == 2  # bad input (README "Exit codes")
    assert result.stderr.strip().splitlines()[-1].startswith(line)
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("args", [["not a ref"], ["--ref", "not a ref"]])
def test_ref_is_positional_or_an_option(args: list[str]) -> None:
    """Both spellings reach the reference check (so REF was received), and help says so."""
    result = run_invoke(["verify", *args, "--public-key", "/nonexistent/pub.pem"], ROOT)
    assert result.returncode == 2  # bad input
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: --public-key: no such file /nonexistent/pub.pem")
    )
    shown = run_invoke(["sign", "--help"], ROOT)
    assert "REF: positional, or --ref" in " ".join(shown.stdout.split())


@pytest.mark.parametrize("task", ["sign", "verify"])
def test_a_blank_ref_is_one_error_line(task: str) -> None:
    """REF given but blank: one `error:` line saying how to give it, before any key or
    registry is looked at."""
    result = run_invoke([task, " "], ROOT)
    assert result.returncode == 2  # bad input
    assert result.stderr.strip().splitlines() == [
        f"error: give the image reference: invoke {task} REGISTRY/REPO@sha256:... (or --ref REF)"
    ]
