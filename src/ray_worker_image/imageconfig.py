"""An image's config object as stored in the engine, ``Shell`` included (read from `save`)."""

from __future__ import annotations

import io
import json
import tarfile
from typing import Any

from .engine import ChunkReader, Engine
from .errors import EngineError


def image_config(engine: Engine, image: str) -> dict[str, Any]:
    """The ``config`` object of the image's config blob, as stored (``Shell`` included).

    podman's inspect (CLI and API) drops ``Shell``, so read the blob itself from the image's
    ``docker save`` stream (``manifest.json`` -> ``Config``), stopping as soon as it is found.
    """
    blobs: dict[str, bytes] = {}
    wanted: str | None = None
    stream = ChunkReader(engine.save(image))
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if not member.isfile() or not member.name.endswith(".json") or member.size > 1 << 20:
                continue
            data = (tar.extractfile(member) or io.BytesIO()).read()
            if member.name == "manifest.json":
                wanted = str(json.loads(data)[0]["Config"])
            else:
                blobs[member.name] = data
            if wanted and wanted in blobs:
                break
    if not wanted or wanted not in blobs:
        raise EngineError(
            f"{engine.name}: {image}: no image config in the engine's export; rebuild or pull it"
        )
    config: dict[str, Any] = json.loads(blobs[wanted]).get("config") or {}
    return config
