"""The KubeRay v1.7.0 pod model: exact command strings, flag derivation, env, init step, errors."""

from __future__ import annotations

import copy
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_worker_image.kube_quantity import go_json_float, parse_quantity, quantity_value
from ray_worker_image.kuberay.pod import (
    NodeCommand,
    OperatorSettings,
    PodOptions,
    head_command,
    worker_command,
)
from ray_worker_image.kuberay.spec import KubeRayPodError

DATA = Path(__file__).resolve().parents[1] / "data" / "kuberay"
FQDN = "ray-gpu-head-svc.ray.svc.cluster.local"
ULIMIT = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}; "
BASH = ("/bin/bash", "-c", "--")

FLEET_HEAD_START = (
    "ray start --head  --block  --dashboard-agent-listen-port=52365  --dashboard-host=0.0.0.0 "
    " --memory=4294967296  --metrics-export-port=8080  --num-cpus=0 "
)
FLEET_WORKER_START = (
    f"ray start  --address={FQDN}:6379  --block  --dashboard-agent-listen-port=52365 "
    " --memory=4294967296  --metrics-export-port=8080  --num-cpus=2  --num-gpus=1 "
)
T = "\t"
WAIT_GCS = (
    f"\n{T * 5}SECONDS=0\n{T * 5}while true; do\n{T * 6}if (( SECONDS <= 120 )); then\n"
    f"{T * 7}if ray health-check --address {FQDN}:6379 > /dev/null 2>&1; then\n"
    f'{T * 8}echo "GCS is ready."\n{T * 8}break\n{T * 7}fi\n'
    f'{T * 7}echo "$SECONDS seconds elapsed: Waiting for GCS to be ready."\n{T * 6}else\n'
    f"{T * 7}if ray health-check --address {FQDN}:6379; then\n"
    f'{T * 8}echo "GCS is ready. Any error messages above can be safely ignored."\n'
    f"{T * 8}break\n{T * 7}fi\n"
    f'{T * 7}echo "$SECONDS seconds elapsed: Still waiting for GCS to be ready. For '
    "troubleshooting, refer to the FAQ at "
    'https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html."\n'
    f"{T * 6}fi\n{T * 6}sleep 5\n{T * 5}done\n{T * 4}"
)


def spec_of(name: str) -> dict[str, Any]:
    folder = "samples" if name.startswith("ray-cluster.") else "clusters"
    document: dict[str, Any] = yaml.safe_load((DATA / folder / name).read_text())
    return document["spec"]


def one_group(container: dict[str, Any], **group: Any) -> dict[str, Any]:
    """A cluster whose head is plain and whose only worker group `g` has this Ray container."""
    head = {"template": {"spec": {"containers": [{"name": "ray-head", "image": "ray"}]}}}
    worker = {"groupName": "g", "template": {"spec": {"containers": [container]}}, **group}
    return {"headGroupSpec": head, "workerGroupSpecs": [worker]}


def worker_args(container: dict[str, Any], **group: Any) -> str:
    node = worker_command(one_group({"name": "w", **container}, **group), "g", "c", "h")
    return node.args[0]


def flags_of(node: NodeCommand) -> dict[str, str]:
    return dict(node.params)


# --- the fleet's cluster: full strings, so any drift fails -------------------------------


def test_fleet_head_exact() -> None:
    head = head_command(spec_of("fleet.yaml"), "ray-gpu", PodOptions("ray", "ray-gpu-head"))
    assert head.image == "rayproject/ray:2.49.2"
    assert head.command == BASH
    assert head.args == (ULIMIT + FLEET_HEAD_START,)
    assert head.ray_start == FLEET_HEAD_START
    assert head.init is None
    assert head.env == (
        ("RAY_CLUSTER_NAME", "ray-gpu"),
        ("RAY_CLUSTER_NAMESPACE", "ray"),
        ("RAY_CLOUD_INSTANCE_ID", "ray-gpu-head"),
        ("RAY_NODE_TYPE_NAME", "headgroup"),
        ("KUBERAY_GEN_RAY_START_CMD", FLEET_HEAD_START),
        ("RAY_PORT", "6379"),
        ("RAY_ADDRESS", "127.0.0.1:6379"),
        ("RAY_USAGE_STATS_KUBERAY_IN_USE", "1"),
        ("RAY_USAGE_STATS_EXTRA_TAGS", "kuberay_version=v1.7.0;kuberay_crd=RayCluster"),
        ("RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1"),
    )


