"""One patch for a cluster whose groups run different variants: each group (the head too)
moves to the image of the variant it runs now; a group no variant fits is refused. The patch
is applied by the real kubectl and validated against the RayCluster CRD."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ray_worker_image.definition import ImageDefinition, load_definition
from ray_worker_image.errors import RolloutError
from ray_worker_image.rollout import ClusterOptions, find_kubectl, plan_for_variants

ROOT = Path(__file__).resolve().parents[2]
CRD = ROOT / "tests/data/kuberay/ray.io_rayclusters.yaml"
REF_CPU = "registry.example.com/swe-fleet/ray:2.52.1-py311-nats@sha256:" + "4" * 64
REF_GPU = "registry.example.com/swe-fleet/ray:2.52.1-py311-gpu-nats@sha256:" + "5" * 64


def cpu_and_gpu_variants(tmp_path: Path) -> list[ImageDefinition]:
    """The fleet's definition with a CPU and a GPU variant of one Ray and Python: the groups
    of one cluster may differ in platform only (Ray needs one version and Python)."""
    raw = yaml.safe_load((ROOT / "images/ray-swe-fleet/image.yaml").read_text())
    raw["variants"] = [{"name": "2.52.1-py311"}, {"name": "2.52.1-py311-gpu"}]
    raw["default_variant"] = "2.52.1-py311"
    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump(raw))
    return list(load_definition(path, root=ROOT).variants)


def group(name: str, image: str) -> dict[str, Any]:
    container = {"name": "ray-worker", "image": image}
    return {
        "groupName": name,
        "replicas": 1,
        "minReplicas": 0,
        "maxReplicas": 2,
        "rayStartParams": {},
        "template": {"spec": {"containers": [container]}},
    }


def cluster(head: str, *groups: tuple[str, str], ray_version: str = "2.52.1") -> dict[str, Any]:
    head_container = {"name": "ray-head", "image": head}
    return {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {"name": "mixed", "namespace": "ray"},
        "spec": {
            "rayVersion": ray_version,
            "headGroupSpec": {
                "rayStartParams": {},
                "template": {"spec": {"containers": [head_container]}},
            },
            "workerGroupSpecs": [group(n, i) for n, i in groups],
        },
    }


def plan(tmp_path: Path, obj: dict[str, Any], **options: Any):
    live = tmp_path / "live.json"
    live.write_text(json.dumps(obj))
    variants = cpu_and_gpu_variants(tmp_path)
    refs = [REF_GPU if v.ray_tag.is_gpu else REF_CPU for v in variants]
    return live, plan_for_variants(variants, refs, ClusterOptions(source=str(live), **options))


@pytest.mark.kubectl
def test_each_group_moves_to_the_variant_it_runs(tmp_path: Path) -> None:
    kubectl = find_kubectl()
    if kubectl is None:
        pytest.skip("no kubectl")
    obj = cluster(
        "rayproject/ray:2.52.1-py311",
        ("gpu-workers", "rayproject/ray:2.52.1-py311-gpu"),
        ("cpu-workers", "docker.io/rayproject/ray:2.52.1-py311"),
    )
    live, rollout = plan(tmp_path, obj)
    patch = tmp_path / "patch.json"
    patch.write_text(json.dumps(rollout.patch))
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    argv = [kubectl, "patch", "--local", "--dry-run=client", "-f", str(live), "--type=json",
            f"--patch-file={patch}", "-o", "json"]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    patched = json.loads(done.stdout)
    crd = yaml.safe_load(CRD.read_text())
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    errors = jsonschema.Draft7Validator(v1["schema"]["openAPIV3Schema"]).iter_errors(patched)
    assert not [e.message for e in errors]
    spec = patched["spec"]
    images = {
        g["groupName"]: g["template"]["spec"]["containers"][0]["image"]
        for g in spec["workerGroupSpecs"]
    }
    assert images == {"gpu-workers": REF_GPU, "cpu-workers": REF_CPU}
    assert spec["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] == REF_CPU


def test_a_group_no_variant_fits_is_refused_naming_the_variant(tmp_path: Path) -> None:
    obj = cluster("rayproject/ray:2.52.1-py311", ("tpu", "rayproject/ray:2.52.1-py311-cu128"))
    with pytest.raises(RolloutError) as caught:
        plan(tmp_path, obj)
    message = str(caught.value)
    assert "group tpu runs rayproject/ray:2.52.1-py311-cu128" in message
    assert "build variant 2.52.1-py311-cu128" in message


def test_unclassifiable_image_with_two_fitting_variants_is_refused(tmp_path: Path) -> None:
    """A digest alone says no variant; spec.rayVersion fits both (CPU and GPU): refused."""
    private = "registry.internal/ray@sha256:" + "9" * 64
    obj = cluster(private, ("cpu-workers", private), ray_version="2.52.1")
    with pytest.raises(RolloutError, match="fits 2 variants of this release; pass --image"):
        plan(tmp_path, obj)


def test_without_the_live_object_it_is_refused(tmp_path: Path) -> None:
    variants = cpu_and_gpu_variants(tmp_path)
    with pytest.raises(RolloutError, match="give the live object with --from"):
        plan_for_variants(variants, [REF_CPU, REF_GPU], ClusterOptions())
