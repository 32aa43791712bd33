"""The values that say how to reach a registry: its address and TLS settings, and credentials.

Pure values (no I/O). :mod:`.destination` combines them into the release's one
:class:`.destination.Destination`; the engines read :class:`RegistryAccess` for their own upload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_LOOPBACK = re.compile(r"^(localhost|127\.\d+\.\d+\.\d+|\[::1\])(:\d+)?$")


@dataclass(frozen=True)
class Credentials:
    """A registry user and password; the password never appears in a repr or message."""

    username: str
    password: str

    def __repr__(self) -> str:  # keep the password out of tracebacks and logs
        return f"Credentials(username={self.username!r}, password=<hidden>)"

    def as_auth_config(self) -> dict[str, str]:
        """The engine's auth config (docker-py / podman ``X-Registry-Auth``)."""
        return {"username": self.username, "password": self.password}


@dataclass(frozen=True)
class RegistryAccess:
    """How to reach a registry: HOST[:PORT], a private CA file, plain HTTP allowed or not.

    Loopback without a CA is plain HTTP (as Docker assumes); ``insecure`` makes any
    address plain HTTP; everything else is HTTPS, verified by ``ca_file`` or the
    system's public CAs. This is the part the engines need for their own upload.
    """

    registry: str
    ca_file: Path | None = None
    insecure: bool = False

    @property
    def loopback(self) -> bool:
        return bool(_LOOPBACK.match(self.registry))

    @property
    def scheme(self) -> str:
        if self.insecure or (self.loopback and self.ca_file is None):
            return "http"
        return "https"

    @property
    def verify(self) -> str | bool:
        """What TLS verification uses: the CA file's path, or True (system CAs)."""
        return str(self.ca_file) if self.ca_file else True

    @property
    def api_host(self) -> str:
        """The host the API is asked on (Docker Hub's API lives on registry-1.docker.io)."""
        return api_host(self.registry)

    @property
    def base(self) -> str:
        """``SCHEME://HOST/v2`` (distribution spec: every API path is under ``/v2/``)."""
        return f"{self.scheme}://{self.api_host}/v2"


def api_host(registry: str) -> str:
    """The API host of a registry name: ``docker.io`` is served by registry-1.docker.io."""
    return "registry-1.docker.io" if registry == "docker.io" else registry
