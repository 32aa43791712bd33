"""kuberay.crd against the real KubeRay v1.7.0 CRDs and samples in tests/data/kuberay/: every
kind, served version and cluster-spec location the rollout and the e2e rely on is the CRDs'."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import pytest
import yaml

from ray_worker_image.kuberay.crd import (
    API_VERSIONS,
    HEAD_GROUP,
    KINDS,
    annotation_true,
    head_fqdn,
    head_service,
    num_of_hosts,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "kuberay"
CRDS = {
    "RayCluster": "ray.io_rayclusters.yaml",
    "RayJob": "ray.io_rayjobs.yaml",
    "RayService": "ray.io_rayservices.yaml",
}
SAMPLES = {
    "RayCluster": "samples/ray-cluster.sample.yaml",
    "RayJob": "owners/ray-job.sample.yaml",
    "RayService": "owners/ray-service.sample.yaml",
}


@functools.cache
def _crd(kind: str) -> dict[str, Any]:
    """The CRD, parsed once per process (each is about 1 MB: libyaml's loader when present)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded: dict[str, Any] = yaml.load((DATA / CRDS[kind]).read_text("utf-8"), Loader=loader)
    return loaded


def _sample(kind: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all((DATA / SAMPLES[kind]).read_text("utf-8")):
        if isinstance(doc, dict) and doc.get("kind") == kind:
            return doc
    raise AssertionError(f"no {kind} in {SAMPLES[kind]}")


def test_the_kinds_are_the_crds() -> None:
    assert set(KINDS) == set(CRDS)
    for name, kind in KINDS.items():
        names = _crd(name)["spec"]["names"]
        assert (names["kind"], names["singular"]) == (name, kind.resource)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_every_served_version_is_known(kind: str) -> None:
    group = _crd(kind)["spec"]["group"]
    served = {f"{group}/{v['name']}" for v in _crd(kind)["spec"]["versions"] if v["served"]}
    assert served == set(API_VERSIONS)


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_the_cluster_spec_is_where_the_crd_puts_it(kind: str) -> None:
    """The pointer walks the CRD's schema to an object with headGroupSpec and
    workerGroupSpecs (the RayCluster spec's schema), in every served version."""
    pointer = KINDS[kind].spec_pointer.strip("/").split("/")
    for version in _crd(kind)["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]
        for part in pointer:
            schema = schema["properties"][part]
        assert {"headGroupSpec", "workerGroupSpecs"} <= set(schema["properties"]), version["name"]


@pytest.mark.parametrize("kind", sorted(CRDS))
def test_the_cluster_spec_is_found_in_the_samples(kind: str) -> None:
    spec = KINDS[kind].cluster_spec(_sample(kind))
    assert isinstance(spec, dict) and "headGroupSpec" in spec
    assert KINDS[kind].cluster_spec({"spec": None}) is None  # a missing step is None


def test_names_and_defaults() -> None:
    assert HEAD_GROUP == "headgroup"
    assert head_service("ray-gpu") == "ray-gpu-head-svc"
    assert head_fqdn("ray-gpu", "ray") == "ray-gpu-head-svc.ray.svc.cluster.local"
    assert KINDS["RayJob"].spec_path == "spec.rayClusterSpec"
    assert KINDS["RayService"].jsonpath == ".spec.rayClusterConfig"
    assert [num_of_hosts(g) for g in ({}, {"numOfHosts": 4}, {"numOfHosts": 0})] == [1, 4, 1]
    assert num_of_hosts({"numOfHosts": True}) == 1 and num_of_hosts({"numOfHosts": "2"}) == 1
    default = _crd("RayCluster")["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    group = default["properties"]["spec"]["properties"]["workerGroupSpecs"]["items"]
    assert group["properties"]["numOfHosts"]["default"] == num_of_hosts({})
    assert annotation_true({"ray.io/ft-enabled": "True"}, "ray.io/ft-enabled")
    assert not annotation_true({"ray.io/ft-enabled": "yes"}, "ray.io/ft-enabled")
    assert not annotation_true(["ray.io/ft-enabled"], "ray.io/ft-enabled")