def test_fleet_worker_exact() -> None:
    worker = worker_command(
        spec_of("fleet.yaml"), "gpu-workers", "ray-gpu", FQDN, PodOptions("ray")
    )
    assert worker.command == BASH
    assert worker.args == (ULIMIT + FLEET_WORKER_START,)
    assert worker.env == (
        ("FQ_RAY_IP", FQDN),
        ("RAY_IP", "ray-gpu-head-svc"),
        ("RAY_CLUSTER_NAME", "ray-gpu"),
        ("RAY_CLUSTER_NAMESPACE", "ray"),
        ("RAY_NODE_TYPE_NAME", "gpu-workers"),
        ("KUBERAY_GEN_RAY_START_CMD", FLEET_WORKER_START),
        ("RAY_PORT", "6379"),
        ("RAY_ADDRESS", f"{FQDN}:6379"),
        ("RAY_USAGE_STATS_KUBERAY_IN_USE", "1"),
        ("RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE", "1"),
    )
    assert worker.init is not None
    assert worker.init.name == "wait-gcs-ready"
    assert worker.init.image == "rayproject/ray:2.49.2"
    assert worker.init.command == BASH
    assert worker.init.args == (WAIT_GCS,)
    assert worker.init.env == (("FQ_RAY_IP", FQDN), ("RAY_IP", "ray-gpu-head-svc"))


def test_upstream_sample_exact() -> None:
    spec = spec_of("ray-cluster.sample.yaml")
    head = head_command(spec, "raycluster-kuberay")
    worker = worker_command(spec, "workergroup", "raycluster-kuberay", "rc-head-svc")
    assert head.args == (
        ULIMIT + "ray start --head  --block  --dashboard-agent-listen-port=52365 "
        " --dashboard-host=0.0.0.0  --memory=5368709120  --metrics-export-port=8080 "
        " --num-cpus=1 ",
    )
    assert worker.args == (
        ULIMIT + "ray start  --address=rc-head-svc:6379  --block "
        " --dashboard-agent-listen-port=52365  --memory=1073741824  --metrics-export-port=8080 "
        " --num-cpus=1 ",
    )
    assert worker.env_dict()["RAY_IP"] == "rc-head-svc"


def test_two_groups_gpu_second_found_by_name() -> None:
    spec = spec_of("two-groups-gpu-second.yaml")
    gpu = worker_command(spec, "gpu-workers", "ray-gpu", FQDN)
    cpu = worker_command(spec, "cpu-workers", "ray-gpu", FQDN)
    assert flags_of(gpu)["num-gpus"] == "1"
    assert gpu.env_dict()["ROLE"] == "gpu"
    assert "num-gpus" not in flags_of(cpu)
    assert cpu.args == (
        ULIMIT + f"ray start  --address={FQDN}:6379  --block  --dashboard-agent-listen-port=52365 "
        " --memory=2000000000  --metrics-export-port=8080  --num-cpus=1 "
        ' --resources="{\\"cpu_only\\": 1}" ',
    )
    with pytest.raises(KubeRayPodError, match=r"no group named 'tpu' \(have: cpu-workers, gpu"):
        worker_command(spec, "tpu", "ray-gpu", FQDN)


