"""From a RayCluster manifest to the containers of a miniature cluster (pure).

Each Ray node gets what KubeRay v1.7.0 would put in its pod (:mod:`..kuberay.pod`): the
container command and args, the env, and for workers the ``wait-gcs-ready`` step. What a
pod would get from Kubernetes is mirrored where the run depends on it:

- the head Service (:func:`..kuberay.crd.head_service`, reached at
  :func:`..kuberay.crd.head_fqdn`): here both names are network aliases of the head container;
- ``resources.limits.memory`` becomes the container's cgroup memory limit, and its size the
  ``/dev/shm`` size (KubeRay mounts an in-memory emptyDir there, sized by that limit:
  ``common/pod.go`` ``addEmptyDir`` with ``SharedMemoryVolumeName``);
- CPU limits are not enforced (a 2-core machine runs the whole cluster); ``--num-cpus`` is
  still what KubeRay derives. A GPU count is a logical Ray resource: no device is attached.

Replicas are capped (default 2 per group) and the plan says so. The image under test
replaces the manifest's images, as the rollout patch would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..errors import PipelineError, UsageError
from ..kube_quantity import parse_quantity, quantity_value
from ..kuberay.crd import (
    FT_ENABLED_ANNOTATION,
    HEAD_GROUP,
    OVERWRITE_CMD_ANNOTATION,
    annotation_true,
    head_fqdn,
    head_service,
    num_of_hosts,
)
from ..kuberay.pod import (
    NodeCommand,
    OperatorSettings,
    PodOptions,
    head_command,
    worker_command,
)
from ..kuberay.spec import ray_container

REPLICA_CAP = 2
CLIENT_PORT = 10001  # `ray start --head` serves the Ray Client here (--ray-client-server-port)
DEFAULT_SHM_BYTES = 1 << 30  # /dev/shm when the manifest sets no memory limit
DEFAULT_SETTINGS = OperatorSettings()  # the operator as it ships (bash -c, init injection)


class PlanError(UsageError):
    """The manifest cannot be run as a miniature cluster."""


@dataclass(frozen=True)
class NodePlan:
    """One Ray container: ``role`` is ``head`` or ``<group>-<i>``; ``gpus`` logical GPUs."""

    role: str
    group: str
    node: NodeCommand
    mem_limit: int | None  # bytes, from resources.limits.memory
    shm_bytes: int
    gpus: int

    @property
    def argv(self) -> list[str]:
        """The container's command + args, as the kubelet execs them."""
        return [*self.node.command, *self.node.args]


@dataclass(frozen=True)
class ClusterPlan:
    name: str
    namespace: str
    head: NodePlan
    workers: tuple[NodePlan, ...]
    notes: tuple[str, ...]  # what differs from the manifest (capped replicas, ...)

    @property
    def head_service(self) -> str:
        return head_service(self.name)

    @property
    def head_fqdn(self) -> str:
        return head_fqdn(self.name, self.namespace)

    @property
    def client_address(self) -> str:
        """What the fleet's orchestrator sets as RAY_ADDRESS: ``ray://<head svc>:10001``."""
        return f"ray://{self.head_fqdn}:{CLIENT_PORT}"

    @property
    def task_workers(self) -> tuple[NodePlan, ...]:
        """Where agent tasks must land: the GPU groups' workers, else every worker."""
        gpu = tuple(w for w in self.workers if w.gpus > 0)
        return gpu or self.workers

    @property
    def task_gpus(self) -> int:
        """GPUs each agent task asks for: 1 when the cluster has GPU workers, else 0."""
        return 1 if any(w.gpus for w in self.workers) else 0


def _memory(container: Mapping[str, Any]) -> int | None:
    limits = (container.get("resources") or {}).get("limits") or {}
    if "memory" not in limits:
        return None
    return quantity_value(parse_quantity(limits["memory"]))


def _node(
    role: str, group_name: str, group: Mapping[str, Any], path: str, node: NodeCommand
) -> NodePlan:
    memory = _memory(ray_container(group, path)[0])
    params = dict(node.params)
    gpus = int(float(params.get("num-gpus", "0") or 0))
    return NodePlan(
        role=role,
        group=group_name,
        node=node,
        mem_limit=memory,
        shm_bytes=memory or DEFAULT_SHM_BYTES,
        gpus=gpus,
    )


def plan_cluster(
    cluster: Mapping[str, Any],
    *,
    source: str,
    replica_cap: int = REPLICA_CAP,
    settings: OperatorSettings = DEFAULT_SETTINGS,
    pod_prefix: str = "",
) -> ClusterPlan:
    """The miniature cluster for a RayCluster object (``metadata`` and ``spec`` are read).

    ``source`` names the file in errors; ``pod_prefix`` makes pod names (RAY_CLOUD_INSTANCE_ID)
    unique per run. Raises :class:`PlanError` (or KubeRayPodError) with the file and field.
    """
    metadata = cluster.get("metadata") or {}
    spec = cluster.get("spec")
    name = metadata.get("name")
    if not isinstance(spec, Mapping) or not isinstance(name, str) or not name:
        raise PlanError(f"{source}: a RayCluster needs metadata.name and spec")
    namespace = str(metadata.get("namespace") or "default")
    annotations = metadata.get("annotations") or {}
    if annotation_true(annotations, FT_ENABLED_ANNOTATION):
        raise PlanError(
            f"{source}: metadata.annotations.{FT_ENABLED_ANNOTATION}: GCS fault tolerance needs an "
            "external Redis, which the miniature cluster does not run; remove it for e2e"
        )
    overwrite = annotation_true(annotations, OVERWRITE_CMD_ANNOTATION)
    common = PodOptions(namespace, "", overwrite, settings)
    prefix = pod_prefix or name
    try:
        head_node = head_command(spec, name, replace(common, pod_name=f"{prefix}-head"))
        head = _node("head", HEAD_GROUP, spec["headGroupSpec"], "spec.headGroupSpec", head_node)
        plan = ClusterPlan(name, namespace, head, (), ())
        workers: list[NodePlan] = []
        notes: list[str] = []
        for index, group in enumerate(spec.get("workerGroupSpecs") or []):
            group_name = str(group.get("groupName"))
            if group.get("suspend") is True:
                notes.append(f"{group_name}: suspended, not started")
                continue
            replicas = int(group.get("replicas", group.get("minReplicas", 1)) or 0)
            wanted = replicas * num_of_hosts(group)
            started = min(wanted, replica_cap)
            if started < wanted:
                notes.append(f"{group_name}: {wanted} replicas, capped at {started} here")
            for i in range(started):
                node = worker_command(
                    spec,
                    group_name,
                    name,
                    plan.head_fqdn,
                    replace(common, pod_name=f"{prefix}-{group_name}-worker-{i}"),
                )
                path = f"spec.workerGroupSpecs[{index}]"
                workers.append(_node(f"{group_name}-{i}", group_name, group, path, node))
    except PipelineError as exc:
        raise PlanError(f"{source}: {exc}") from None
    if not workers:
        raise PlanError(
            f"{source}: spec.workerGroupSpecs: no worker to run agent tasks on; "
            "add a worker group with replicas >= 1"
        )
    return ClusterPlan(name, namespace, head, tuple(workers), tuple(notes))
