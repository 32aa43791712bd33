"""The exit-code table (README "Exit codes", ray_worker_image.cli.exits), case by case:
0 success, 1 a check found a difference or a failure, 2 usage or input error, 3 could not run.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from ray_worker_image import errors
from ray_worker_image.cli import exits
from ray_worker_image.contract import ContractError
from ray_worker_image.e2e.plan import PlanError
from ray_worker_image.steps import stale_error
from tests.inprocess import Ran, run_program

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "registry.example.com/swe-fleet/ray:2.49.2-nats@sha256:" + "c4" * 32


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (errors.UsageError, 2),
        (errors.DefinitionError, 2),
        (errors.RolloutError, 2),
        (PlanError, 2),
        (errors.CheckFailed, 1),
        (errors.LockError, 1),
        (errors.ImageTestFailure, 1),
        (ContractError, 1),
        (errors.PushError, 1),
        (errors.EngineError, 1),
        (errors.PipelineError, 1),
        (errors.Unavailable, 3),
        (errors.EngineUnavailable, 3),
        (errors.RegistryUnavailable, 3),
    ],
)
def test_each_error_kind_has_its_code(error: type[errors.PipelineError], code: int) -> None:
    assert exits.code_for(error("x")) == code


def test_a_stale_lock_is_a_check_failure() -> None:
    found = stale_error({"2.49.2": ["ray-worker.txt: nats-py 2.6 -> 2.7"]})
    assert found is not None and exits.code_for(found) == 1


def _run(program: str, argv: list[str], tmp_path: Path) -> Ran:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAY_IMAGE_", "INVOKE_"))}
    env.update(
        HOME=str(tmp_path),
        DOCKER_HOST=f"unix://{tmp_path}/no-docker.sock",
        RAY_IMAGE_PODMAN_SOCKET=f"{tmp_path}/no-podman.sock",
        NO_COLOR="1",
    )
    return run_program(program, argv, ROOT, env)


def _drifted(tmp_path: Path) -> str:
    manifest = tmp_path / "ray-gpu.yaml"
    shutil.copy(ROOT / "deploy/k8s/ray-gpu.yaml", manifest)
    return str(manifest)


CASES = {
    "ok: verify-tag": (lambda t: ["verify-tag", "v2.49.2-nats.1"], 0),
    "check: patch --check finds drift": (
        lambda t: ["patch", "--write", _drifted(t), "--check", "--image", IMAGE],
        1,
    ),
    "check: verify-tag refuses the tag": (lambda t: ["verify-tag", "v2.49.2-nats.x"], 1),
    "input: bad --restart": (lambda t: ["patch", "--image", IMAGE, "--restart", "soon"], 2),
    "input: bad reference": (lambda t: ["patch", "--image", "Not A Ref"], 2),
    "input: unknown variant": (lambda t: ["patch", "--image", IMAGE, "--variant", "9.9.9"], 2),
    "input: inert --dry": (lambda t: ["--dry", "verify-tag", "v2.49.2-nats.1"], 2),
    "unavailable: no engine": (lambda t: ["contract", "--engine", "docker"], 3),
    "unavailable: registry where nothing listens": (
        lambda t: ["verify", "127.0.0.1:9/swe-fleet/ray:2.49.2-nats", "--public-key", _key(t)],
        3,
    ),
}


def _key(tmp_path: Path) -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    path = tmp_path / "pub.pem"
    path.write_bytes(
        public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return str(path)


@pytest.mark.parametrize("program", ["invoke", "ray-worker-image"])
@pytest.mark.parametrize("case", list(CASES))
def test_exit_code_case_by_case(tmp_path: Path, case: str, program: str) -> None:
    argv, code = CASES[case]
    result = _run(program, argv(tmp_path), tmp_path)
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    if code:
        assert [line for line in result.stderr.splitlines() if line.startswith("error:")]


@pytest.mark.parametrize(("program", "code"), [("invoke", 1), ("ray-worker-image", 2)])
def test_parse_errors(tmp_path: Path, program: str, code: int) -> None:
    """invoke's own parse errors stay 1 under plain invoke (README says so); the console
    script has the whole table: a usage error is 2."""
    for argv in (["patch", "--no-such-flag"], ["no-such-task"]):
        result = _run(program, argv, tmp_path)
        assert result.returncode == code, result.stderr