# --- flags from resource limits, and rayStartParams over them -----------------------------


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        ({"limits": {"cpu": "2"}}, {"num-cpus": "2"}),
        ({"limits": {"cpu": "500m"}}, {"num-cpus": "1"}),
        ({"limits": {"cpu": "1.5"}}, {"num-cpus": "2"}),
        ({"limits": {"cpu": 3}}, {"num-cpus": "3"}),
        ({"requests": {"cpu": "3"}}, {"num-cpus": "3"}),
        ({"limits": {"cpu": "0"}, "requests": {"cpu": "250m"}}, {"num-cpus": "1"}),
        ({"limits": {"memory": "4Gi"}}, {"memory": "4294967296"}),
        ({"limits": {"memory": "2G"}}, {"memory": "2000000000"}),
        ({"requests": {"memory": "4Gi"}}, {}),
        ({"limits": {"nvidia.com/gpu": "1"}}, {"num-gpus": "1"}),
        ({"limits": {"amd.com/gpu": "2"}}, {"num-gpus": "2"}),
        ({"limits": {"nvidia.com/mig-2g.32gb": "1"}}, {"num-gpus": "1"}),
        ({"limits": {"amd.com/gpu": "0", "nvidia.com/gpu": "4"}}, {"num-gpus": "4"}),
        ({"limits": {"nvidia.com/gpu": "4", "amd.com/gpu": "2"}}, {"num-gpus": "2"}),
        (
            {"limits": {"google.com/tpu": "4", "aws.amazon.com/neuroncore": "2"}},
            {"resources": "'{\"neuron_cores\":2}'"},
        ),
        ({"requests": {"nvidia.com/gpu": "1"}}, {}),
        ({"limits": {"google.com/tpu": "4"}}, {"resources": "'{\"TPU\":4}'"}),
        ({"limits": {"aws.amazon.com/neuroncore": "2"}}, {"resources": "'{\"neuron_cores\":2}'"}),
    ],
)
def test_flags_derived_from_container_resources(
    resources: dict[str, Any], expected: dict[str, str]
) -> None:
    node = worker_command(one_group({"name": "w", "resources": resources}), "g", "c", "h")
    derived = {
        k: v
        for k, v in flags_of(node).items()
        if k in {"num-cpus", "memory", "num-gpus", "resources"}
    }
    assert derived == expected


def test_ray_start_params_override_limits() -> None:
    limits = {"cpu": "2", "memory": "4Gi", "nvidia.com/gpu": "1"}
    params = {"num-cpus": "0", "memory": "1000", "num-gpus": "0"}
    args = worker_args({"resources": {"limits": limits}}, rayStartParams=params)
    assert " --num-cpus=0  --num-gpus=0 " in args
    assert " --memory=1000 " in args


def test_resources_json_quoting() -> None:
    # A user value is written verbatim: KubeRay adds no quotes, so the YAML must carry them.
    quoted = worker_args({}, rayStartParams={"resources": '"{\\"custom\\": 1}"'})
    assert ' --resources="{\\"custom\\": 1}" ' in quoted
    # A generated one is single-quoted compact JSON, merged with the user's resources.
    merged = worker_args(
        {"resources": {"limits": {"google.com/tpu": "4"}}},
        rayStartParams={"resources": "'{\"custom\": 1.5}'"},
    )
    assert ' --resources=\'{"TPU":4,"custom":1.5}\' ' in merged
    # The group's top-level `resources` field: cpu overrides num-cpus, the rest become JSON.
    top = worker_args(
        {"resources": {"limits": {"cpu": "8"}}}, resources={"CPU": "3", "my-thing": "500m"}
    )
    assert " --num-cpus=3 " in top
    assert " --resources='{\"my-thing\":0.5}' " in top


def test_unparsable_resources_param_skips_accelerators_as_kuberay_does() -> None:
    args = worker_args(
        {"resources": {"limits": {"nvidia.com/gpu": "1"}}}, rayStartParams={"resources": "{bad"}
    )
    assert "--num-gpus" not in args
    assert " --resources={bad " in args


