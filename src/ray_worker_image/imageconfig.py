"""An image's config object as stored in the engine, ``Shell`` included (read from `save`)."""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Iterator
from typing import Any

from .engine import Engine
from .errors import EngineError


def image_config(engine: Engine, image: str) -> dict[str, Any]:
    """The ``config`` object of the image's config blob, as stored (``Shell`` included).

    podman's inspect (CLI and API) drops ``Shell``, so read the blob itself from the image's
    ``docker save`` stream (``manifest.json`` -> ``Config``), stopping as soon as it is found.
    """
    blobs: dict[str, bytes] = {}
    wanted: str | None = None
    stream = _ChunkReader(engine.save(image))
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


class _ChunkReader(io.RawIOBase):
    """A file object over an iterator of byte chunks (for tarfile's stream mode)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buffer = b""

    def readable(self) -> bool:
        return True

    def readinto(self, target: Any) -> int:
        while not self._buffer:
            try:
                self._buffer = next(self._chunks)
            except StopIteration:
                return 0
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
