"""Read the live object (RayCluster, RayJob or RayService) and make a :class:`ClusterView`.

Files and object selection are in :mod:`.files`. Every refusal is one line naming the
file, the field and the fix (``RolloutError``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PipelineError, RolloutError
from ..kuberay.crd import (
    API_VERSIONS,
    FT_ENABLED_ANNOTATION,
    HEAD_GROUP,
    KINDS,
    RAY_CONTAINER,
    annotation_true,
    num_of_hosts,
)
from ..kuberay.names import check_cluster_name, check_group_name, check_namespace
from ..refs import ImageRef
from .files import FIX_FROM
from .model import ClusterView, GroupView
from .owners import managers, owner

_PLACEHOLDER = re.compile(r"\$\{|\$[A-Z_]{2,}|\{\{|\}\}|<[^<>]*>|^__|__$")


def _placeholder(value: str) -> bool:
    """A template left unrendered: ``${VAR}``, ``$VAR``, ``{{ x }}``, ``<image>``, ``__IMAGE__``."""
    return bool(_PLACEHOLDER.search(value))


def view_from_object(
    obj: Any, *, source: str = "<object>", namespace: str | None = None
) -> ClusterView:
    """Validate a RayCluster/RayJob/RayService and extract what the patch needs.

    ``namespace`` fills in a missing ``metadata.namespace`` (Helm renders omit it) and
    must agree with one that is present. Missing both: "default", with a note.
    """
    kind_name = obj.get("kind") if isinstance(obj, Mapping) else type(obj).__name__
    if not isinstance(obj, Mapping) or kind_name not in KINDS:
        raise RolloutError(
            f"{source}: expected kind RayCluster, RayJob or RayService, got {kind_name!r};"
            f" {FIX_FROM}"
        )
    kind = KINDS[str(kind_name)]
    if obj.get("apiVersion") not in API_VERSIONS:
        raise RolloutError(
            f"{source}: apiVersion {obj.get('apiVersion')!r} of {kind.name} is not one of"
            f" {', '.join(API_VERSIONS)}; fetch the object with kubectl"
        )
    meta = _mapping(obj.get("metadata"), "metadata", source)
    name = meta.get("name")
    if not isinstance(name, str) or not name or _placeholder(name):
        raise RolloutError(
            f"{source}: metadata.name {name!r} is missing or a placeholder; {FIX_FROM}"
        )
    check_cluster_name(name, f"{source}: metadata.name")
    notes: list[str] = []
    ns = meta.get("namespace")
    if isinstance(ns, str) and _placeholder(ns):
        raise RolloutError(
            f"{source}: metadata.namespace {ns!r} is a placeholder; render the manifest first"
            " or pass the rendered object"
        )
    if ns and namespace and ns != namespace:
        raise RolloutError(
            f"{source}: metadata.namespace is {ns!r} but --namespace is {namespace!r};"
            " drop --namespace or fetch the object from the namespace you mean"
        )
    if ns:
        check_namespace(str(ns), f"{source}: metadata.namespace")
    if not ns:
        ns = namespace or "default"
        if not namespace:
            notes.append(
                f"{source} has no metadata.namespace: the commands use namespace"
                " 'default' (pass --namespace to change it)"
            )
    top = _mapping(obj.get("spec"), "spec", source)
    if kind.name == "RayJob" and top.get("rayClusterSpec") is None and top.get("clusterSelector"):
        raise RolloutError(
            f"{source}: RayJob {name} runs on an existing cluster (spec.clusterSelector),"
            " it has no spec.rayClusterSpec; patch that RayCluster instead"
        )
    spec = _mapping(kind.cluster_spec(obj), kind.spec_path, source)
    head = _template_view(
        _mapping(spec.get("headGroupSpec"), f"{kind.spec_path}.headGroupSpec", source),
        f"{kind.spec_path}.headGroupSpec",
        source,
        name=HEAD_GROUP,
        index=None,
        spec_pointer=kind.spec_pointer,
    )
    raw_groups = spec.get("workerGroupSpecs") or []
    if not isinstance(raw_groups, list):
        raise RolloutError(f"{source}: {kind.spec_path}.workerGroupSpecs must be a list")
    groups: list[GroupView] = []
    for i, raw in enumerate(raw_groups):
        path = f"{kind.spec_path}.workerGroupSpecs[{i}]"
        group = _mapping(raw, path, source)
        group_name = group.get("groupName")
        if not isinstance(group_name, str) or not group_name:
            raise RolloutError(
                f"{source}: {path}.groupName is missing; every worker group needs one"
            )
        check_group_name(group_name, f"{source}: {path}.groupName")
        if any(g.name == group_name for g in groups):
            raise RolloutError(
                f"{source}: {path}.groupName {group_name!r} is used twice; KubeRay needs unique"
                " group names, fix the cluster spec first"
            )
        groups.append(
            _template_view(
                group, path, source, name=group_name, index=i, spec_pointer=kind.spec_pointer
            )
        )
    annotations = meta.get("annotations") or {}
    upgrade = (spec if kind.name == "RayCluster" else top).get("upgradeStrategy")
    autoscaler_options = spec.get("autoscalerOptions")
    ray_version = spec.get("rayVersion")
    return ClusterView(
        name=name,
        namespace=str(ns),
        source=source,
        head=head,
        groups=tuple(groups),
        ray_version=None if ray_version is None else str(ray_version),
        live=True,
        kind=kind,
        upgrade_strategy=upgrade.get("type") if isinstance(upgrade, Mapping) else None,
        autoscaler=spec.get("enableInTreeAutoscaling") is True,
        autoscaler_image=(
            autoscaler_options.get("image") if isinstance(autoscaler_options, Mapping) else None
        ),
        gcs_fault_tolerance=(
            spec.get("gcsFaultToleranceOptions") is not None
            or annotation_true(annotations, FT_ENABLED_ANNOTATION)
        ),
        suspended=(spec if kind.name == "RayCluster" else top).get("suspend") is True,
        owner=owner(meta),
        managers=managers(meta),
        notes=tuple(notes),
    )


def _mapping(value: Any, path: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RolloutError(f"{source}: {path} is missing or not a mapping; {FIX_FROM}")
    return value


def _template_view(
    group: Mapping[str, Any],
    path: str,
    source: str,
    *,
    name: str,
    index: int | None,
    spec_pointer: str,
) -> GroupView:
    template = _mapping(group.get("template"), f"{path}.template", source)
    pod = _mapping(template.get("spec"), f"{path}.template.spec", source)
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        raise RolloutError(
            f"{source}: {path}.template.spec.containers is missing or empty;"
            " KubeRay needs the Ray container there"
        )
    where = f"{path}.template.spec.containers[0]"
    ray = _mapping(containers[RAY_CONTAINER], where, source)
    container, image = ray.get("name"), ray.get("image")
    if not isinstance(container, str) or not container:
        raise RolloutError(f"{source}: {where}.name is missing")
    if not isinstance(image, str) or not image:
        raise RolloutError(f"{source}: {where}.image is missing; the Ray container needs an image")
    parse_image(image, f"{source}: {where}.image")
    same_image = [
        f"{field}[{i}] {c.get('name')!r}"
        for field in ("containers", "initContainers")
        for i, c in enumerate(pod.get(field) or [])
        if isinstance(c, Mapping)
        and c.get("image") == image
        and not (field == "containers" and i == RAY_CONTAINER)
    ]
    replicas = group.get("replicas")
    policy = ray.get("imagePullPolicy")
    return GroupView(
        name=name,
        index=index,
        container=container,
        image=image,
        replicas=replicas if isinstance(replicas, int) else None,
        num_of_hosts=num_of_hosts(group),
        suspended=group.get("suspend") is True,
        same_image=tuple(same_image),
        pull_policy=policy if isinstance(policy, str) else None,
        spec_pointer=spec_pointer,
    )


def parse_image(image: str, what: str) -> ImageRef:
    """:meth:`ImageRef.parse` with RolloutError; placeholders get their own message."""
    try:
        return ImageRef.parse(image, what=what)
    except PipelineError as exc:
        raise RolloutError(str(exc)) from None


def assumed_view(
    name: str,
    namespace: str,
    groups: Sequence[str],
    *,
    current_image: str,
    kind: str = "RayCluster",
) -> ClusterView:
    """A view built from options alone, for when the live object is not at hand (CI).

    ``groups`` are the worker groups to move, by name; their positions are unknown.
    The static patch assumes they lead ``workerGroupSpecs`` in that order (each is guarded
    by a ``test`` of its groupName, so a wrong guess fails); it does not test the image,
    which may be spelled many ways (``current_image`` feeds the rollback only); the
    generated rollout.sh does not assume: it reads the live object at apply time and
    builds its patch and guards from what it finds (see ``templates/rollout.sh.j2``).
    """
    if not name or not namespace:
        raise RolloutError("without --from, both --name and --namespace are required")
    for value, flag in ((name, "--name"), (namespace, "--namespace")):
        if _placeholder(value):
            raise RolloutError(f"{flag} {value!r} is a placeholder; pass the real value")
    check_cluster_name(name, "--name")
    check_namespace(namespace, "--namespace")
    for group in groups:
        check_group_name(group, "--groups")
    if len(set(groups)) != len(groups):
        raise RolloutError(f"--groups {','.join(groups)!r} names a group twice")
    parse_image(current_image, "--current-image")
    k = KINDS[kind]
    return ClusterView(
        name=name,
        namespace=namespace,
        source="--name/--namespace/--groups",
        head=GroupView(HEAD_GROUP, None, None, current_image, spec_pointer=k.spec_pointer),
        groups=tuple(
            GroupView(g, i, None, current_image, spec_pointer=k.spec_pointer)
            for i, g in enumerate(groups)
        ),
        ray_version=None,
        live=False,
        kind=k,
        notes=(
            "made without the live object: rollout.sh reads the cluster when it runs and"
            " builds its patch from it and checks the image it replaces; patch.json printed"
            f" here assumes the groups ({', '.join(groups) or 'none'}) lead workerGroupSpecs"
            " and does not test the current image",
        ),
    )
