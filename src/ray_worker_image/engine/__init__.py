"""Container engines behind one small interface (a package: seam, container, base, docker, podman).

Both engines are driven through docker-py: Docker Engine natively, podman through
``podman system service`` (its Docker-compatible API). What differs between them
lives in the two subclasses at the bottom and nowhere else:

- how the API socket is found or started,
- which pytest-testinfra backend reaches a container,
- how a push reports the digest the registry stored.
"""

from __future__ import annotations

import os
import shutil

from ..errors import EngineError, EngineUnavailable
from .base import Engine
from .container import RunningContainer
from .docker import DockerEngine
from .podman import PodmanEngine
from .seam import (
    API_TIMEOUT,
    DEFAULT_DOCKER_SOCKET,
    DEFAULT_ENGINE,
    DEFAULT_PODMAN_SOCKET,
    ENGINE_ENV,
    ENGINE_NAMES,
    EXEC_TIMEOUT,
    PODMAN_SOCKET_ENV,
    ChunkReader,
    LineSink,
    explain_push_failure,
    push_failure,
    seam,
)

__all__ = [
    "API_TIMEOUT",
    "DEFAULT_DOCKER_SOCKET",
    "DEFAULT_ENGINE",
    "DEFAULT_PODMAN_SOCKET",
    "ENGINES",
    "ENGINE_ENV",
    "ENGINE_NAMES",
    "EXEC_TIMEOUT",
    "PODMAN_SOCKET_ENV",
    "ChunkReader",
    "DockerEngine",
    "Engine",
    "EngineError",
    "LineSink",
    "PodmanEngine",
    "RunningContainer",
    "available_engines",
    "connect",
    "explain_push_failure",
    "push_failure",
    "resolve_engine_name",
    "seam",
]


ENGINES: dict[str, type[Engine]] = {"docker": DockerEngine, "podman": PodmanEngine}


def resolve_engine_name(given: str | None) -> str:
    """``given`` (the task resolved --engine, $RAY_IMAGE_ENGINE and invoke.yaml's
    ray_image.engine already: :mod:`..settings`), else $RAY_IMAGE_ENGINE, else podman."""
    name = given or os.environ.get(ENGINE_ENV) or DEFAULT_ENGINE
    if name not in (*ENGINE_NAMES, "auto"):
        raise EngineError(
            f"engine {name!r} is not known; use one of docker, podman, auto "
            f"(from --engine, ${ENGINE_ENV} or invoke.yaml ray_image.engine)"
        )
    return name


def connect(name: str) -> Engine:
    """Connect to the named engine, or with ``auto`` to the first that answers."""
    if name != "auto":
        return ENGINES[name].connect()
    tried: list[str] = []
    # A running engine wins over one we would have to start.
    for cls, can_start in ((DockerEngine, False), (PodmanEngine, False), (PodmanEngine, True)):
        if can_start and not shutil.which("podman"):
            tried.append("podman: not installed")
            continue
        try:
            return cls.connect(start=can_start)
        except EngineError as exc:
            tried.append(str(exc))
    raise EngineUnavailable(
        "no container engine found; tried: "
        + " | ".join(dict.fromkeys(tried))
        + f" | docker: {DockerEngine.how_to_start()}"
    )


def available_engines() -> dict[str, Engine | str]:
    """Every engine: a connected Engine, or the reason it is not available (for tests)."""
    found: dict[str, Engine | str] = {}
    for name, cls in ENGINES.items():
        try:
            found[name] = cls.connect()
        except EngineError as exc:
            found[name] = str(exc)
    return found
