"""Formatting and lookup helpers shared by the report and its tables (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def get(results: Mapping[str, Any], *path: str) -> Any:
    """``results[path[0]][path[1]]...``, or None where a key is missing."""
    node: Any = results
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def num(value: Any, unit: str = "") -> str:
    """A figure with its unit; an em dash for a missing one."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return f"{value}{unit}"


def nbytes(value: Any) -> str:
    """Bytes in B, kB or MB (decimal)."""
    if value is None:
        return "—"
    value = int(value)
    if abs(value) >= 10**6:
        return f"{value / 1e6:.2f} MB"
    if abs(value) >= 10**3:
        return f"{value / 1e3:.1f} kB"
    return f"{value} B"
