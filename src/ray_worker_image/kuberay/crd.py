"""The KubeRay CRDs as the project reads them: kinds, where each keeps its cluster spec, names.

Facts (``docs/reference/kuberay/FACTS.md``, kuberay v1.7.0, CRDs in ``tests/data/kuberay/``):

* the CRDs serve ``ray.io/v1`` (the storage version) and ``ray.io/v1alpha1``;
* a RayCluster keeps the cluster spec at ``spec``, a RayJob at ``spec.rayClusterSpec``, a
  RayService at ``spec.rayClusterConfig`` (``ray.io_rayjobs.yaml``, ``ray.io_rayservices.yaml``);
* the Ray container is ``containers[0]`` of every head and worker template
  (``ray-operator/controllers/ray/utils/constant.go``: ``RayContainerIndex = 0``);
* worker groups are identified by ``groupName``; their position means nothing;
* pods carry ``ray.io/cluster``, ``ray.io/group`` (``headgroup`` on the head) and
  ``ray.io/node-type`` (``common/pod.go`` ``labelPod``; ``utils/constant.go``
  ``RayNodeHeadGroupLabelValue``);
* the head Service is ``<cluster>-head-svc`` (``utils/util.go`` ``GenerateHeadServiceName``),
  reached at ``<svc>.<namespace>.svc.cluster.local`` (``GenerateFQDNServiceName``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

HEAD_GROUP: Final = "headgroup"  # utils/constant.go RayNodeHeadGroupLabelValue
RAY_CONTAINER: Final = 0  # utils/constant.go RayContainerIndex
API_VERSIONS: Final = ("ray.io/v1", "ray.io/v1alpha1")
# utils/constant.go: RayFTEnabledAnnotationKey, RayOverwriteContainerCmdAnnotationKey.
FT_ENABLED_ANNOTATION: Final = "ray.io/ft-enabled"
OVERWRITE_CMD_ANNOTATION: Final = "ray.io/overwrite-container-cmd"
# utils/util.go GetClusterDomainName: $CLUSTER_DOMAIN of the operator, else DefaultDomainName.
CLUSTER_DOMAIN: Final = "cluster.local"


@dataclass(frozen=True)
class Kind:
    """Where a kind keeps the Ray cluster spec: JSON pointer, dotted path, kubectl resource."""

    name: str  # "RayCluster"
    resource: str  # "raycluster" (kubectl get/patch)
    spec_pointer: str  # "/spec" or "/spec/rayClusterSpec"

    @property
    def spec_path(self) -> str:
        """``spec`` / ``spec.rayClusterSpec``: for messages."""
        return self.spec_pointer.strip("/").replace("/", ".")

    @property
    def jsonpath(self) -> str:
        """``.spec.rayClusterSpec``: the prefix of a kubectl jsonpath."""
        return "." + self.spec_path

    def cluster_spec(self, obj: Mapping[str, Any]) -> Any:
        """The cluster spec inside ``obj`` (any JSON value, or None when a step is missing)."""
        value: Any = obj
        for part in self.spec_pointer.strip("/").split("/"):
            value = value.get(part) if isinstance(value, Mapping) else None
        return value


KINDS: Final = {
    "RayCluster": Kind("RayCluster", "raycluster", "/spec"),
    "RayJob": Kind("RayJob", "rayjob", "/spec/rayClusterSpec"),
    "RayService": Kind("RayService", "rayservice", "/spec/rayClusterConfig"),
}


def annotation_true(annotations: Any, key: str) -> bool:
    """An annotation KubeRay reads as a boolean: ``"true"`` in any case (``strings.ToLower``)."""
    return isinstance(annotations, Mapping) and str(annotations.get(key, "")).lower() == "true"


def num_of_hosts(group: Mapping[str, Any]) -> int:
    """A worker group's pods per replica (``numOfHosts``, multi-host groups): the CRD's default
    1 (``ray.io_rayclusters.yaml``: ``numOfHosts: default: 1``) unless a positive integer."""
    hosts = group.get("numOfHosts")
    return hosts if isinstance(hosts, int) and not isinstance(hosts, bool) and hosts > 0 else 1


def head_service(cluster: str) -> str:
    """utils/util.go ``GenerateHeadServiceName``: ``<cluster>-head-svc``."""
    return f"{cluster}-head-svc"


def head_fqdn(cluster: str, namespace: str) -> str:
    """utils/util.go ``GenerateFQDNServiceName``: ``<svc>.<namespace>.svc.cluster.local``."""
    return f"{head_service(cluster)}.{namespace}.svc.{CLUSTER_DOMAIN}"
