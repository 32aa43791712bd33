"""KubeRay and the kubelet, as far as rollout.sh can see them, on the local containers.

- :func:`reconcile` (KubeRay's pod reconciler, ``raycluster_controller.go``): each group gets
  as many pods as its live spec asks (``replicas * numOfHosts``, 0 when suspended); a missing
  pod is made from the group's CURRENT template (so after a patch, from the patched image) with
  the command, args and env KubeRay gives it (:func:`..e2e.plan_cluster`), a worker after its
  ``wait-gcs-ready`` init step has exited 0, joining the running head;
- :func:`pod_object`: the Pod as ``kubectl get pod -o json`` shows it: KubeRay's labels, the
  spec's containers, ``status.podIP`` (the container's IP on the rehearsal network, as Ray
  reports it in NodeManagerAddress), ``containerStatuses[].imageID`` (``repo@digest`` of the
  image the container really runs, from the engine), and ``Ready`` when the node is alive in
  Ray (KubeRay's readiness probes ask the raylet and the GCS the same).
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

from ..e2e import plan_cluster
from ..e2e.cluster import pod_settings
from ..e2e.plan import NodePlan
from ..e2e.probes import ray_nodes
from ..engine import Engine, RunningContainer
from ..errors import EngineError
from ..kuberay.crd import HEAD_GROUP
from ..kuberay.pod import OperatorSettings
from ..refs import ImageRef
from .state import Config, PodRecord

IMPORT_NATS = ["python", "-c", "import nats"]


def groups(rc: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any], int]]:
    """(group, node type, template, pods wanted) of a RayCluster, the head first."""
    spec = rc.get("spec") or {}
    yield HEAD_GROUP, "head", spec["headGroupSpec"]["template"], 1
    for group in spec.get("workerGroupSpecs") or []:
        want = int(group.get("replicas", 0) or 0) * int(group.get("numOfHosts", 1) or 1)
        yield (
            str(group["groupName"]),
            "worker",
            group["template"],
            0 if group.get("suspend") else want,
        )


def labels(rc: Mapping[str, Any], pod: PodRecord) -> dict[str, str]:
    """KubeRay's pod labels (``utils/constant.go``)."""
    return {
        "ray.io/cluster": str(rc["metadata"]["name"]),
        "ray.io/group": pod.group,
        "ray.io/node-type": pod.node_type,
        "ray.io/is-ray-node": "yes",
    }


def node_plan(rc: Mapping[str, Any], config: Config, group: str, prefix: str) -> NodePlan:
    """The container KubeRay makes for a pod of ``group`` from the live spec; the pod is
    named ``<prefix>-head`` or ``<prefix>-<group>-worker-0`` (its RAY_CLOUD_INSTANCE_ID)."""
    plan = plan_cluster(
        rc,
        source=config.source,
        replica_cap=1,
        settings=OperatorSettings(login_shell=config.login_shell),
        pod_prefix=prefix,
    )
    if group == HEAD_GROUP:
        return plan.head
    (node,) = [w for w in plan.workers if w.group == group][:1]
    return node


def grace_period(template: Mapping[str, Any]) -> int:
    """A pod template's ``terminationGracePeriodSeconds`` (Kubernetes' default: 30): how long
    the kubelet waits after SIGTERM before SIGKILL when the pod is deleted. A Ray node that
    stops on SIGTERM tells the GCS it is gone; a killed one is only found dead later."""
    return int((template.get("spec") or {}).get("terminationGracePeriodSeconds", 30))


def local_image(engine: Engine, config: Config, image: str) -> str | None:
    """What the engine runs for a template's image: the run's mapping (the stand-in of a
    base), else the reference itself when the engine has it; None: not present (a kubelet
    with ``imagePullPolicy: Never`` says ErrImageNeverPull; nothing is pulled here)."""
    mapped = config.local_images.get(image)
    if mapped:
        return mapped
    return image if engine.image_exists(image) else None


def start_pod(engine: Engine, config: Config, rc: Mapping[str, Any], group: str) -> PodRecord:
    """A new pod of ``group``: its record, with the init step (workers) or the Ray container
    (head) started on the template's image."""
    node_type = "head" if group == HEAD_GROUP else "worker"
    prefix = f"{rc['metadata']['name']}-{uuid.uuid4().hex[:5]}"
    node = node_plan(rc, config, group, prefix)
    pod_name = node.node.env_dict()["RAY_CLOUD_INSTANCE_ID"]
    template = next(t for g, _, t, _ in groups(rc) if g == group)
    containers = copy.deepcopy(list(template["spec"]["containers"]))
    pod = PodRecord(pod_name, group, node_type, pod_name, containers, prefix=prefix)
    pod.grace_s = grace_period(template)
    image = local_image(engine, config, pod.image)
    if image is None:
        pod.reason = f"ErrImageNeverPull: {pod.image} is not in {engine.name}"
        return pod
    if node.node.init is not None:
        init = node.node.init
        box = _run(engine, config, image, pod, "init", [*init.command, *init.args], dict(init.env))
        pod.init = box.name
    else:
        pod.box = start_ray(engine, config, image, pod, node).name
    return pod


def start_ray(
    engine: Engine, config: Config, image: str, pod: PodRecord, node: NodePlan
) -> RunningContainer:
    """The pod's Ray container, as :func:`..e2e.miniature_cluster` starts one."""
    aliases = config.head_aliases if pod.node_type == "head" else ()
    settings = pod_settings(node)
    return _run(engine, config, image, pod, "ray", node.argv, aliases=aliases, **settings)


