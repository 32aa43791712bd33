"""Variants against clusters (issue 10 item 5), flags honoured or refused, managers, kinds."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_worker_image.errors import RolloutError
from ray_worker_image.raytag import RayTag
from ray_worker_image.rollout import (
    NewImage,
    classify,
    load_cluster,
    load_objects,
    plan_rollout,
    select,
    selector,
    view_from_object,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "kuberay"
D = "sha256:" + "ab" * 32
OURS = f"registry.example.com/swe-fleet/ray:2.49.2-nats@{D}"
OURS_311 = f"registry.example.com/swe-fleet/ray:2.52.1-py311-nats@{D}"
V249 = RayTag.parse("2.49.2")


def view(path: str, **kw: Any) -> Any:
    return view_from_object(load_cluster(str(DATA / path)), source=Path(path).name, **kw)


def plan(v: Any, image: Any = None, **kw: Any) -> Any:
    return plan_rollout(v, image or {"*": NewImage(OURS, V249)}, **kw)


@pytest.mark.parametrize(
    ("image", "tag"),
    [
        ("rayproject/ray:2.49.2", "2.49.2-py39-cpu"),
        ("docker.io/rayproject/ray:2.52.1-py311", "2.52.1-py311-cpu"),
        ("rayproject/ray-ml:2.49.2-py311-gpu", "2.49.2-py311-cu121"),
        (f"rayproject/ray:2.49.2-aarch64@{D}", "2.49.2-py39-cpu-aarch64"),
        (OURS, "2.49.2-py39-cpu"),
        (f"{OURS_311.split('@')[0]}-g0123456789ab@{D}", "2.52.1-py311-cpu"),
        (f"rayproject/ray@{D}", None),
        ("rayproject/ray:latest", None),
        ("registry.example.com/team/ray:2.49.2", None),
        ("__IMAGE__", None),
    ],
)  # fmt: skip
def test_classify(image: str, tag: str | None) -> None:
    got = classify(image, release_repository="swe-fleet/ray")
    assert (got.canonical if got else None) == tag


def test_issue_10_py311_gpu_cluster_is_refused() -> None:
    v = view("variants/py311-gpu-rayversion-2.49.2.yaml")
    with pytest.raises(RolloutError) as err:
        plan(v)
    message = str(err.value)
    assert (
        "the head of RayCluster ray/ray-gpu runs docker.io/rayproject/ray:2.49.2-py311-gpu"
        in message
    )
    assert "Python 3.11 vs 3.9" in message and "platform cu121 vs cpu" in message
    assert "build variant 2.49.2-py311-cu121" in message and "--force" in message
    forced = plan(v, force=True)
    assert sum(w.startswith("FORCED (--force)") for w in forced.warnings) == 2
    assert forced.patch, "--force goes on"


def test_issue_10_cluster_without_rayversion_is_refused() -> None:
    v = view("variants/no-rayversion-2.34.0-py310.yaml")
    assert v.ray_version is None
    with pytest.raises(
        RolloutError, match=r"runs rayproject/ray:2.34.0-py310 .*build variant 2.34.0-py310"
    ):
        plan(v)


def test_fleet_2_52_1_cluster_takes_its_variant_and_refuses_2_49_2() -> None:
    v = view("variants/fleet-2.52.1-py311.yaml")
    with pytest.raises(
        RolloutError,
        match=r"runs docker.io/rayproject/ray:2.52.1-py311 .*"
        r"Ray 2.52.1 vs 2.49.2; Python 3.11 vs 3.9.*build variant 2.52.1-py311",
    ):
        plan(v)
    obj = load_cluster(str(DATA / "variants/fleet-2.52.1-py311.yaml"))
    for c in _ray_containers(obj):
        c["image"] = f"registry.example.com/team/ray@{D}"  # unclassifiable: rayVersion decides
    with pytest.raises(RolloutError, match=r"rayVersion is '2.52.1' but the image runs Ray 2.49.2"):
        plan(view_from_object(obj))
    v311 = view_from_object({**load_cluster(str(DATA / "variants/fleet-2.52.1-py311.yaml"))})
    good = plan(v311, {"*": NewImage(OURS_311, RayTag.parse("2.52.1-py311"))})
    assert {"op": "test", "path": "/spec/rayVersion", "value": "2.52.1"} in good.patch
    assert [op["value"] for op in good.patch if op["op"] == "replace"] == [OURS_311, OURS_311]
    obj = load_cluster(str(DATA / "variants/fleet-2.52.1-py311.yaml"))
    del obj["spec"]["rayVersion"]
    with pytest.raises(RolloutError, match=r"build variant 2.52.1-py311"):
        plan(view_from_object(obj))


def test_unclassifiable_image_relies_on_rayversion() -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    for c in _ray_containers(obj):
        c["image"] = f"registry.example.com/team/ray@{D}"
    warned = plan(view_from_object(obj))
    assert any("relying on spec.rayVersion 2.49.2" in w for w in warned.warnings)
    del obj["spec"]["rayVersion"]
    with pytest.raises(RolloutError, match=r"cannot be told from the name, and spec.rayVersion"):
        plan(view_from_object(obj))
    assert plan(view_from_object(obj), force=True).patch


def test_per_group_images() -> None:
    v = view("clusters/multi-group.yaml")
    gpu = f"registry.example.com/swe-fleet/ray:2.49.2-gpu-nats@{D}"
    images = {"*": NewImage(OURS, V249), "gpu-a100": NewImage(gpu, RayTag.parse("2.49.2-gpu"))}
    r = plan(v, images)
    replaced = {op["path"].split("/")[3]: op["value"] for op in r.patch if op["op"] == "replace"}
    assert replaced == {"template": OURS, "0": OURS, "1": gpu, "2": OURS}
    only = plan(
        v, {"head": NewImage(OURS, V249), "gpu-a100": NewImage(gpu, RayTag.parse("2.49.2-gpu"))}
    )
    assert [t.group.name for t in only.targets] == ["headgroup", "gpu-a100"]
    with pytest.raises(RolloutError, match=r"worker group 'nope' not found"):
        plan(v, {"*": NewImage(OURS, V249), "nope": NewImage(gpu)})
    with pytest.raises(RolloutError, match=r"different Ray versions"):
        plan(
            v,
            {
                "*": NewImage(OURS, V249),
                "gpu-a100": NewImage(OURS_311, RayTag.parse("2.52.1-py311")),
            },
        )
    with pytest.raises(RolloutError, match=r"platform cu121 vs cpu.*build variant 2.49.2-cu121"):
        plan(v)  # one CPU image for the GPU group too


def _ray_containers(obj: Any) -> list[Any]:
    spec = obj["spec"]
    groups = [spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])]
    return [g["template"]["spec"]["containers"][0] for g in groups]


def test_namespace_flag_fills_or_conflicts() -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    del obj["metadata"]["namespace"]
    assert view_from_object(obj, namespace="prod").namespace == "prod"
    assert any("'default'" in n for n in view_from_object(obj).notes)
    obj["metadata"]["namespace"] = "ray"
    with pytest.raises(RolloutError, match=r"namespace is 'ray' but --namespace is 'prod'"):
        view_from_object(obj, namespace="prod")


def test_list_with_same_name_in_two_namespaces() -> None:
    a = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    b = copy.deepcopy(a)
    b["metadata"]["namespace"] = "staging"
    objects = load_objects(
        "-", yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": [a, b]})
    )
    with pytest.raises(RolloutError, match=r"holds 2 candidates .* pick one with --namespace"):
        select(objects, "list.yaml", name="ray-sidecars")
    assert select(objects, "list.yaml", name="ray-sidecars", namespace="staging") == b


@pytest.mark.parametrize(
    "image", ["__IMAGE__", "${REGISTRY}ray:latest", "rayproject/ray:2.49.2-nats-ñ"]
)
def test_placeholders_and_non_ascii_are_refused(image: str) -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    obj["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] = image
    with pytest.raises(
        RolloutError, match=r"spec.headGroupSpec.template.spec.containers\[0\].image"
    ):
        view_from_object(obj)


def test_placeholder_namespace_is_refused() -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    obj["metadata"]["namespace"] = "${NAMESPACE}"
    with pytest.raises(RolloutError, match=r"metadata.namespace .* is a placeholder"):
        view_from_object(obj)


def test_image_pull_policy_never_is_fixed_and_restored() -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    obj["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["imagePullPolicy"] = (
        "Never"
    )
    r = plan(view_from_object(obj))
    path = "/spec/workerGroupSpecs/0/template/spec/containers/0/imagePullPolicy"
    assert {"op": "replace", "path": path, "value": "IfNotPresent"} in r.patch
    assert {"op": "replace", "path": path, "value": "Never"} in r.rollback
    assert any("ErrImageNeverPull" in w for w in r.warnings)


def test_worker_group_named_headgroup_never_selects_the_head() -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    obj["spec"]["workerGroupSpecs"][0]["groupName"] = "headgroup"
    v = view_from_object(obj)
    sel = selector(v, v.groups[0])
    assert "ray.io/node-type=worker" in sel and "ray.io/group=headgroup" in sel
    deletes = [c.argv for c in plan(v, restart="workers").commands if c.argv and "delete" in c.argv]
    assert deletes and all("ray.io/node-type=worker" in a[-1] for a in deletes)


@pytest.mark.parametrize(
    ("marks", "manager"),
    [
        (
            {
                "labels": {"app.kubernetes.io/managed-by": "Helm"},
                "annotations": {"meta.helm.sh/release-name": "ray"},
            },
            "Helm release 'ray'",
        ),
        ({"labels": {"argocd.argoproj.io/instance": "fleet"}}, "Argo CD application 'fleet'"),
        (
            {"annotations": {"argocd.argoproj.io/tracking-id": "fleet:ray.io/RayCluster:ray/x"}},
            "Argo CD application 'fleet'",
        ),
        ({"labels": {"kustomize.toolkit.fluxcd.io/name": "apps"}}, "Flux Kustomization 'apps'"),
        ({"labels": {"helm.toolkit.fluxcd.io/name": "ray"}}, "Flux HelmRelease 'ray'"),
        (
            {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"}},
            "kubectl apply",
        ),
    ],
)  # fmt: skip
def test_managed_objects_warn_naming_the_manager_and_the_file(marks: Any, manager: str) -> None:
    obj = load_cluster(str(DATA / "clusters/sidecars.yaml"))
    obj["metadata"].update(marks)
    (warning,) = [w for w in plan(view_from_object(obj)).warnings if "is managed by" in w]
    assert manager in warning and "--write FILE" in warning and "helm-values" in warning


@pytest.mark.parametrize(
    ("path", "pointer", "advice"),
    [
        ("owners/ray-job.sample.yaml", "/spec/rayClusterSpec", "RayJob: the cluster is made"),
        ("owners/ray-service.sample.yaml", "/spec/rayClusterConfig", "builds a new RayCluster"),
    ],
)
def test_rayjob_and_rayservice_patch_the_embedded_spec(
    path: str, pointer: str, advice: str
) -> None:
    v = view(path)
    image = f"registry.example.com/swe-fleet/ray:2.52.0-nats@{D}"
    r = plan(v, {"*": NewImage(image, RayTag.parse("2.52.0"))})
    assert {"op": "test", "path": f"{pointer}/rayVersion", "value": "2.52.0"} in r.patch
    assert all(op["path"].startswith(pointer) for op in r.patch)
    assert any(advice in w for w in r.warnings)
    assert not [c for c in r.commands if c.argv and "delete" in c.argv]
    kind = v.kind.resource
    assert any(c.argv and c.argv[:3] == ("kubectl", "patch", kind) for c in r.commands)


def test_rayservice_upgrade_strategy_none_is_explained() -> None:
    obj = load_cluster(str(DATA / "owners/ray-service.sample.yaml"))
    obj["spec"]["upgradeStrategy"] = {"type": "None"}
    image = f"registry.example.com/swe-fleet/ray:2.52.0-nats@{D}"
    r = plan(view_from_object(obj), {"*": NewImage(image, RayTag.parse("2.52.0"))})
    assert any("upgradeStrategy.type is None: KubeRay does not upgrade" in w for w in r.warnings)


def test_rayjob_on_an_existing_cluster_is_refused() -> None:
    obj = load_cluster(str(DATA / "owners/ray-job.sample.yaml"))
    del obj["spec"]["rayClusterSpec"]
    obj["spec"]["clusterSelector"] = {"ray.io/cluster": "shared"}
    with pytest.raises(RolloutError, match=r"spec.clusterSelector.*patch that RayCluster instead"):
        view_from_object(obj)


def test_v1alpha1_objects_are_read_like_v1() -> None:
    obj = load_cluster(str(DATA / "owners/ray-service.sample.yaml"))
    obj["apiVersion"] = "ray.io/v1alpha1"
    image = f"registry.example.com/swe-fleet/ray:2.52.0-nats@{D}"
    r = plan(view_from_object(obj), {"*": NewImage(image, RayTag.parse("2.52.0"))})
    assert r.view.kind.spec_pointer == "/spec/rayClusterConfig" and r.patch
    obj["apiVersion"] = "ray.io/v2"
    with pytest.raises(RolloutError, match=r"apiVersion 'ray.io/v2' of RayService"):
        view_from_object(obj)
