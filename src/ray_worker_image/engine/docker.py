"""Docker Engine: dockerd's own socket; dockerd talks to registries with its own configuration."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

from ..errors import EngineError, EngineUnavailable
from ..registry import RegistryAccess
from .base import Engine
from .seam import DEFAULT_DOCKER_SOCKET, _ping, _require_ca


class DockerEngine(Engine):
    name = "docker"
    testinfra_scheme = "docker"

    @classmethod
    def _base_url(cls) -> str:
        return os.environ.get("DOCKER_HOST") or f"unix://{DEFAULT_DOCKER_SOCKET}"

    @classmethod
    def connect(cls, start: bool = True) -> Engine:
        # dockerd needs root, storage setup and cgroup access; starting it is the
        # host's job (scripts/setup-host.sh), not a build tool's.
        url = cls._base_url()
        client = _ping(url)
        if client is None:
            raise EngineUnavailable(
                f"docker: no Docker Engine answers at {url}; {cls.how_to_start()}"
            )
        return cls(client, url)

    @classmethod
    def how_to_start(cls) -> str:
        return "start it with `dockerd &` (or `scripts/setup-host.sh`), or set DOCKER_HOST"

    def check_registry_access(self, access: RegistryAccess) -> None:
        # dockerd, not this client, talks to the registry: its own configuration decides.
        # Source: moby registry/config.go (loopback is insecure by default) and
        # registry/registry.go (certs.d/<host:port>/*.crt read at each connection).
        host = access.registry
        if access.scheme == "http" and not self._insecure_for_daemon(host):
            raise EngineError(
                f"docker: dockerd does not allow plain HTTP to {host}; as root add "
                f'"insecure-registries": ["{host}"] to /etc/docker/daemon.json and reload '
                "dockerd (kill -HUP its pid), or use podman"
            )
        if access.ca_file and not access.loopback:
            _require_ca(self.name, access, Path("/etc/docker/certs.d"))

    def _insecure_for_daemon(self, host: str) -> bool:
        with self._seam("read dockerd's registry configuration"):
            config = self._client.info().get("RegistryConfig") or {}
        index = (config.get("IndexConfigs") or {}).get(host) or {}
        if index.get("Secure") is False:
            return True
        address = host.rsplit(":", 1)[0].strip("[]")
        if address == "localhost":
            address = "127.0.0.1"
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(
            ip in ipaddress.ip_network(cidr, strict=False)
            for cidr in config.get("InsecureRegistryCIDRs") or []
        )

    def _digest_from_push(self, events: list[dict[str, Any]]) -> str | None:
        for event in events:
            digest = (event.get("aux") or {}).get("Digest")
            if digest:
                return str(digest)
        return None
