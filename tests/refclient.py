"""Registry reads and deletes by :class:`ImageRef`, for tests: each call goes through the
registry seam (``Destination.of(address).repository(ref.repository)``)."""

from __future__ import annotations

import json

from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import (
    Credentials,
    Destination,
    RegistryAccess,
    Repository,
    content,
)
from ray_worker_image.supply import oci


def push_config_image(store: Repository, tag: str, arch: str = "amd64") -> str:
    """A minimal image (a config, no layers) pushed through the seam under ``tag``: its
    manifest digest. A subject for referrers without building anything."""
    config = json.dumps(
        {"architecture": arch, "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    store.push_blob(config, oci.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": content.OCI_MANIFEST,
        "config": content.descriptor(oci.OCI_CONFIG, config),
        "layers": [],
    }
    return store.push_manifest(manifest, tag)


class RefClient:
    """``RefClient("127.0.0.1:5000").manifest_digest(ref)``: the repository is the ref's."""

    def __init__(
        self, registry: str | RegistryAccess, credentials: Credentials | None = None
    ) -> None:
        self.destination = Destination.of(registry, credentials)
        self.registry = self.destination.registry
        self.access = self.destination.access

    def repository(self, name: str) -> Repository:
        return self.destination.repository(name)

    def ping(self) -> bool:
        return self.repository("ping").ping()

    def check(self) -> None:
        self.repository("ping").check()

    def manifest_digest(self, ref: ImageRef) -> str | None:
        return self.repository(ref.repository).manifest_digest(ref)

    def labels(self, ref: ImageRef) -> dict[str, str]:
        return self.repository(ref.repository).labels(ref)

    def tags(self, repository: str) -> list[str]:
        return self.repository(repository).tags()

    def delete(self, ref: ImageRef) -> None:
        self.repository(ref.repository).delete(ref)
