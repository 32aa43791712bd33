"""The names a rollout script puts in kubectl arguments and label selectors, checked first.

A RayCluster's name, its namespace and its worker groups' ``groupName`` end up in
``-l ray.io/cluster=<name>,ray.io/group=<groupName>`` selectors and in the generated
shell; anything Kubernetes would refuse is refused here, in one line, before a script is
written (so no value can carry shell syntax into it either).

Sources: KubeRay ray-operator/controllers/ray/utils/validation.go
``ValidateRayClusterMetadata`` (name: a DNS-1035 label); pod.go labels pods with
``ray.io/group: <groupName>``, so a group name must be a label value; Kubernetes
apimachinery pkg/util/validation/validation.go (``IsDNS1035Label``, ``IsDNS1123Label``,
``IsValidLabelValue``: 63 characters at most).
"""

from __future__ import annotations

import re

from ..errors import RolloutError

MAX_LENGTH = 63
_DNS1035 = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?\Z")
_DNS1123 = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?\Z")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?\Z")


def _check(value: str, pattern: re.Pattern[str], what: str, rule: str) -> None:
    if len(value) > MAX_LENGTH or not value or not pattern.match(value):
        raise RolloutError(f"{what} {value!r} is not a valid {rule}; {_HOW[rule]}")


_HOW = {
    "DNS-1035 label": "use at most 63 lowercase letters, digits and '-', starting with a letter",
    "DNS-1123 label": "use at most 63 lowercase letters, digits and '-'",
    "label value": "use at most 63 letters, digits, '-', '_' and '.', starting and ending "
    "with a letter or digit (KubeRay labels each pod ray.io/group=<groupName>)",
}


def check_cluster_name(value: str, what: str) -> None:
    """Raise RolloutError unless ``value`` is a DNS-1035 label (KubeRay's rule for the name)."""
    _check(value, _DNS1035, what, "DNS-1035 label")


def check_namespace(value: str, what: str) -> None:
    """Raise RolloutError unless ``value`` is a DNS-1123 label (a Kubernetes namespace)."""
    _check(value, _DNS1123, what, "DNS-1123 label")


def check_group_name(value: str, what: str) -> None:
    """Raise RolloutError unless ``value`` is a Kubernetes label value (non-empty)."""
    _check(value, _LABEL_VALUE, what, "label value")
