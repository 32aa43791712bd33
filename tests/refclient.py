"""Registry reads and deletes by :class:`ImageRef`, for tests: each call goes through the
registry seam (``Destination.of(address).repository(ref.repository)``)."""

from __future__ import annotations

from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Credentials, Destination, RegistryAccess, Repository


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