def _run(
    engine: Engine,
    config: Config,
    image: str,
    pod: PodRecord,
    what: str,
    argv: list[str],
    environment: Mapping[str, str] | None = None,
    **kwargs: Any,
) -> RunningContainer:
    key, _, value = config.label.partition("=")
    return engine.run(
        image,
        argv,
        name_prefix=f"{config.network}-{pod.name}-{what}",
        network=config.network,
        hostname=pod.hostname,
        extra_labels={key: value},
        environment=environment,
        **kwargs,
    )


def reconcile(engine: Engine, config: Config, rc: Mapping[str, Any], pods: list[PodRecord]) -> None:
    """One pass of KubeRay's reconciler and the kubelet: missing pods made, init steps that
    exited 0 followed by the Ray container, Ray containers that exited started again
    (:func:`restart_exited`). ``pods`` is changed in place."""
    for group, _, _, want in groups(rc):
        have = [p for p in pods if p.group == group]
        for _ in range(want - len(have)):
            pods.append(start_pod(engine, config, rc, group))
    for pod in pods:
        if pod.box:
            restart_exited(engine, pod)
        if pod.box or not pod.init or pod.reason:
            continue
        init = engine.find_container(pod.init)
        state = (init.attrs().get("State") or {}) if init else {}
        if init is None or state.get("Status") not in ("exited", "stopped"):
            continue
        if int(state.get("ExitCode", -1)) != 0:
            pod.reason = f"Init:Error (wait-gcs-ready exited {state.get('ExitCode')})"
            continue
        image = local_image(engine, config, pod.image)
        assert image is not None  # the init step ran on it
        node = node_plan(rc, config, pod.group, pod.prefix)
        pod.box = start_ray(engine, config, image, pod, node).name


def restart_exited(engine: Engine, pod: PodRecord) -> None:
    """The kubelet under ``restartPolicy: Always``: a Ray container that exited is started
    again (``ray start --block`` then joins the head there is now, as after a head restart,
    when the workers' raylets exit on the new GCS)."""
    box = engine.find_container(pod.box)
    if box is not None and (box.attrs().get("State") or {}).get("Status") in ("exited", "stopped"):
        box.start()
        pod.restarts += 1


def imports_nats(engine: Engine, pod: PodRecord) -> bool:
    """``import nats`` in the pod's Ray container, restarted first if it exited; once more
    if it exits during the exec (EngineError from the seam: no exec in a stopped container)."""
    for attempt in range(2):
        restart_exited(engine, pod)
        box = engine.find_container(pod.box) if pod.box else None
        if box is None:
            return False
        try:
            return box.exec_streams(IMPORT_NATS)[0] == 0
        except EngineError:
            if attempt:
                raise
    return False


def alive_hosts(engine: Engine, config: Config, pods: list[PodRecord]) -> set[str] | None:
    """Hostnames of the Ray nodes alive, as the running head's GCS says; None: no head."""
    head = next((p for p in pods if p.node_type == "head" and p.box), None)
    box = engine.find_container(head.box) if head else None
    if box is None:
        return None
    found = ray_nodes(box, config.python)
    return None if isinstance(found, str) else {str(n["host"]) for n in found}


def pod_object(
    engine: Engine,
    config: Config,
    rc: Mapping[str, Any],
    pod: PodRecord,
    alive: set[str] | None,
) -> dict[str, Any]:
    """The Pod as the API server would show it (``alive``: see :func:`alive_hosts`)."""
    status: dict[str, Any] = {"phase": "Pending", "conditions": []}
    box = engine.find_container(pod.box) if pod.box else None
    running = False
    container_status: dict[str, Any] = {
        "name": pod.containers[0]["name"],
        "image": pod.image,
        "restartCount": pod.restarts,
    }
    if box is not None:
        attrs = box.attrs()
        state = attrs.get("State") or {}
        running = state.get("Status") == "running"
        status["phase"] = "Running" if running else "Failed"
        network = (attrs.get("NetworkSettings") or {}).get("Networks") or {}
        ip = str((network.get(config.network) or {}).get("IPAddress") or "")
        if ip:
            status["podIP"], status["podIPs"] = ip, [{"ip": ip}]
        runs = str(attrs.get("Image", ""))
        container_status["imageID"] = image_id(engine, config, runs, pod.image)
    elif pod.reason:
        status["reason"] = pod.reason
    ready = running and alive is not None and pod.hostname in alive
    container_status["ready"] = ready
    status["conditions"] = [{"type": "Ready", "status": "True" if ready else "False"}]
    status["containerStatuses"] = [container_status]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": pod.name,
            "namespace": rc["metadata"].get("namespace", "default"),
            "labels": labels(rc, pod),
        },
        "spec": {"containers": pod.containers, "hostname": pod.hostname},
        "status": status,
    }


def image_id(engine: Engine, config: Config, image: str, ref: str) -> str:
    """``repo@sha256:...`` of the image a container runs (the kubelet's imageID). For a
    ``ref`` by digest whose image the run resolved (``config.local_images``, checked against
    the registry): ``ref``'s own digest when the container runs that very image; else the
    engine's repo digest matching ``ref``'s digest, else its first, else the image id."""
    try:
        attrs = engine.image_attrs(image)
    except Exception:
        return image
    wanted = ImageRef.parse(ref).digest if "@" in ref else None
    mapped = config.local_images.get(ref)
    if wanted and mapped and engine.image_attrs(mapped).get("Id") == attrs.get("Id"):
        return f"{ImageRef.parse(ref).name}@{wanted}"
    digests = [str(d) for d in attrs.get("RepoDigests") or []]
    for digest in digests:
        if wanted and digest.endswith(f"@{wanted}"):
            return digest
    return digests[0] if digests else image
