"""e2e.plan: a RayCluster manifest to the containers KubeRay v1.7 would make (pure)."""

from __future__ import annotations

import pytest
import yaml

from ray_worker_image.e2e.plan import PlanError, plan_cluster
from ray_worker_image.e2e.run import load_plan
from ray_worker_image.kuberay.pod import OperatorSettings
from ray_worker_image.rollout import RolloutError

from ..conftest import ROOT

FLEET = ROOT / "deploy/k8s/ray-gpu.yaml"
TWO_GROUPS = ROOT / "tests/data/kuberay/clusters/two-groups-gpu-second.yaml"


def fleet() -> dict:
    return yaml.safe_load(FLEET.read_text())


def test_fleet_cluster_as_kuberay_starts_it() -> None:
    plan = load_plan(FLEET)
    assert plan.head_fqdn == "ray-gpu-head-svc.ray.svc.cluster.local"
    assert plan.client_address == "ray://ray-gpu-head-svc.ray.svc.cluster.local:10001"
    assert plan.head.argv[:3] == ["/bin/bash", "-c", "--"]
    assert plan.head.argv[3].startswith("ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; ")
    assert "ray start --head  --block " in plan.head.argv[3]
    assert " --num-cpus=0 " in plan.head.argv[3]
    assert [w.role for w in plan.workers] == ["gpu-workers-0", "gpu-workers-1"]
    for worker in plan.workers:
        args = worker.argv[3]
        assert " --address=ray-gpu-head-svc.ray.svc.cluster.local:6379  --block " in args
        assert " --num-gpus=1 " in args and " --num-cpus=2 " in args
        assert " --memory=4294967296 " in args
        assert worker.gpus == 1 and worker.mem_limit == 4 * 1024**3
        assert worker.node.init is not None
        assert (
            "ray health-check --address ray-gpu-head-svc.ray.svc.cluster.local:6379"
            in (worker.node.init.args[0])
        )
        assert worker.node.env_dict()["RAY_CLUSTER_NAME"] == "ray-gpu"
    assert plan.task_gpus == 1
    assert plan.notes == ()


def test_replicas_capped_and_said() -> None:
    plan = load_plan(FLEET, replica_cap=1)
    assert len(plan.workers) == 1
    assert plan.notes == ("gpu-workers: 2 replicas, capped at 1 here",)


def test_gpu_group_second_is_found_by_name_and_gets_the_tasks() -> None:
    plan = load_plan(TWO_GROUPS)
    assert [w.group for w in plan.workers] == ["cpu-workers", "gpu-workers", "gpu-workers"]
    assert [w.role for w in plan.task_workers] == ["gpu-workers-0", "gpu-workers-1"]
    cpu = plan.workers[0]
    assert cpu.gpus == 0 and cpu.node.env_dict()["ROLE"] == "cpu"


def test_login_shell_setting() -> None:
    plan = load_plan(FLEET, login_shell=True)
    assert plan.head.argv[:3] == ["/bin/bash", "-cl", "--"]


def test_cpu_only_cluster_sends_tasks_to_every_worker() -> None:
    cluster = fleet()
    limits = cluster["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    del limits["resources"]["limits"]["nvidia.com/gpu"]
    del limits["resources"]["requests"]["nvidia.com/gpu"]
    plan = plan_cluster(cluster, source="c.yaml", settings=OperatorSettings())
    assert plan.task_gpus == 0
    assert plan.task_workers == plan.workers


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["spec"].pop("workerGroupSpecs"), "c.yaml: spec.workerGroupSpecs: no worker"),
        (lambda c: c["metadata"].pop("name"), "c.yaml: a RayCluster needs metadata.name"),
        (
            lambda c: (
                c["metadata"].setdefault("annotations", {}).update({"ray.io/ft-enabled": "true"})
            ),
            "c.yaml: metadata.annotations.ray.io/ft-enabled",
        ),
        (
            lambda c: c["spec"]["headGroupSpec"]["rayStartParams"].update({"num-cpus": 0}),
            "c.yaml: spec.headGroupSpec.rayStartParams.num-cpus",
        ),
    ],
)
def test_bad_manifest_is_one_line_naming_file_and_field(change, message: str) -> None:
    cluster = fleet()
    change(cluster)
    with pytest.raises(PlanError) as caught:
        plan_cluster(cluster, source="c.yaml")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_name_picks_one_of_several(tmp_path) -> None:
    other = fleet()
    other["metadata"]["name"] = "ray-cpu"
    both = tmp_path / "both.yaml"
    both.write_text(yaml.safe_dump_all([fleet(), {"kind": "ConfigMap"}, other]))
    assert load_plan(both, name="ray-cpu").name == "ray-cpu"
    with pytest.raises(RolloutError, match="holds 2 candidates"):
        load_plan(both)


def test_rayjob_embedded_cluster(tmp_path) -> None:
    job = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "agent-job", "namespace": "ray"},
        "spec": {"entrypoint": "python job.py", "rayClusterSpec": fleet()["spec"]},
    }
    path = tmp_path / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    plan = load_plan(path)
    assert plan.head_service == "agent-job-head-svc"
    assert len(plan.workers) == 2
