"""What KubeRay v1.7.0 puts in a Ray pod: the Ray container's command, args and env, and the
workers' ``wait-gcs-ready`` init step. Pure (no I/O, no engine): a RayCluster ``spec`` in,
frozen :class:`NodeCommand` out, for a harness that starts the nodes without Kubernetes.

Source read with the search tool: ray-project/kuberay ``ray-operator/controllers/ray/common/pod.go``
(``DefaultHeadPodTemplate``, ``DefaultWorkerPodTemplate``, ``BuildPod``,
``setContainerEnvVars``, ``setInitContainerEnvVars``), ``utils/util.go``
(``GetContainerCommand``, ``ExtractRayIPFromFQDN``) and ``utils/constant.go``, at the newest
stored revision matching the v1.7.0 CRD (see :mod:`.params` for the revision caveat).
Not modelled, refused instead: GCS fault tolerance, token auth and TLS options (they add env,
volumes and init containers); ``valueFrom``/``envFrom`` env (resolved only by Kubernetes).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from . import params as kp
from .crd import HEAD_GROUP, OVERWRITE_CMD_ANNOTATION
from .spec import (
    Env,
    mapping,
    quantities,
    ray_container,
    refuse_unmodelled,
    start_params,
    str_map,
    strings,
    user_env,
    worker_group,
)

__all__ = [
    "InitStep",
    "NodeCommand",
    "OperatorSettings",
    "PodOptions",
    "container_command",
    "head_command",
    "wait_gcs_script",
    "worker_command",
]

KUBERAY_VERSION = "v1.7.0"  # utils/constant.go KUBERAY_VERSION at the tag (not seen: see report)
WAIT_GCS_READY = "wait-gcs-ready"  # pod.go DefaultWorkerPodTemplate, the injected init container
LOCAL_HOST = "127.0.0.1"  # utils/constant.go LOCAL_HOST, the head's own RAY_ADDRESS host
# Env var names, utils/constant.go.
FQ_RAY_IP = "FQ_RAY_IP"
RAY_IP = "RAY_IP"
RAY_CLUSTER_NAME = "RAY_CLUSTER_NAME"
RAY_CLUSTER_NAMESPACE = "RAY_CLUSTER_NAMESPACE"
RAY_CLOUD_INSTANCE_ID = "RAY_CLOUD_INSTANCE_ID"
RAY_NODE_TYPE_NAME = "RAY_NODE_TYPE_NAME"
KUBERAY_GEN_RAY_START_CMD = "KUBERAY_GEN_RAY_START_CMD"
RAY_PORT = "RAY_PORT"
RAY_ADDRESS = "RAY_ADDRESS"
RAY_USAGE_STATS_KUBERAY_IN_USE = "RAY_USAGE_STATS_KUBERAY_IN_USE"
RAY_USAGE_STATS_EXTRA_TAGS = "RAY_USAGE_STATS_EXTRA_TAGS"
RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE = "RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE"
# pod.go BuildPod: `ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}` (PR #4860).
ULIMIT_COMMAND = "ulimit -n ${RAY_START_ULIMIT_OPEN_FILES:-65536}"


@dataclass(frozen=True)
class OperatorSettings:
    """The KubeRay operator's own environment, defaults as shipped in v1.7.0."""

    login_shell: bool = False  # ENABLE_LOGIN_SHELL=true: /bin/bash -cl -- (default -c, v1.4+)
    init_container_injection: bool = True  # ENABLE_INIT_CONTAINER_INJECTION


@dataclass(frozen=True)
class PodOptions:
    """What KubeRay takes from outside the group's spec to build one pod.

    ``namespace``: the RayCluster's; ``pod_name`` fills RAY_CLOUD_INSTANCE_ID (omitted when
    empty); ``overwrite_container_cmd``: the RayCluster annotation
    ``ray.io/overwrite-container-cmd: "true"``; ``settings``: the operator's own environment.
    """

    namespace: str = "default"
    pod_name: str = ""
    overwrite_container_cmd: bool = False
    settings: OperatorSettings = OperatorSettings()


@dataclass(frozen=True)
class InitStep:
    """An init container KubeRay injects; runs to completion before the Ray container."""

    name: str
    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Env


