"""`invoke status` bad input, as a user meets it: one line, exit 2 (3 when nothing answers),
before any registry or cluster is asked (issue 21 point 3; no engine, no registry)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.inprocess import Ran, run_invoke

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MANIFEST = str(ROOT / "deploy/k8s/ray-gpu.yaml")
DEAD = "127.0.0.1:9"  # nothing listens: a registry call would be exit 3, not 2


def run(*args: str, cwd: Path = ROOT, **env: str) -> subprocess.CompletedProcess[str] | Ran:
    """`invoke status ARGS` in the clone, in this process (tests/inprocess.py: the same exit code
    and streams, without 0.5 s of interpreter start); elsewhere ``args`` is a whole argv, run as a
    subprocess (the console script outside the clone)."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_IMAGE_", "INVOKE_"))}
    if cwd == ROOT:
        return run_invoke(["status", *args], ROOT, {**clean, **env})
    return subprocess.run(
        [*args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True, check=False,
        timeout=120,
    )  # fmt: skip


def one_error(result: subprocess.CompletedProcess[str] | Ran, code: int = 2) -> str:
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == code and len(errors) == 1, result.stderr
    assert result.stdout == ""
    return errors[0]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--from", MANIFEST], "error: status compares the fleet with this revision's releases:"
         " pass --registry HOST[:PORT]"),
        (["--from", "absent.yaml", "--registry", DEAD], "error: cannot read absent.yaml: No such"
         " file or directory; give the fleet's manifests, or kubectl get"),
        (["--from", "README.md", "--registry", DEAD], "error: README.md: not valid YAML or JSON"),
        (["--from", "invoke.yaml", "--registry", DEAD], "error: invoke.yaml: no RayCluster, RayJob"
         " or RayService in it (found no kind)"),
        (["--from", MANIFEST, "--context", "x", "--registry", DEAD], "error: --context is for the"
         " live cluster; with --from FILE drop it"),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_before_the_registry_is_asked(args: list[str], says: str) -> None:
    assert one_error(run(*args)).startswith(says)


def test_an_unreachable_registry_is_exit_3() -> None:
    line = one_error(run("--from", MANIFEST, "--registry", DEAD), code=3)
    assert line.startswith(f"error: registry {DEAD}: ConnectionError")


def test_kubectl_that_prints_no_json_is_one_line(tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\necho 'not json {'\n")
    fake.chmod(0o755)
    line = one_error(run("--registry", DEAD, PATH=f"{tmp_path}:{os.environ['PATH']}"))
    assert line == (
        "error: kubectl get rayclusters,rayjobs,rayservices -A -o json --request-timeout=30s:"
        " its output is not a JSON List; run it yourself to see why"
    )


def test_status_outside_the_clone_refuses_in_one_line(tmp_path: Path) -> None:
    line = one_error(run(str(BIN / "ray-worker-image"), "status", cwd=tmp_path, HOME=str(tmp_path)))
    assert line.startswith("error: status needs a clone of the ray-worker-image repository")
