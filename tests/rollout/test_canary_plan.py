"""The canary stage's plan: the group, each skip reason, the refusal, the split patch, the CLI."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ray_worker_image.errors import RolloutError
from ray_worker_image.output import print_rollout
from ray_worker_image.rollout import ClusterView, load_cluster, plan_rollout, render_shell
from ray_worker_image.rollout.canary import (
    CanaryOptions,
    carries_nats_url,
    check_nats_url,
    check_subject,
    plan_canary,
)
from ray_worker_image.rollout.options import ClusterOptions, with_canary

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests/data/kuberay/clusters/two-groups-gpu-second.yaml"
IMAGE = "registry.example.com/swe-fleet/ray:2.49.2-nats@sha256:" + "ab" * 32
INVOKE = str(Path(sys.executable).parent / "invoke")


def cluster(**spec: Any) -> dict[str, Any]:
    obj = copy.deepcopy(load_cluster(str(FIXTURE)))
    obj["spec"].update(spec)
    return obj


DEFAULT = CanaryOptions()


def planned(obj: dict[str, Any], options: CanaryOptions = DEFAULT, **plan: Any) -> Any:
    rollout = plan_rollout(ClusterView.from_object(obj, source="rc.yaml"), IMAGE, **plan)
    return with_canary(rollout, ClusterOptions(canary=options), obj)


def owned(kind: str) -> dict[str, Any]:
    key = "rayClusterSpec" if kind == "RayJob" else "rayClusterConfig"
    obj = cluster()
    return {**obj, "kind": kind, "spec": {key: obj["spec"]}}


URL = CanaryOptions(nats_url="nats://nats.fleet:4222")


def test_the_first_restarted_group_moves_first_and_the_patch_splits_in_two() -> None:
    plan = planned(cluster(), URL, restart="all")
    c = plan.canary
    assert c.active and c.group == "cpu-workers" and c.skip is None and c.refusal is None
    paths = [op["path"] for op in c.patch]
    assert paths[0] == "/spec/rayVersion"
    assert all(p.startswith("/spec/workerGroupSpecs/0/") for p in paths[1:])
    rest = [op["path"] for op in c.after]
    assert rest[0] == "/spec/rayVersion" and not [p for p in rest if "workerGroupSpecs/0/" in p]
    # together they are the whole patch, the shared guard twice
    assert sorted(map(json.dumps, [*c.patch, *c.after[1:]])) == sorted(map(json.dumps, plan.patch))
    assert [op for op in c.rollback if op["op"] == "replace"] == [
        {"op": "replace", "path": paths[-1], "value": "rayproject/ray:2.49.2"}
    ]
    titles = [cmd.title for cmd in plan.commands if cmd.phase == "rollout"]
    assert titles[:7] == [
        "Dry-run patch.json on the server",
        "Apply canary.json (worker group cpu-workers first)",
        "Restart worker group 'cpu-workers'",
        "Wait for worker group 'cpu-workers' on its template's image",
        "Canary job on worker group cpu-workers",
        "Apply the rest of the patch (after-canary.json)",
        "Restart worker group 'gpu-workers'",
    ]
    assert titles[8:10] == ["Restart the head", "Wait for the head on its template's image"]


def test_canary_names_the_group() -> None:
    plan = planned(cluster(), CanaryOptions(group="gpu-workers", nats_url="nats://n:4222"))
    assert plan.canary.group == "gpu-workers"
    ips = (
        "kubectl get pods -n ray -l ray.io/cluster=ray-gpu,ray.io/node-type=worker,"
        "ray.io/group=gpu-workers -o 'jsonpath={range .items[*]}{.status.podIP}"
    )
    assert ips in render_shell(plan)


def test_canary_group_not_moved_is_one_line() -> None:
    with pytest.raises(RolloutError, match=r"^--canary 'gpu-workers': not a worker group this "
                       r"rollout restarts \(it restarts: cpu-workers\); pick one"):  # fmt: skip
        planned(cluster(), CanaryOptions(group="gpu-workers"), groups=["cpu-workers"])


@pytest.mark.parametrize(
    ("obj", "options", "plan", "reason"),
    [
        (cluster(), CanaryOptions(enabled=False), {}, "--no-canary"),
        (
            owned("RayService"),
            URL,
            {},
            "a RayService's pods are replaced by KubeRay itself, not by this script",
        ),
        (
            owned("RayJob"),
            URL,
            {},
            "a RayJob's pods are replaced by KubeRay itself, not by this script",
        ),
        (
            cluster(upgradeStrategy={"type": "Recreate"}),
            URL,
            {},
            "spec.upgradeStrategy.type is Recreate: KubeRay replaces every pod itself",
        ),
        (cluster(suspend=True), URL, {}, "spec.suspend is true: no pod runs"),
        (cluster(), URL, {"restart": "head"}, "--restart head restarts no worker group"),
        (cluster(), URL, {"restart": "none"}, "--restart none restarts no worker group"),
        (cluster(), URL, {"groups": []}, "no worker group is moved"),
    ],
)
def test_each_skip_reason_is_one_line_in_the_plan_and_the_script(
    obj: dict[str, Any], options: CanaryOptions, plan: dict[str, Any], reason: str
) -> None:
    rollout = planned(obj, options, **plan)
    assert rollout.canary.skip == reason and not rollout.canary.active
    script = render_shell(rollout)
    assert f"echo 'rollout.sh: canary stage skipped: {reason}' >&2" in script.replace(
        "'\"'\"'", "'"
    )
    assert "canary_job" not in script


def test_without_a_nats_url_the_script_is_refused_when_the_object_says_so() -> None:
    plan = planned(cluster())
    assert plan.canary.refusal == (
        "canary refused: no NATS URL for worker group 'cpu-workers' (rc.yaml: no NATS_URL in"
        " spec.workerGroupSpecs[0].template.spec.containers[0].env); pass --nats-url"
        " nats://HOST:4222, set NATS_URL in the group's containers[0].env, or skip the stage"
        " with --no-canary"
    )
    with pytest.raises(RolloutError, match=r"^canary refused: no NATS URL"):
        render_shell(plan)
    obj = cluster()
    env = obj["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "NATS_URL", "valueFrom": {"secretKeyRef": {"name": "n", "key": "url"}}})
    assert planned(obj).canary.refusal is None  # a Secret is fine: the task reads it in the pod


def test_carries_nats_url_reads_the_groups_ray_container() -> None:
    obj = owned("RayService")
    group = obj["spec"]["rayClusterConfig"]["workerGroupSpecs"][1]
    group["template"]["spec"]["containers"][0]["env"].append({"name": "NATS_URL", "value": "x"})
    assert carries_nats_url(obj, "/spec/rayClusterConfig", "gpu-workers")
    assert not carries_nats_url(obj, "/spec/rayClusterConfig", "cpu-workers")
    assert not carries_nats_url(obj, "/spec", "gpu-workers")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("nats://user:pw@nats:4222", "carries credentials (user:pass@); never put them in"),
        ("http://nats:4222", "use nats://HOST:PORT"),
        ("nats://a b", "use nats://HOST:PORT"),
        ("nats://n:4222;rm -rf /", "use nats://HOST:PORT"),
    ],
)
def test_a_bad_nats_url_is_one_line(url: str, message: str) -> None:
    with pytest.raises(RolloutError, match=r"^--nats-url") as caught:
        check_nats_url(url)
    assert message in str(caught.value) and "pw" not in str(caught.value)


def test_good_urls_and_subjects() -> None:
    assert check_nats_url("nats://n1:4222,tls://n2:4443") == "nats://n1:4222,tls://n2:4443"
    assert check_subject("canary.rollout_1") == "canary.rollout_1"
    for bad in ("canary.*", "canary.>", "a b", "", ".a", "a.."):
        with pytest.raises(RolloutError, match=r"^--canary-subject"):
            check_subject(bad)


def test_plan_canary_checks_its_flags_even_when_skipped() -> None:
    plan = plan_rollout(ClusterView.from_object(cluster(), source="rc.yaml"), IMAGE)
    with pytest.raises(RolloutError, match=r"^--canary-subject"):
        plan_canary(plan, CanaryOptions(enabled=False, subject="a.*"))


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, "patch", "--from", str(FIXTURE), "--image", IMAGE, *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "start"),
    [
        ((), "error: canary refused: no NATS URL for worker group 'cpu-workers'"),
        (("--nats-url", "nats://u:secret@n:4222"), "error: --nats-url: the URL carries"),
        (("--canary", "nope", "--nats-url", "nats://n:4222"), "error: --canary 'nope': not a"),
        (("--canary-subject", "a.>", "--nats-url", "nats://n:4222"), "error: --canary-subject"),
    ],
)
def test_cli_refuses_in_one_line_and_writes_nothing(
    tmp_path: Path, args: tuple[str, ...], start: str
) -> None:
    done = invoke("--out", str(tmp_path / "out"), *args)
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(start), done.stderr
    assert "Traceback" not in done.stderr and "secret" not in done.stderr
    assert not (tmp_path / "out").exists()


def test_cli_flags_reach_the_script(tmp_path: Path) -> None:
    done = invoke(
        "--out", str(tmp_path / "out"), "--canary", "gpu-workers", "--canary-subject",
        "canary.rollout", "--nats-url", "nats://nats.fleet:4222", "--format", "shell",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "CANARY_NATS_URL=${ROLLOUT_NATS_URL:-nats://nats.fleet:4222}" in done.stdout
    assert "CANARY_SUBJECT=${ROLLOUT_CANARY_SUBJECT:-canary.rollout}" in done.stdout
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert files == [
        "after-canary.json", "canary-rollback.json", "canary.json", "patch.json",
        "rollback.json", "rollout.sh",
    ]  # fmt: skip
    skipped = invoke("--no-canary", "--format", "shell")
    assert skipped.returncode == 0, skipped.stderr
    assert "# Canary stage skipped: --no-canary." in skipped.stdout


def test_release_refuses_the_canary_before_any_engine_or_registry(tmp_path: Path) -> None:
    """`invoke release --from` renders rollout.sh after the push: its refusal comes first."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_IMAGE_")}
    env |= {
        "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock",  # no engine answers here
        "RAY_IMAGE_PODMAN_SOCKET": f"{tmp_path}/no-podman.sock",
        "RAY_IMAGE_ENGINE": "docker",
        "RAY_IMAGE_BUILD_DIR": str(tmp_path / "build"),
        "COLUMNS": "500",
    }
    done = subprocess.run(
        [INVOKE, "release", "--stand-in", "--allow-stand-in", "--registry", "127.0.0.1:9",
         "--from", str(FIXTURE)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2 and len(lines) == 1, done.stderr
    assert lines[0].startswith("error: canary refused: no NATS URL for worker group 'cpu-workers'")


def test_release_prints_the_script_to_run_not_blocks_that_need_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The canary blocks call the script's own functions: pasted alone they cannot run."""
    print_rollout(planned(cluster(), URL), tmp_path)
    printed = capsys.readouterr().out
    assert f"# Roll out (patch, restart, wait, check): bash {tmp_path / 'rollout.sh'}" in printed
    assert "canary_job_or_rollback" not in printed and "FIRST_PATCH" not in printed
    print_rollout(planned(cluster(), CanaryOptions(enabled=False)), tmp_path)
    assert "kubectl delete pod" in capsys.readouterr().out  # without the stage: the blocks
