"""Kubernetes resource quantities (``"500m"``, ``"4Gi"``, ``"1e3"``) as KubeRay reads them.

Mirrors ``k8s.io/apimachinery/pkg/api/resource`` (``quantity.go``: ``ParseQuantity``,
``Quantity.Value``, ``Quantity.IsZero``, ``Quantity.AsApproximateFloat64``), the calls KubeRay
makes on container resources in ``ray-operator/controllers/ray/common/pod.go``
(``generateRayStartCommand``, ``addWellKnownAcceleratorResources``,
``updateRayStartParamsResources``). Pure: no I/O. No small, well-kept PyPI package parses
quantities without pulling in the whole Kubernetes client, hence this tight function.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

_SUFFIX: dict[str, Fraction] = {
    "Ki": Fraction(2**10),
    "Mi": Fraction(2**20),
    "Gi": Fraction(2**30),
    "Ti": Fraction(2**40),
    "Pi": Fraction(2**50),
    "Ei": Fraction(2**60),
    "n": Fraction(1, 10**9),
    "u": Fraction(1, 10**6),
    "m": Fraction(1, 10**3),
    "": Fraction(1),
    "k": Fraction(10**3),
    "M": Fraction(10**6),
    "G": Fraction(10**9),
    "T": Fraction(10**12),
    "P": Fraction(10**15),
    "E": Fraction(10**18),
}
# <signedNumber> then one of: a decimal exponent (e3, E-2), a binary or decimal SI suffix, nothing.
_QUANTITY = re.compile(
    r"(?P<num>[+-]?(?:\d+(?:\.\d*)?|\.\d+))"
    r"(?:[eE](?P<exp>[+-]?\d+)|(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE])?)"
)


def parse_quantity(raw: str | int | float) -> Fraction:
    """The exact value of a quantity, in base units (cores for cpu, bytes for memory).

    ``raw`` is what YAML gives: a string (``"500m"``), or an int/float for an unquoted number.
    Raises ValueError (message: the offending text) for anything Kubernetes would refuse.
    """
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise ValueError(f"{raw!r} is not a quantity")
    text = raw if isinstance(raw, str) else repr(raw)
    match = _QUANTITY.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a quantity (examples: 2, 500m, 4Gi, 2G)")
    number = Fraction(Decimal(match["num"]))
    if match["exp"] is not None:
        return number * Fraction(10) ** int(match["exp"])
    return number * _SUFFIX[match["suffix"] or ""]


def quantity_value(quantity: Fraction) -> int:
    """``Quantity.Value()``: the integer value rounded up, away from zero (``500m`` -> 1)."""
    magnitude = math.ceil(abs(quantity))
    return magnitude if quantity >= 0 else -magnitude


def go_json_float(value: float) -> str:
    """A float64 as Go's ``encoding/json`` writes it: ``4`` not ``4.0``, ``0.00005`` not ``5e-05``.

    Used where KubeRay ``json.Marshal``-s a ``map[string]float64`` into ``--resources``.
    """
    if value == 0:
        return "0"
    if 1e-6 <= abs(value) < 1e21:
        text = format(Decimal(repr(value)), "f")
        return text.rstrip("0").rstrip(".") if "." in text else text
    return repr(value)  # Go's 'e' form: 1e+21, 1e-07
