"""A benchmark run in pieces: sections not measured now are kept from the last results.

The engines are shared, so ``invoke bench --sections a,b`` runs a few sections at a time;
the outputs still show every figure. A kept section is named in ``meta["kept"]`` with the
date and revision of the run that measured it (RESULTS.md prints them), so nothing passes
for fresher than it is. Pure functions.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

# Top-level keys of a results dict that hold a section's figures.
SECTION_KEYS = (
    "cold_build",
    "docker_cold",
    "added_bytes",
    "first_task_live",
    "first_task",
    "warm_noop",
    "lock_change",
)


def _origin(meta: Mapping[str, Any], key: str) -> str:
    kept = (meta.get("kept") or {}).get(key)
    if kept:
        return str(kept)
    return f"{meta.get('date', '?')}, revision {str(meta.get('revision', '?'))[:12]}"


def merge_previous(results: dict[str, Any], previous: Mapping[str, Any]) -> dict[str, Any]:
    """``results`` plus the sections (and reproducibility rows) only ``previous`` has.

    Returns a new dict; ``meta["kept"]`` maps each kept key to where it came from.
    """
    merged = copy.deepcopy(results)
    old_meta = previous.get("meta") or {}
    kept: dict[str, str] = {}
    for key in SECTION_KEYS:
        if key not in merged and key in previous:
            merged[key] = copy.deepcopy(previous[key])
            kept[key] = _origin(old_meta, key)
    old_repro = previous.get("reproducibility") or {}
    repro = merged.setdefault("reproducibility", {})
    for engine, rows in old_repro.items():
        if engine not in repro:
            repro[engine] = copy.deepcopy(rows)
            kept[f"reproducibility.{engine}"] = _origin(old_meta, f"reproducibility.{engine}")
    if not repro:
        del merged["reproducibility"]
    if kept:
        merged.setdefault("meta", {}).setdefault("kept", {}).update(kept)
    return merged
