"""The ``ray start`` flags KubeRay v1.7.0 generates for one Ray container. Pure, no I/O.

Source read: ray-project/kuberay ``ray-operator/controllers/ray/common/pod.go``, the newest
stored revision that carries PR #4860 (ulimit from ``RAY_START_ULIMIT_OPEN_FILES``, merged
2026-05-23, before the v1.7.0 tag of 2026-08-19) and the v1.7.0 CRD's fields (TLS, history
server); the tag's own commit 59d663ae was not in the index. Each function names the Go
function it mirrors. Flags are returned as the ``map[string]string`` KubeRay builds, then
rendered by :func:`render_flags` exactly as ``convertParamMap`` does.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from ..kube_quantity import go_json_float, parse_quantity, quantity_value

DEFAULT_GCS_PORT = "6379"  # utils/constant.go DefaultGcsServerPort
DEFAULT_METRICS_PORT = "8080"  # utils/constant.go DefaultMetricsPort
DEFAULT_DASHBOARD_AGENT_LISTEN_PORT = "52365"  # utils/constant.go
# pod.go customAcceleratorToRayResourceMap: container resource -> Ray custom resource.
CUSTOM_ACCELERATORS = {"aws.amazon.com/neuroncore": "neuron_cores", "google.com/tpu": "TPU"}
# pod.go convertParamMap specialParameterOptions: "true"/"false" stay as --key=value.
EXPLICIT_BOOLEAN_OPTIONS = ("log-color", "include-dashboard", "include-log-monitor")
_MIG = re.compile(r"nvidia\.com/mig-\d+g\.\d+gb$")


def head_port(head_params: Mapping[str, str]) -> str:
    """pod.go ``GetHeadPort``: the head's ``port`` param, else 6379 (the GCS port)."""
    return head_params.get("port", DEFAULT_GCS_PORT)


def is_gpu_resource(key: str) -> bool:
    """utils/resources.go ``IsGPUResourceKey``: ends in ``gpu``, or an NVIDIA MIG slice."""
    return key.endswith("gpu") or _MIG.search(key) is not None


def apply_group_resources(params: dict[str, str], resources: Mapping[str, str]) -> None:
    """pod.go ``updateRayStartParamsResources``: the group's top-level ``resources`` field.

    cpu/memory/GPU keys override num-cpus/memory/num-gpus (integer ``Value()``); the rest
    replace ``resources`` as single-quoted JSON. Unparsable quantities are skipped, as there.
    """
    custom: dict[str, float] = {}
    for name, raw in resources.items():
        try:
            quantity = parse_quantity(raw)
        except ValueError:
            continue
        lowered = name.lower()
        if lowered == "cpu":
            params["num-cpus"] = str(quantity_value(quantity))
        elif lowered == "memory":
            params["memory"] = str(quantity_value(quantity))
        elif is_gpu_resource(lowered):
            params["num-gpus"] = str(quantity_value(quantity))
        else:
            custom[name] = float(quantity)
    if custom:
        params["resources"] = f"'{_go_json_map(custom)}'"


def apply_group_labels(params: dict[str, str], labels: Mapping[str, str]) -> None:
    """pod.go ``updateRayStartParamsLabels``: ``labels`` = sorted ``k=v`` joined by commas."""
    if labels:
        params["labels"] = ",".join(f"{k}={labels[k]}" for k in sorted(labels))


def set_missing(params: dict[str, str], *, head: bool, worker_address: str = "") -> None:
    """pod.go ``setMissingRayStartParams``: the defaults KubeRay adds to every Ray node.

    Workers: ``address`` (``<head FQDN>:<head port>``) unless given. Head: ``dashboard-host``
    0.0.0.0 unless given. Both: ``metrics-export-port`` 8080 and ``dashboard-agent-listen-port``
    52365 unless given, and ``block`` forced to ``true`` (PR #675).
    """
    if not head:
        params.setdefault("address", worker_address)
    else:
        params.setdefault("dashboard-host", "0.0.0.0")  # noqa: S104 - KubeRay's default
    params.setdefault("metrics-export-port", DEFAULT_METRICS_PORT)
    params["block"] = "true"
    params.setdefault("dashboard-agent-listen-port", DEFAULT_DASHBOARD_AGENT_LISTEN_PORT)


