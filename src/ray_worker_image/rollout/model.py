"""The rollout's view of a Ray cluster spec, wherever it is embedded.

The KubeRay facts it rests on (the kinds, where each keeps its cluster spec, the Ray
container's index, the head group's name) are in :mod:`..kuberay.crd`, with their sources.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import RolloutError
from ..kuberay.crd import KINDS, RAY_CONTAINER, Kind


@dataclass(frozen=True)
class GroupView:
    """One pod template: the head (``index is None``) or a worker group."""

    name: str  # groupName; HEAD_GROUP for the head
    index: int | None  # position in workerGroupSpecs; None for the head
    container: str | None  # name of containers[0]; None when not known (no live object)
    image: str  # containers[0].image as the view saw it
    replicas: int | None = None
    num_of_hosts: int = 1
    suspended: bool = False
    # Other containers and initContainers that run the same image as containers[0]:
    # the patch leaves them alone, so the operator is told about them.
    same_image: tuple[str, ...] = ()
    pull_policy: str | None = None  # containers[0].imagePullPolicy when set
    spec_pointer: str = "/spec"

    @property
    def is_head(self) -> bool:
        return self.index is None

    @property
    def pointer(self) -> str:
        """JSON pointer: ``<spec>/headGroupSpec`` or ``<spec>/workerGroupSpecs/<i>``."""
        if self.index is None:
            return f"{self.spec_pointer}/headGroupSpec"
        return f"{self.spec_pointer}/workerGroupSpecs/{self.index}"

    @property
    def container_pointer(self) -> str:
        return f"{self.pointer}/template/spec/containers/{RAY_CONTAINER}"

    @property
    def field(self) -> str:
        """Dotted path of containers[0] for messages: ``spec.workerGroupSpecs[1]...``."""
        spec = self.spec_pointer.strip("/").replace("/", ".")
        where = "headGroupSpec" if self.index is None else f"workerGroupSpecs[{self.index}]"
        return f"{spec}.{where}.template.spec.containers[0]"

    @property
    def label(self) -> str:
        return "the head" if self.is_head else f"worker group {self.name!r}"


@dataclass(frozen=True)
class ClusterView:
    """What the patch needs to know about one Ray cluster spec, in spec order.

    ``kind`` says which object holds the spec (RayCluster, or the RayJob/RayService that
    embeds it); ``name``/``namespace`` are that object's. ``live`` is False for a view
    built from options alone (the groups then are assumed; see ``read.assumed_view``).
    """

    name: str
    namespace: str
    source: str  # file name, "<stdin>", or the options it was built from
    head: GroupView
    groups: tuple[GroupView, ...]
    ray_version: str | None = None
    live: bool = True
    kind: Kind = KINDS["RayCluster"]
    upgrade_strategy: str | None = None  # RayCluster/RayService spec.upgradeStrategy.type
    autoscaler: bool = False
    autoscaler_image: str | None = None
    gcs_fault_tolerance: bool = False
    suspended: bool = False
    owner: str | None = None  # "RayService/name" when another controller owns the cluster
    managers: tuple[str, ...] = ()  # "Helm release 'x'", "Argo CD application 'y'", ...
    notes: tuple[str, ...] = ()

    @property
    def title(self) -> str:
        """``RayCluster ray/ray-gpu``."""
        return f"{self.kind.name} {self.namespace}/{self.name}"

    def group(self, name: str) -> GroupView:
        """The worker group called ``name``; RolloutError naming the groups there are."""
        for g in self.groups:
            if g.name == name:
                return g
        existing = ", ".join(g.name for g in self.groups)
        have = (
            f"its worker groups are: {existing}"
            if existing
            else "it has no worker groups (no workerGroupSpecs)"
        )
        raise RolloutError(
            f"{self.source}: worker group {name!r} not found in {self.kind.name} {self.name};"
            f" {have}; fix --groups"
        )