@dataclass(frozen=True)
class NodeCommand:
    """One Ray container as KubeRay v1.7.0 builds it.

    ``command``/``args`` are the container's (``("/bin/bash", "-c", "--")`` and one string
    ``"ulimit -n ...; ray start ..."``, or the user's own when KubeRay keeps them). ``env`` is
    the ordered (name, value) list: the manifest's env, then what KubeRay appends (duplicates
    possible; the last wins, as in Kubernetes). ``ray_start`` is KUBERAY_GEN_RAY_START_CMD,
    ``params`` the final rayStartParams, ``init`` the wait-gcs-ready step (workers only).
    """

    image: str
    command: tuple[str, ...]
    args: tuple[str, ...]
    env: Env
    ray_start: str
    params: tuple[tuple[str, str], ...]
    init: InitStep | None

    def env_dict(self) -> dict[str, str]:
        """The env as the container sees it (later duplicates win)."""
        return dict(self.env)


def container_command(settings: OperatorSettings) -> tuple[str, ...]:
    """utils/util.go ``GetContainerCommand([]string{})``: ``-c``, plus ``l`` for a login shell."""
    return ("/bin/bash", "-cl" if settings.login_shell else "-c", "--")


def wait_gcs_script(head_fqdn: str, port: str) -> str:
    """pod.go ``DefaultWorkerPodTemplate``: the init container's script, whitespace verbatim."""
    lines = [
        (5, "SECONDS=0"),
        (5, "while true; do"),
        (6, "if (( SECONDS <= 120 )); then"),
        (7, f"if ray health-check --address {head_fqdn}:{port} > /dev/null 2>&1; then"),
        (8, 'echo "GCS is ready."'),
        (8, "break"),
        (7, "fi"),
        (7, 'echo "$SECONDS seconds elapsed: Waiting for GCS to be ready."'),
        (6, "else"),
        (7, f"if ray health-check --address {head_fqdn}:{port}; then"),
        (8, 'echo "GCS is ready. Any error messages above can be safely ignored."'),
        (8, "break"),
        (7, "fi"),
        (
            7,
            'echo "$SECONDS seconds elapsed: Still waiting for GCS to be ready. For '
            "troubleshooting, refer to the FAQ at "
            'https://docs.ray.io/en/master/cluster/kubernetes/troubleshooting.html."',
        ),
        (6, "fi"),
        (6, "sleep 5"),
        (5, "done"),
    ]
    return "\n" + "".join("\t" * depth + text + "\n" for depth, text in lines) + "\t" * 4


def head_command(
    cluster_spec: Mapping[str, Any],
    cluster_name: str,
    pod: PodOptions = PodOptions(),
) -> NodeCommand:
    """The head's Ray container (``DefaultHeadPodTemplate`` then ``BuildPod``).

    ``cluster_spec`` is a RayCluster's ``spec``; ``pod`` what else the pod is built from
    (:class:`PodOptions`). Raises KubeRayPodError on a bad spec.
    """
    refuse_unmodelled(cluster_spec)
    group, path = mapping(cluster_spec, "headGroupSpec", "spec"), "spec.headGroupSpec"
    params = start_params(group, path)
    kp.apply_group_resources(params, str_map(group, "resources", path))
    kp.apply_group_labels(params, str_map(group, "labels", path))
    kp.set_missing(params, head=True)
    if cluster_spec.get("enableInTreeAutoscaling") is True:
        params["no-monitor"] = "true"
    port = kp.head_port(params)
    node = _Node(True, port, "", HEAD_GROUP, cluster_name, pod.namespace, pod.pod_name)
    return _build(group, path, params, node, pod.overwrite_container_cmd, pod.settings)


def worker_command(
    cluster_spec: Mapping[str, Any],
    group_name: str,
    cluster_name: str,
    head_address: str,
    pod: PodOptions = PodOptions(),
) -> NodeCommand:
    """A worker of ``group_name`` (``DefaultWorkerPodTemplate`` then ``BuildPod``).

    ``head_address`` is what KubeRay calls fqdnRayIP (in Kubernetes
    ``<cluster>-head-svc.<namespace>.svc.cluster.local``); the port is the head's ``port``
    param, else 6379. Other arguments as in :func:`head_command`.
    """
    refuse_unmodelled(cluster_spec)
    head_params = start_params(mapping(cluster_spec, "headGroupSpec", "spec"), "spec.headGroupSpec")
    port = kp.head_port(head_params)
    group, path = worker_group(cluster_spec, group_name)
    params = start_params(group, path)
    kp.apply_group_resources(params, str_map(group, "resources", path))
    kp.apply_group_labels(params, str_map(group, "labels", path))
    kp.set_missing(params, head=False, worker_address=f"{head_address}:{port}")
    node = _Node(False, port, head_address, group_name, cluster_name, pod.namespace, pod.pod_name)
    return _build(group, path, params, node, pod.overwrite_container_cmd, pod.settings)


