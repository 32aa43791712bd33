"""Where a release goes: the registry address, its TLS settings and the credentials.

Resolved once from the options (``--registry``, ``--registry-ca``, ``--insecure-registry``,
``--username`` + ``$RAY_IMAGE_REGISTRY_PASSWORD``) into a frozen :class:`Destination` that
the release plan carries. Every registry request of the project goes through
``destination.repository(NAME)`` (one :class:`.repository.Repository` per repository,
all sharing the destination's one transport); the engine gets ``destination.access`` and
``destination.credentials`` for its own upload.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .access import Credentials, RegistryAccess
from .repository import Repository
from .transport import ATTEMPTS, MAX_RETRY_SECONDS, TIMEOUT, Transport


@dataclass(frozen=True)
class Destination:
    """A registry as one release talks to it: access (address, TLS) plus credentials.

    Frozen and hashable; equal destinations share one transport (one HTTP session, one
    token cache) within a process.
    """

    access: RegistryAccess
    credentials: Credentials | None = None
    timeout: float = TIMEOUT  # seconds, per request
    attempts: int = ATTEMPTS  # per call, the first included (1: no retry)

    @classmethod
    def of(
        cls,
        registry: str | RegistryAccess,
        credentials: Credentials | None = None,
        *,
        ca_file: Path | None = None,
        insecure: bool = False,
    ) -> Destination:
        """A destination from an address (``HOST[:PORT]``) or a resolved access."""
        access = (
            registry
            if isinstance(registry, RegistryAccess)
            else RegistryAccess(registry, ca_file, insecure)
        )
        return cls(access, credentials)

    @property
    def registry(self) -> str:
        return self.access.registry

    @property
    def transport(self) -> Transport:
        """The one HTTP transport of this destination (shared by equal destinations)."""
        return _transport(self)

    def repository(self, name: str) -> Repository:
        """The repository ``name`` (``swe-fleet/ray``) of this registry."""
        return Repository(self.transport, name)

    def engine_auth(self) -> dict[str, str] | None:
        """What the engine's push gets as auth config (None: anonymous)."""
        return self.credentials.as_auth_config() if self.credentials else None


@cache
def _transport(destination: Destination) -> Transport:
    return Transport(
        destination.access,
        destination.credentials,
        timeout=destination.timeout,
        attempts=destination.attempts,
        max_retry_seconds=MAX_RETRY_SECONDS if destination.attempts > 1 else destination.timeout,
    )
