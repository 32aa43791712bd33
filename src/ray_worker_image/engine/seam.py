"""The engine seam's shared parts: names, timeouts, and turning foreign exceptions into one line.

Every docker-py, requests or OS exception raised inside :func:`seam` leaves as an
EngineError; push streams are read by :func:`push_failure`.
"""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests

from ..errors import EngineError
from ..registry import RegistryAccess

ENGINE_NAMES = ("podman", "docker")
DEFAULT_ENGINE = "podman"
ENGINE_ENV = "RAY_IMAGE_ENGINE"
PODMAN_SOCKET_ENV = "RAY_IMAGE_PODMAN_SOCKET"
DEFAULT_PODMAN_SOCKET = "/run/ray-worker-image/podman.sock"
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"

LineSink = Callable[[str], None]
_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")
API_TIMEOUT = 600  # seconds without a byte from the engine's API before a call fails
EXEC_TIMEOUT = 900  # seconds a command in a container may run (coreutils `timeout`)
_TRANSIENT_PUSH = re.compile(
    r"connection reset|connection refused|broken pipe|\bEOF\b|i/o timeout|TLS handshake timeout"
    r"|too many requests|\b(429|500|502|503|504)\b|service unavailable|bad gateway",
    re.IGNORECASE,
)
_TOO_LARGE = re.compile(r"\b413\b|request entity too large", re.IGNORECASE)


def push_failure(events: list[dict[str, Any]]) -> str | None:
    """The first failure in a push stream, or None.

    Docker's API reports a failed push as ``errorDetail: {message}``; the top-level
    ``error`` string is deprecated (docker/docker-py#3161) and may be absent, so
    both count. Source: moby api/swagger.yaml ``PushImageInfo``/``ErrorDetail``.
    """
    for event in events:
        detail = event.get("errorDetail")
        if detail:
            message = detail.get("message") if isinstance(detail, dict) else detail
            return str(message or detail).strip()
        if event.get("error"):
            return str(event["error"]).strip()
    return None


def explain_push_failure(engine: str, ref: str, message: str) -> EngineError:
    """One line for a failed push, naming what to do; ``transient`` when a retry may help."""
    if _TOO_LARGE.search(message):
        error = EngineError(
            f"{engine}: push of {ref} refused with HTTP 413 (request entity too large) by a "
            "proxy in front of the registry; raise its body limit (nginx: "
            "`client_max_body_size 0;` in the registry's server block)"
        )
    else:
        error = EngineError(
            f"{engine}: push of {ref} failed: {message}; check the registry, the network and "
            "the credentials, then rerun `invoke push`"
        )
    error.transient = bool(_TRANSIENT_PUSH.search(message))
    return error


def _explain(exc: BaseException) -> str:
    if isinstance(exc, docker.errors.APIError):
        return str(exc.explanation or exc)
    return f"{type(exc).__name__}: {exc}"


@contextlib.contextmanager
def seam(engine: str, what: str, hint: str) -> Iterator[None]:
    """Turn any docker-py, requests or OS exception into a one-line EngineError."""
    try:
        yield
    except EngineError:
        raise
    except docker.errors.NotFound as exc:
        raise EngineError(f"{engine}: {what}: not found ({_explain(exc)}); {hint}") from None
    except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
        raise EngineError(f"{engine}: {what}: {_explain(exc)}; {hint}") from None


PROBE_API_VERSION = "1.24"  # only builds the probe client; its one request is unversioned


def api_version(headers: Mapping[str, str]) -> str:
    """The API version an engine's ``/_ping`` answer names (``Api-Version``), or ``auto``.

    Docker Engine and podman's compat service both send it on ``GET /_ping`` (moby
    api/swagger.yaml ``SystemPing``; podman pkg/api/handlers/compat/ping.go), the value
    docker-py's ``version="auto"`` would read from ``GET /version``; podman answers that one
    only after running conmon, runc and the package manager (about 0.5 s). ``auto`` when the
    header is missing: docker-py then asks ``/version`` as before. Pure.
    """
    found = {key.lower(): value for key, value in headers.items()}.get("api-version", "")
    return found.strip() or "auto"


def _ping(base_url: str) -> docker.DockerClient | None:
    """A client for the engine at ``base_url`` at the API version its ``/_ping`` names,
    or None when nothing answers there."""
    try:
        with docker.APIClient(
            base_url=base_url, version=PROBE_API_VERSION, timeout=API_TIMEOUT
        ) as probe:
            response = probe.get(f"{probe.base_url}/_ping")
            response.raise_for_status()
        version = api_version(response.headers)
        client = docker.DockerClient(base_url=base_url, version=version, timeout=API_TIMEOUT)
    except Exception:
        return None
    return client


def _require_ca(engine: str, access: RegistryAccess, certs_d: Path) -> None:
    """The engine's daemon verifies the registry with the CA files in certs.d/<host:port>/."""
    assert access.ca_file is not None
    wanted = access.ca_file.read_bytes().strip()
    folder = certs_d / access.registry
    found = [p for p in sorted(folder.glob("*.crt")) if p.read_bytes().strip() == wanted]
    if not found:
        raise EngineError(
            f"{engine}: the daemon verifies {access.registry} itself and does not trust "
            f"{access.ca_file}; as root run `install -D -m 0644 {access.ca_file} "
            f"{folder}/ca.crt` (no restart needed) and retry"
        )


class ChunkReader(io.RawIOBase):
    """A readable file over an iterator of byte chunks (a streamed `docker save`, for tarfile)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
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