@dataclass(frozen=True)
class _Node:
    head: bool
    port: str  # the head's GCS port
    fqdn: str  # fqdnRayIP: the head's address, empty for the head itself
    group_name: str
    cluster_name: str
    namespace: str
    pod_name: str


def _build(
    group: Mapping[str, Any],
    path: str,
    params: dict[str, str],
    node: _Node,
    overwrite: bool,
    settings: OperatorSettings,
) -> NodeCommand:
    """pod.go ``BuildPod`` for the Ray container, plus the worker's injected init container."""
    container, cpath = ray_container(group, path)
    own_env = user_env(container, cpath)
    resources = mapping(container, "resources", cpath)
    limits = quantities(resources, "limits", f"{cpath}.resources")
    requests = quantities(resources, "requests", f"{cpath}.resources")
    kp.apply_container_resources(params, limits, requests)
    flags = kp.render_flags(params)
    ray_start = f"ray start --head {flags}" if node.head else f"ray start {flags}"
    user_cmd = "".join(
        f" {part} "
        for part in (*strings(container, "command", cpath), *strings(container, "args", cpath))
    )
    command = tuple(strings(container, "command", cpath))
    args = tuple(strings(container, "args", cpath))
    if not (overwrite or _template_overwrites(group, path)) and "ray start" not in user_cmd:
        generated = f"{ULIMIT_COMMAND}; {ray_start}"
        command = container_command(settings)
        args = (f"{user_cmd} && {generated}" if user_cmd else generated,)
    image = str(container.get("image", ""))
    init = None
    if not node.head and settings.init_container_injection:
        init_env = (*own_env, (FQ_RAY_IP, node.fqdn), (RAY_IP, _ray_ip(node.fqdn)))
        script = wait_gcs_script(node.fqdn, node.port)
        init = InitStep(WAIT_GCS_READY, image, container_command(settings), (script,), init_env)
    env = _injected_env(own_env, node, ray_start)
    return NodeCommand(image, command, args, env, ray_start, tuple(sorted(params.items())), init)


def _template_overwrites(group: Mapping[str, Any], path: str) -> bool:
    """pod.go ``BuildPod`` reads the annotation on the pod template (``initTemplateAnnotations``
    copies the RayCluster's there), so a group's own template annotation counts too."""
    metadata = mapping(mapping(group, "template", path), "metadata", f"{path}.template")
    value = mapping(metadata, "annotations", f"{path}.template.metadata").get(
        OVERWRITE_CMD_ANNOTATION
    )
    return isinstance(value, str) and value.lower() == "true"


def _ray_ip(fqdn: str) -> str:
    """utils/util.go ``ExtractRayIPFromFQDN``: the first DNS label (RAY_IP, deprecated)."""
    return fqdn.split(".")[0]


def _injected_env(user_env: Env, node: _Node, ray_start: str) -> Env:
    """pod.go ``setContainerEnvVars`` for a RayCluster (creator CRD ``RayCluster``).

    The fieldRef values (cluster label, namespace, pod name, group label) are resolved here.
    """
    env = list(user_env)
    ip = LOCAL_HOST if node.head else node.fqdn
    if not node.head:
        env += [(FQ_RAY_IP, node.fqdn), (RAY_IP, _ray_ip(node.fqdn))]
    env += [(RAY_CLUSTER_NAME, node.cluster_name), (RAY_CLUSTER_NAMESPACE, node.namespace)]
    if node.pod_name:
        env.append((RAY_CLOUD_INSTANCE_ID, node.pod_name))
    env += [(RAY_NODE_TYPE_NAME, node.group_name), (KUBERAY_GEN_RAY_START_CMD, ray_start)]

    def add_missing(key: str, value: str) -> None:
        if all(existing != key for existing, _ in env):
            env.append((key, value))

    add_missing(RAY_PORT, node.port)
    add_missing(RAY_ADDRESS, f"{ip}:{node.port}")
    add_missing(RAY_USAGE_STATS_KUBERAY_IN_USE, "1")
    if node.head:
        tags = f"kuberay_version={KUBERAY_VERSION};kuberay_crd=RayCluster"
        env.append((RAY_USAGE_STATS_EXTRA_TAGS, tags))
    add_missing(RAY_DASHBOARD_ENABLE_K8S_DISK_USAGE, "1")
    return tuple(env)
