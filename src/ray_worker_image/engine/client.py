"""The handle every engine class shares: the docker-py client, its URL and the error seam."""

from __future__ import annotations

import contextlib
from typing import Any, ClassVar

import docker

from .seam import seam


class EngineClient:
    """A docker-py client for one engine; no docker-py object leaves its subclasses.

    ``name`` is ``docker`` or ``podman``; ``testinfra_scheme`` the testinfra backend that
    reaches this engine's containers (``docker``/``podman``).
    """

    name: ClassVar[str]
    testinfra_scheme: ClassVar[str]

    def __init__(self, client: docker.DockerClient, base_url: str) -> None:
        self._client = client
        self.base_url = base_url

    def _seam(self, what: str, hint: str = "check the engine and retry") -> Any:
        return seam(self.name, what, hint)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()
