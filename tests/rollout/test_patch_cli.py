"""`invoke patch` as a user runs it: the patch alone on stdout, stdin input, --out files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ray_worker_image.rollout import find_kubectl

ROOT = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).parent / "invoke")
CLUSTER = ROOT / "tests/data/kuberay/clusters/multi-group.yaml"
IMAGE = "registry.example.com/swe-fleet/ray:2.49.2-nats@sha256:" + "b" * 64
GPU_IMAGE = "registry.example.com/swe-fleet/ray:2.49.2-gpu-nats@sha256:" + "c" * 64


def _patch(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, "patch", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, check=False
    )


def _cluster_object() -> dict:
    docs = [
        d for d in yaml.safe_load_all(CLUSTER.read_text()) if d and d.get("kind") == "RayCluster"
    ]
    obj = docs[0]
    obj["spec"]["rayVersion"] = "2.49.2"
    return obj


def test_json_format_prints_the_patch_alone(tmp_path: Path) -> None:
    live = tmp_path / "rc.json"
    live.write_text(json.dumps(_cluster_object()))
    result = _patch(
        "--from",
        str(live),
        "--image",
        IMAGE,
        "--image",
        f"gpu-a100={GPU_IMAGE}",
        "--format",
        "json",
    )
    assert result.returncode == 0, result.stderr
    patch = json.loads(result.stdout)  # nothing else on stdout
    assert {op["op"] for op in patch} == {"test", "replace"}
    assert [op["value"] for op in patch if op["op"] == "replace"] == [
        IMAGE,
        IMAGE,
        GPU_IMAGE,
        IMAGE,
    ]
    kubectl = find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl")
    applied = subprocess.run(
        [
            kubectl,
            "patch",
            "--local",
            "-f",
            str(live),
            "--type=json",
            "-p",
            result.stdout,
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
    )
    assert applied.returncode == 0, applied.stderr


def test_stdin_yaml_and_out_dir(tmp_path: Path) -> None:
    result = _patch(
        "--from",
        "-",
        "--image",
        IMAGE,
        "--image",
        f"gpu-a100={GPU_IMAGE}",
        "--groups",
        "gpu-a100",
        "--format",
        "yaml",
        "--out",
        str(tmp_path / "out"),
        "--nats-url",
        "nats://nats.example:4222",
        stdin=yaml.safe_dump(_cluster_object()),
    )
    assert result.returncode == 0, result.stderr
    patch = yaml.safe_load(result.stdout)
    assert json.loads((tmp_path / "out/patch.json").read_text()) == patch
    assert json.loads((tmp_path / "out/rollback.json").read_text())
    script = tmp_path / "out/rollout.sh"
    assert subprocess.run(["bash", "-n", str(script)], check=False).returncode == 0
    assert "ray.io/node-type=worker,ray.io/group=gpu-a100" in script.read_text()
    canary = json.loads((tmp_path / "out/canary.json").read_text())  # gpu-a100 moves first
    assert [op["path"] for op in canary if op["op"] == "replace"] == [
        "/spec/workerGroupSpecs/1/template/spec/containers/0/image"
    ]


def test_unknown_group_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    live = tmp_path / "rc.json"
    live.write_text(json.dumps(_cluster_object()))
    result = _patch(
        "--from",
        str(live),
        "--image",
        IMAGE,
        "--groups",
        "gpu-workers",
        "--out",
        str(tmp_path / "out"),
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.strip().splitlines()
    assert "'gpu-workers' not found" in line and "cpu-small, gpu-a100, batch-cpu" in line
    assert not (tmp_path / "out").exists()


SHELL_IN_A_NAME = [
    (["--groups", 'g"$(touch {canary})"'], "--groups"),
    (["--name", "ray-$(touch {canary})"], "--name"),
    (["--namespace", "ns`touch {canary}`"], "--namespace"),
]


@pytest.mark.parametrize(("extra", "flag"), SHELL_IN_A_NAME, ids=[f for _, f in SHELL_IN_A_NAME])
def test_names_that_kubernetes_refuses_never_reach_a_script(
    tmp_path: Path, extra: list[str], flag: str
) -> None:
    """Names land in selectors and in rollout.sh: anything but a Kubernetes name is refused."""
    canary = tmp_path / "ran"
    options = {"--name": "ray-gpu", "--namespace": "fleet", "--groups": "gpu-workers"}
    options[extra[0]] = extra[1].format(canary=canary)
    argv = [a for pair in options.items() for a in pair]
    out = tmp_path / "out"
    result = _patch(*argv, "--image", IMAGE, "--format", "shell", "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {flag} ") and "not a valid" in lines[0]
    assert result.stdout == "" and not out.exists() and not canary.exists()


def test_a_group_name_from_the_cluster_file_is_checked_like_the_flag(tmp_path: Path) -> None:
    obj = _cluster_object()
    obj["spec"]["workerGroupSpecs"][0]["groupName"] = "w'$(touch /tmp/x)'"
    live = tmp_path / "rc.json"
    live.write_text(json.dumps(obj))
    result = _patch("--from", str(live), "--image", IMAGE, "--format", "shell")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {live}: spec.workerGroupSpecs[0].groupName ")
    assert "not a valid label value" in result.stderr and result.stdout == ""


def test_an_escaped_value_stays_a_literal_in_bash(tmp_path: Path) -> None:
    """The templates' second wall: `dq` keeps even an unvalidated value inert in bash."""
    from ray_worker_image.rollout.commands import in_double_quotes

    canary = tmp_path / "ran"
    evil = f'x"; touch {canary}; echo "$(touch {canary})`touch {canary}`\\'
    shown = subprocess.run(
        ["bash", "-c", f'echo "{in_double_quotes(evil)}"'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown == evil + "\n" and not canary.exists()
