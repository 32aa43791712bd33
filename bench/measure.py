"""Sizes: what an image adds over its base, the floor, and the layers a release uploads.

- *added bytes*: the engine's image size minus the base's (``podman image inspect``
  ``.Size``: uncompressed bytes of all layers).
- *floor*: the bytes of the files the new distributions install: every file each
  distribution's ``RECORD`` lists, sized on disk (pip lists the ``.pyc`` it compiles without a
  size, so RECORD's own sizes would leave them out), by a probe run in a
  container of the image and of the base with the image's own Python; a distribution counts
  as new when its name and version are not in the base.
- *new layers*: layers (compressed blobs) of a manifest that an earlier manifest lacks.
Pure functions take parsed data; the ones that run containers say so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .runner import run

# Python >= 3.8 in the image; prints {name: {"version": v, "bytes": n}}.
DISTS_PROBE = """
import importlib.metadata as m, json, os
out = {}
for d in m.distributions():
    paths = {str(d.locate_file(f)) for f in (d.files or [])}
    size = sum(os.path.getsize(p) for p in paths if os.path.isfile(p))
    out[d.metadata["Name"].lower().replace("_", "-")] = {"version": d.version, "bytes": size}
print(json.dumps(out))
"""


def image_size(cli: str, ref: str) -> int:
    """Uncompressed size the engine reports for ``ref`` (call under the engine lock)."""
    out = run([cli, "image", "inspect", "--format", "{{.Size}}", ref]).stdout
    return int(out.strip())


def distributions(cli: str, image: str, python: str) -> dict[str, dict[str, Any]]:
    """Installed distributions of ``image`` and their RECORD bytes (runs a container; lock)."""
    out = run(
        [cli, "run", "--rm", "--network", "none", "--entrypoint", python, image, "-c", DISTS_PROBE]
    ).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def new_distributions(
    base: Mapping[str, Mapping[str, Any]], image: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """Distributions of ``image`` whose name and version the base does not have."""
    return {
        name: dict(info)
        for name, info in sorted(image.items())
        if base.get(name, {}).get("version") != info["version"]
    }


def floor_bytes(new: Mapping[str, Mapping[str, Any]]) -> int:
    """Bytes of the files the new distributions install (their RECORD sizes)."""
    return sum(int(info["bytes"]) for info in new.values())


def new_layers(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Layers (``{"digest", "size"}``) of manifest ``after`` that manifest ``before`` lacks."""
    known = {layer["digest"] for layer in (before or {}).get("layers", [])}
    return [
        {"digest": layer["digest"], "size": int(layer["size"])}
        for layer in after.get("layers", [])
        if layer["digest"] not in known
    ]


def ratio(numerator: float | None, denominator: float | None, digits: int = 2) -> float | None:
    """``numerator / denominator`` rounded, or None when either is missing or zero."""
    if numerator is None or not denominator:
        return None
    return round(numerator / denominator, digits)
