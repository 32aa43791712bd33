"""Make a podman-built image's config reproducible: drop the builder container's id.

Podman 4.3 (buildah 1.28) writes Docker-format configs with ``container`` set to the
random id of the build's working container (buildah ``image.go``
``createConfigsAndManifests``: ``dimage.Container = i.containerID``). With
``timestamp`` set, that field is the only difference between two builds of one commit
(layers, history, ``created`` agree: README "Reproducible builds"). The OCI format has
no such field but also no ``Shell``, which the base contract keeps; so the image is
saved, its config rewritten without ``container`` (and ``container_config``, the same
data again), and loaded back: the id is then sha256 of bytes that depend on the inputs only.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Iterable
from typing import IO, Any

from .seam import ChunkReader

VOLATILE = ("container", "container_config")


def normalised_config(raw: bytes) -> bytes:
    """The config without the volatile keys, as canonical JSON bytes. Pure."""
    config: dict[str, Any] = json.loads(raw)
    for key in VOLATILE:
        config.pop(key, None)
    return json.dumps(config, sort_keys=True, separators=(",", ":")).encode("utf-8")


def rewrite_archive(chunks: Iterable[bytes], out: IO[bytes], tag: str) -> str:
    """Copy a `docker save` archive from ``chunks`` into ``out`` with a normalised config.

    ``tag``: the one RepoTag the loaded image gets. Returns the new image id
    (``sha256:<hex>`` of the config bytes). Raises ValueError on an archive without
    exactly one image.
    """
    source = ChunkReader(chunks)
    manifest: list[dict[str, Any]] | None = None
    configs: dict[str, bytes] = {}
    with (
        tarfile.open(fileobj=source, mode="r|") as reader,
        tarfile.open(fileobj=out, mode="w|") as writer,
    ):
        for member in reader:
            data = reader.extractfile(member) if member.isfile() else None
            if member.name == "manifest.json" and data is not None:
                manifest = json.loads(data.read())
                continue
            if data is not None and member.name.endswith(".json") and "/" not in member.name:
                configs[member.name] = data.read()  # the config (repositories has no suffix)
                continue
            if member.name == "repositories":
                continue
            writer.addfile(member, data)
        if not manifest or len(manifest) != 1 or manifest[0]["Config"] not in configs:
            raise ValueError("the saved archive does not hold exactly one image")
        config = normalised_config(configs[manifest[0]["Config"]])
        digest = hashlib.sha256(config).hexdigest()
        entry = dict(manifest[0], Config=f"{digest}.json", RepoTags=[tag])
        _add(writer, f"{digest}.json", config)
        _add(writer, "manifest.json", json.dumps([entry]).encode("utf-8"))
    return f"sha256:{digest}"


def _add(writer: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), 0o644
    writer.addfile(info, io.BytesIO(data))
