"""Reading a RayCluster ``spec`` for :mod:`.pod`: the fields KubeRay uses, checked.

Pure, no I/O. Errors are :class:`KubeRayPodError` with one line naming the field path
(``spec.workerGroupSpecs[1].template.spec.containers[0].env[2]``) and the fix; the caller adds
the file name. Where the CRD types a field ``map[string]string`` (rayStartParams, resources,
labels), a non-string value is refused as the API server would refuse it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import PipelineError
from ..kube_quantity import parse_quantity

Env = tuple[tuple[str, str], ...]


class KubeRayPodError(PipelineError):
    """The RayCluster spec cannot be turned into node commands; the message names the field."""


def refuse_unmodelled(spec: Mapping[str, Any]) -> None:
    """Refuse what changes the pod in ways not modelled here (pod.go ``configureGCSFaultTolerance``,
    ``configureTokenAuth``, ``configureTLS``): any ``gcsFaultToleranceOptions``, TLS enabled,
    token auth. The ``ray.io/ft-enabled`` annotation is in metadata: the caller checks it.
    """
    if spec.get("gcsFaultToleranceOptions"):
        raise KubeRayPodError("spec.gcsFaultToleranceOptions: not modelled outside Kubernetes")
    tls = spec.get("tlsOptions")
    if isinstance(tls, Mapping) and tls.get("enabled") is True:
        raise KubeRayPodError("spec.tlsOptions.enabled: TLS is not modelled outside Kubernetes")
    auth = spec.get("authOptions")
    if isinstance(auth, Mapping) and auth.get("mode", "disabled") != "disabled":
        raise KubeRayPodError("spec.authOptions.mode: token auth is not modelled; remove it")


def worker_group(spec: Mapping[str, Any], name: str) -> tuple[Mapping[str, Any], str]:
    """The worker group named ``name`` and its path, found by ``groupName``, never by index."""
    groups = spec.get("workerGroupSpecs") or []
    if not isinstance(groups, Sequence) or isinstance(groups, str):
        raise KubeRayPodError("spec.workerGroupSpecs: must be a list of worker groups")
    for index, group in enumerate(groups):
        if isinstance(group, Mapping) and group.get("groupName") == name:
            return group, f"spec.workerGroupSpecs[{index}]"
    known = ", ".join(str(g.get("groupName")) for g in groups if isinstance(g, Mapping))
    raise KubeRayPodError(
        f"spec.workerGroupSpecs: no group named {name!r} (have: {known or 'none'})"
    )


def ray_container(group: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any], str]:
    """utils/constant.go ``RayContainerIndex = 0``: the Ray container is the first one."""
    template = mapping(group, "template", path)
    containers = mapping(template, "spec", f"{path}.template").get("containers")
    if (
        not isinstance(containers, Sequence)
        or not containers
        or not isinstance(containers[0], Mapping)
    ):
        raise KubeRayPodError(f"{path}.template.spec.containers: needs the Ray container first")
    return containers[0], f"{path}.template.spec.containers[0]"


def start_params(group: Mapping[str, Any], path: str) -> dict[str, str]:
    """A fresh copy of the group's ``rayStartParams`` (absent: empty, allowed since v1.4)."""
    return dict(str_map(group, "rayStartParams", path))


def mapping(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    """``parent[key]`` as a mapping; absent or null is empty."""
    value = parent.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise KubeRayPodError(f"{path}.{key}: must be a mapping")
    return value


def str_map(parent: Mapping[str, Any], key: str, path: str) -> Mapping[str, str]:
    """A CRD ``map[string]string`` (rayStartParams, resources, labels): values must be strings."""
    value = mapping(parent, key, path)
    for name, item in value.items():
        if not isinstance(item, str):
            raise KubeRayPodError(f'{path}.{key}.{name}: must be a string; quote it ("{item}")')
    return value


def strings(container: Mapping[str, Any], key: str, path: str) -> list[str]:
    """A container's ``command`` or ``args`` (absent: empty)."""
    value = container.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise KubeRayPodError(f"{path}.{key}: must be a list of strings")
    return value


def quantities(resources: Mapping[str, Any], key: str, path: str) -> dict[str, str]:
    """``resources.limits`` or ``.requests``, each checked to be a Kubernetes quantity."""
    out = {}
    for name, raw in mapping(resources, key, path).items():
        try:
            parse_quantity(raw)
        except ValueError as err:
            raise KubeRayPodError(f"{path}.{key}.{name}: {err}") from None
        out[str(name)] = raw if isinstance(raw, str) else repr(raw)
    return out


def user_env(container: Mapping[str, Any], path: str) -> Env:
    """The container's literal ``env`` as ordered (name, value) pairs."""
    if container.get("envFrom"):
        raise KubeRayPodError(f"{path}.envFrom: resolved only by Kubernetes; use literal env")
    entries = container.get("env") or []
    if not isinstance(entries, list):
        raise KubeRayPodError(f"{path}.env: must be a list of name/value entries")
    env = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("name"), str):
            raise KubeRayPodError(f"{path}.env[{index}]: needs a name")
        if "valueFrom" in entry:
            raise KubeRayPodError(
                f"{path}.env[{index}] ({entry['name']}): valueFrom is resolved only by "
                "Kubernetes; give it a literal value"
            )
        value = entry.get("value")
        env.append((entry["name"], "" if value is None else str(value)))
    return tuple(env)