def test_boolean_params_and_forced_block() -> None:
    args = worker_args(
        {},
        rayStartParams={
            "block": "false",
            "disable-usage-stats": "True",
            "include-dashboard": "false",
            "include-log-monitor": "FALSE",
            "log-color": "true",
            "no-monitor": "false",
        },
    )
    assert args == (
        ULIMIT + "ray start  --address=h:6379  --block  --dashboard-agent-listen-port=52365 "
        " --disable-usage-stats  --include-dashboard=false  --include-log-monitor=FALSE "
        " --log-color=true "
        " --metrics-export-port=8080 "
    )


def test_head_extras_autoscaler_labels_and_port() -> None:
    spec = spec_of("fleet.yaml")
    spec["enableInTreeAutoscaling"] = True
    spec["headGroupSpec"]["labels"] = {"zone": "b", "tier": "head"}
    spec["headGroupSpec"]["rayStartParams"]["port"] = "6380"
    head = head_command(spec, "ray-gpu")
    assert " --labels=tier=head,zone=b " in head.args[0]
    assert " --no-monitor " in head.args[0]
    assert head.env_dict()["RAY_ADDRESS"] == "127.0.0.1:6380"
    worker = worker_command(spec, "gpu-workers", "ray-gpu", FQDN)
    assert f" --address={FQDN}:6380 " in worker.args[0]
    assert worker.init is not None
    assert f"ray health-check --address {FQDN}:6380;" in worker.init.args[0]


# --- the container command and env ---------------------------------------------------------


def test_user_command_goes_before_ray_start() -> None:
    args = worker_args({"command": ["echo"], "args": ["hi"]})
    assert args.startswith(" echo  hi  && " + ULIMIT + "ray start  --address=h:6379 ")


@pytest.mark.parametrize("overwrite", [False, True])
def test_user_ray_start_or_overwrite_annotation_keeps_user_command(overwrite: bool) -> None:
    script = "ray start --head --block" if not overwrite else "echo custom"
    container = {"name": "w", "command": ["bash", "-c"], "args": [script]}
    node = worker_command(
        one_group(container), "g", "c", "h", PodOptions(overwrite_container_cmd=overwrite)
    )
    assert (node.command, node.args) == (("bash", "-c"), (script,))
    assert node.env_dict()["KUBERAY_GEN_RAY_START_CMD"].startswith("ray start  --address=h:6379")


def test_overwrite_annotation_on_the_group_template() -> None:
    spec = one_group({"name": "w", "command": ["sleep"], "args": ["infinity"]})
    template = spec["workerGroupSpecs"][0]["template"]
    template["metadata"] = {"annotations": {"ray.io/overwrite-container-cmd": "True"}}
    node = worker_command(spec, "g", "c", "h")
    assert (node.command, node.args) == (("sleep",), ("infinity",))


def test_operator_settings() -> None:
    settings = OperatorSettings(login_shell=True, init_container_injection=False)
    node = worker_command(one_group({"name": "w"}), "g", "c", "h", PodOptions(settings=settings))
    assert node.command == ("/bin/bash", "-cl", "--")
    assert node.init is None


def test_user_env_first_and_respected() -> None:
    env = [
        {"name": "RAY_PORT", "value": "1"},
        {"name": "RAY_CLUSTER_NAME", "value": "mine"},
        {"name": "EMPTY"},
        {"name": "NULL", "value": None},
    ]
    node = worker_command(one_group({"name": "w", "env": env}), "g", "c", "h.x")
    assert node.env[:4] == (
        ("RAY_PORT", "1"),
        ("RAY_CLUSTER_NAME", "mine"),
        ("EMPTY", ""),
        ("NULL", ""),
    )
    assert [k for k, _ in node.env].count("RAY_PORT") == 1
    assert node.env_dict()["RAY_CLUSTER_NAME"] == "c"  # KubeRay appends its own: it wins
    assert node.init is not None
    assert node.init.env == (*node.env[:4], ("FQ_RAY_IP", "h.x"), ("RAY_IP", "h"))