def apply_container_resources(
    params: dict[str, str], limits: Mapping[str, str], requests: Mapping[str, str]
) -> None:
    """pod.go ``generateRayStartCommand`` (+ ``addWellKnownAcceleratorResources``).

    Only where ``params`` lacks them: ``num-cpus`` = cpu limit rounded up (``500m`` -> 1), else
    the cpu request; ``memory`` = memory limit in bytes (no request fallback); ``num-gpus`` =
    the first GPU limit (sorted keys) that is not zero; a Neuron/TPU limit becomes a Ray custom
    resource in single-quoted JSON ``resources``. ``limits``/``requests`` hold parsed-clean
    quantities (the caller validated them). If a user ``resources`` param is not a JSON object
    of numbers, KubeRay logs an error and adds no accelerator at all; so does this.
    """
    if "num-cpus" not in params:
        for source in (limits, requests):
            cpu = parse_quantity(source.get("cpu", "0"))
            if cpu != 0:
                params["num-cpus"] = str(quantity_value(cpu))
                break
    memory = parse_quantity(limits.get("memory", "0"))
    if "memory" not in params and memory != 0:
        params["memory"] = str(quantity_value(memory))
    if limits:
        _add_accelerators(params, limits)


def _add_accelerators(params: dict[str, str], limits: Mapping[str, str]) -> None:
    try:
        custom = _resources_map(params)
    except ValueError:
        return
    added = any(name in custom for name in CUSTOM_ACCELERATORS.values())
    for key in sorted(limits):
        value = parse_quantity(limits[key])
        if "num-gpus" not in params and is_gpu_resource(key) and value != 0:
            params["num-gpus"] = str(quantity_value(value))
        ray_name = CUSTOM_ACCELERATORS.get(key)
        if not added and ray_name is not None and value != 0:
            if ray_name not in custom:
                custom[ray_name] = float(value)
                params["resources"] = f"'{_go_json_map(custom)}'"
            added = True


def _resources_map(params: Mapping[str, str]) -> dict[str, float]:
    """pod.go ``getResourcesMap``: trim quotes/backticks/spaces, then a JSON map of numbers."""
    if "resources" not in params:
        return {}
    loaded = json.loads(params["resources"].strip("'\"` "))
    if not isinstance(loaded, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) for v in loaded.values()
    ):
        raise ValueError("resources is not a JSON object of numbers")
    return {str(k): float(v) for k, v in loaded.items()}


def _go_json_map(values: Mapping[str, float]) -> str:
    """``json.Marshal(map[string]float64)``: sorted keys, no spaces, Go number format."""
    return (
        "{" + ",".join(f"{json.dumps(k)}:{go_json_float(values[k])}" for k in sorted(values)) + "}"
    )


def render_flags(params: Mapping[str, str]) -> str:
    """pod.go ``convertParamMap``: sorted keys, each as `` --key=value `` (note both spaces).

    A value of true/false (any case) is a switch: `` --key `` when true, nothing when false,
    except the options in ``EXPLICIT_BOOLEAN_OPTIONS``. Values are written verbatim: KubeRay
    adds no quoting, so a JSON ``resources`` param must carry its own quotes.
    """
    out = []
    for key in sorted(params):
        value = params[key]
        if value.lower() in ("true", "false") and key not in EXPLICIT_BOOLEAN_OPTIONS:
            if value.lower() == "true":
                out.append(f" --{key} ")
        else:
            out.append(f" --{key}={value} ")
    return "".join(out)