# --- bad input: one line naming the field -------------------------------------------------


def test_bad_input_names_the_field() -> None:
    spec = spec_of("fleet.yaml")
    cases: list[tuple[str, Any, str]] = [
        (
            "rayStartParams",
            {"num-cpus": 0},
            r"workerGroupSpecs\[0\]\.rayStartParams\.num-cpus: must",
        ),
        ("limits", {"cpu": "2 cores"}, r"containers\[0\]\.resources\.limits\.cpu: '2 cores' is"),
        ("env", [{"name": "T", "valueFrom": {}}], r"containers\[0\]\.env\[0\] \(T\): valueFrom"),
        ("containers", [], r"workerGroupSpecs\[0\]\.template\.spec\.containers: needs"),
    ]
    for where, value, message in cases:
        broken = copy.deepcopy(spec)
        group = broken["workerGroupSpecs"][0]
        container = group["template"]["spec"]["containers"][0]
        if where == "rayStartParams":
            group[where] = value
        elif where == "limits":
            container["resources"]["limits"] = value
        elif where == "env":
            container["env"] = value
        else:
            group["template"]["spec"]["containers"] = value
        with pytest.raises(KubeRayPodError, match=message) as caught:
            worker_command(broken, "gpu-workers", "ray-gpu", FQDN)
        assert "\n" not in str(caught.value)
    with pytest.raises(KubeRayPodError, match=r"spec\.tlsOptions\.enabled: TLS is not"):
        head_command({**spec, "tlsOptions": {"enabled": True}}, "ray-gpu")
    with pytest.raises(KubeRayPodError, match=r"spec\.authOptions\.mode: token auth"):
        head_command({**spec, "authOptions": {"mode": "token"}}, "ray-gpu")
    with pytest.raises(KubeRayPodError, match=r"spec\.gcsFaultToleranceOptions: not"):
        head_command({**spec, "gcsFaultToleranceOptions": {"redisAddress": "r:6379"}}, "ray-gpu")
    disabled = {**spec, "tlsOptions": {"enabled": False}, "authOptions": {"mode": "disabled"}}
    assert head_command(disabled, "ray-gpu").args == (ULIMIT + FLEET_HEAD_START,)


# --- Kubernetes quantities ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "exact", "value"),
    [
        ("2", Fraction(2), 2),
        ("500m", Fraction(1, 2), 1),
        ("4Gi", Fraction(4 * 2**30), 4 * 2**30),
        ("2G", Fraction(2 * 10**9), 2 * 10**9),
        ("1.5Gi", Fraction(3 * 2**29), 3 * 2**29),
        ("1e3", Fraction(1000), 1000),
        ("128974848", Fraction(128974848), 128974848),
        ("129M", Fraction(129 * 10**6), 129 * 10**6),
        ("1E", Fraction(10**18), 10**18),
        (".5", Fraction(1, 2), 1),
        (0.25, Fraction(1, 4), 1),
        (2, Fraction(2), 2),
    ],
)
def test_quantity(raw: str | int | float, exact: Fraction, value: int) -> None:
    assert parse_quantity(raw) == exact
    assert quantity_value(parse_quantity(raw)) == value


@pytest.mark.parametrize("raw", ["", "Gi", "2 Gi", "2gi", "1e", "0x10", "--1", True, None])
def test_quantity_rejects(raw: Any) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(raw)


@pytest.mark.parametrize(
    ("value", "text"), [(4.0, "4"), (0.5, "0.5"), (5e-05, "0.00005"), (1e21, "1e+21"), (0.0, "0")]
)
def test_go_json_float(value: float, text: str) -> None:
    assert go_json_float(value) == text
