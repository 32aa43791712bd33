"""Container engines behind one small interface.

Both engines are driven through docker-py: Docker Engine natively, podman through
``podman system service`` (its Docker-compatible API). What differs between them
lives in the two subclasses at the bottom and nowhere else:

- how the API socket is found or started,
- which pytest-testinfra backend reaches a container,
- how a push reports the digest the registry stored.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import docker
import docker.errors
import requests
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from .errors import EngineError
from .refs import ImageRef

ENGINE_NAMES = ("podman", "docker")
DEFAULT_ENGINE = "podman"
ENGINE_ENV = "RAY_IMAGE_ENGINE"
PODMAN_SOCKET_ENV = "RAY_IMAGE_PODMAN_SOCKET"
DEFAULT_PODMAN_SOCKET = "/run/ray-worker-image/podman.sock"
DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock"

LineSink = Callable[[str], None]
_PUSH_DIGEST = re.compile(r"digest: (sha256:[0-9a-f]{64})")


def _ping(base_url: str) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=base_url, timeout=600)
        client.ping()
    except Exception:
        return None
    return client


@dataclass
class RunningContainer:
    """A container this process started; ``remove()`` is idempotent."""

    engine: Engine
    container: Any

    @property
    def name(self) -> str:
        return str(self.container.name)

    @property
    def testinfra_url(self) -> str:
        return f"{self.engine.testinfra_scheme}://{self.name}"

    def exec(self, argv: list[str], user: str | None = None) -> tuple[int, str]:
        result = self.container.exec_run(argv, user=user or "", demux=False)
        return int(result.exit_code), (result.output or b"").decode("utf-8", "replace")

    def logs(self) -> str:
        return bytes(self.container.logs()).decode("utf-8", "replace")

    def wait(self, timeout: float) -> int | None:
        """The exit code once the container stops, or None if it still runs after ``timeout`` s."""
        try:
            result = self.container.wait(timeout=timeout)
        except (requests.exceptions.ConnectionError, requests.exceptions.ReadTimeout):
            return None
        return int(result.get("StatusCode", -1))

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.container.remove(force=True)


class Engine(ABC):
    """What the pipeline needs from a container engine."""

    name: ClassVar[str]
    testinfra_scheme: ClassVar[str]

    def __init__(self, client: docker.DockerClient, base_url: str) -> None:
        self.client = client
        self.base_url = base_url

    # -- engine-specific ---------------------------------------------------------
    @classmethod
    @abstractmethod
    def connect(cls, start: bool = True) -> Engine:
        """Reach the engine's API, starting it if this engine can be started by us."""

    @classmethod
    @abstractmethod
    def how_to_start(cls) -> str:
        """One sentence for error messages."""

    @abstractmethod
    def _digest_from_push(self, events: list[dict[str, Any]]) -> str | None:
        """The manifest digest the engine says the registry stored, if it says."""

    # -- shared through the Docker API ------------------------------------------------
    def pull(self, ref: ImageRef) -> str:
        """Pull ``ref`` (by digest when it has one) and return the local image id."""
        try:
            self.client.api.pull(ref.name, tag=ref.digest or ref.tag or "latest")
            image = self.client.images.get(f"{ref.name}@{ref.digest}" if ref.digest else str(ref))
        except docker.errors.APIError as exc:
            raise EngineError(
                f"{self.name}: cannot pull {ref}: {exc.explanation or exc}; "
                "check the reference and that the registry is reachable"
            ) from None
        return str(image.id)

    def build(
        self,
        context_tar: bytes,
        tag: str,
        *,
        labels: Mapping[str, str],
        on_line: LineSink,
        no_cache: bool = False,
    ) -> str:
        """Build a tar context (Dockerfile at its root) and return the image id."""
        image_id: str | None = None
        error: str | None = None
        try:
            stream = self.client.api.build(
                fileobj=_BytesReader(context_tar),
                custom_context=True,
                tag=tag,
                labels=dict(labels),
                rm=True,
                forcerm=True,
                pull=False,
                nocache=no_cache,
                decode=True,
            )
            for event in stream:
                if "stream" in event:
                    for line in str(event["stream"]).splitlines():
                        if line.strip():
                            on_line(line)
                if "aux" in event and "ID" in event["aux"]:
                    image_id = str(event["aux"]["ID"])
                if "error" in event:
                    error = str(event["error"]).strip()
        except docker.errors.APIError as exc:
            error = str(exc.explanation or exc)
        if error or image_id is None:
            raise EngineError(f"{self.name}: build failed: {error or 'no image id reported'}")
        # Multi-stage builds report one aux ID per stage; the tag names the final one.
        return str(self.client.images.get(tag).id)

    def tag(self, image_id: str, ref: ImageRef) -> None:
        assert ref.tag, "tagging needs a tag"
        self.client.images.get(image_id).tag(ref.name, tag=ref.tag)

    def push(
        self, ref: ImageRef, *, auth: Mapping[str, str] | None, on_line: LineSink
    ) -> str | None:
        """Push ``ref``; return the digest the engine reports (None if it reports none)."""
        events: list[dict[str, Any]] = []
        try:
            stream = self.client.api.push(
                ref.name,
                tag=ref.tag,
                stream=True,
                decode=True,
                auth_config=dict(auth or {}) or None,
            )
            for event in stream:
                events.append(event)
                if "error" in event:
                    raise EngineError(
                        f"{self.name}: push of {ref} failed: {str(event['error']).strip()}"
                    )
                status = event.get("status")
                if status and not event.get("progressDetail"):
                    on_line(f"{event.get('id', '')} {status}".strip())
        except docker.errors.APIError as exc:
            raise EngineError(
                f"{self.name}: push of {ref} failed: {exc.explanation or exc}"
            ) from None
        return self._digest_from_push(events)

    # Podman answers a missing image with a plain 404 (NotFound), Docker with
    # ImageNotFound (a subclass); catching NotFound covers both.
    def image_exists(self, ref_or_id: str) -> bool:
        try:
            self.client.images.get(ref_or_id)
        except docker.errors.NotFound:
            return False
        return True

    def image_attrs(self, ref_or_id: str) -> dict[str, Any]:
        try:
            attrs: dict[str, Any] = self.client.images.get(ref_or_id).attrs
        except docker.errors.NotFound:
            raise EngineError(
                f"{self.name}: no image {ref_or_id!r}; run `invoke build` first"
            ) from None
        return attrs

    def image_history(self, ref_or_id: str) -> list[dict[str, Any]]:
        history: list[dict[str, Any]] = self.client.images.get(ref_or_id).history()
        return history

    def save(self, ref_or_id: str) -> Iterator[bytes]:
        """The image as a `docker save` tar stream (layers included)."""
        chunks: Iterator[bytes] = self.client.images.get(ref_or_id).save(named=False)
        return chunks

    def untag(self, ref: str) -> None:
        """Drop one name; the image stays while it has other names (unlike remove_image)."""
        with contextlib.suppress(docker.errors.NotFound):
            self.client.images.remove(ref, force=False, noprune=True)

    def remove_image(self, ref_or_id: str) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self.client.images.remove(ref_or_id, force=True, noprune=False)

    def run(
        self,
        image: str,
        command: list[str],
        *,
        name_prefix: str,
        network: str | None = None,
        environment: Mapping[str, str] | None = None,
        ports: Mapping[str, Any] | None = None,
        volumes: Mapping[str, Mapping[str, str]] | None = None,
        shm_size: str = "512m",
        hostname: str | None = None,
        user: str | None = None,
        extra_labels: Mapping[str, str] | None = None,
        aliases: Sequence[str] = (),
        mem_limit: int | None = None,
    ) -> RunningContainer:
        """Start a detached container with a unique name; the caller must ``remove()`` it.

        ``aliases``: extra DNS names on ``network`` (a Kubernetes Service name, say);
        ``mem_limit``: bytes, the cgroup memory limit (a pod's ``resources.limits.memory``).
        """
        name = f"{name_prefix}-{uuid.uuid4().hex[:8]}"
        labels = {"io.github.ray-worker-image.owner": name_prefix, **(extra_labels or {})}
        extra: dict[str, Any] = {}
        if aliases and network:
            extra["networking_config"] = {
                network: self.client.api.create_endpoint_config(aliases=list(aliases))
            }
        if mem_limit:
            extra["mem_limit"] = mem_limit
        try:
            container = self.client.containers.run(
                image,
                command,
                name=name,
                detach=True,
                network=network,
                environment=dict(environment or {}),
                ports=dict(ports or {}),
                volumes={k: dict(v) for k, v in (volumes or {}).items()},
                shm_size=shm_size,
                hostname=hostname,
                user=user,
                labels=labels,
                **extra,
            )
        except docker.errors.APIError as exc:
            raise EngineError(
                f"{self.name}: cannot start {image}: {exc.explanation or exc}"
            ) from None
        return RunningContainer(self, container)

    @contextlib.contextmanager
    def container(
        self, image: str, command: list[str], **kwargs: Any
    ) -> Iterator[RunningContainer]:
        running = self.run(image, command, **kwargs)
        try:
            yield running
        finally:
            running.remove()

    def create_network(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """A user-defined bridge network: its containers resolve each other by container name."""
        try:
            self.client.networks.create(name, driver="bridge", labels=dict(labels or {}))
        except docker.errors.APIError as exc:
            raise EngineError(
                f"{self.name}: cannot create network {name}: {exc.explanation or exc}"
            ) from None

    def remove_network(self, name: str) -> None:
        """Idempotent; the network's containers must be gone first."""
        with contextlib.suppress(docker.errors.NotFound):
            self.client.networks.get(name).remove()

    def remove_labelled(self, label: str) -> list[str]:
        """Remove every container, then every network, carrying ``label`` (``key=value``).

        Selecting by label rather than by the handles a caller kept also catches a
        container that was created but whose start failed, which ``run()`` never returns.
        """
        removed: list[str] = []
        for box in self.client.containers.list(all=True, filters={"label": label}):
            with contextlib.suppress(docker.errors.NotFound):
                box.remove(force=True)
                removed.append(str(box.name))
        for network in self.client.networks.list(filters={"label": label}):
            with contextlib.suppress(docker.errors.NotFound):
                network.remove()
                removed.append(str(network.name))
        return removed

    def close(self) -> None:
        self.client.close()


class _BytesReader:
    """docker-py wants a file object for a custom context; avoid writing one to disk."""

    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk = bytes(self._data[self._pos : end])
        self._pos += len(chunk)
        return chunk


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
            raise EngineError(f"docker: no Docker Engine answers at {url}; {cls.how_to_start()}")
        return cls(client, url)

    @classmethod
    def how_to_start(cls) -> str:
        return "start it with `dockerd &` (or `scripts/setup-host.sh`), or set DOCKER_HOST"

    def _digest_from_push(self, events: list[dict[str, Any]]) -> str | None:
        for event in events:
            digest = (event.get("aux") or {}).get("Digest")
            if digest:
                return str(digest)
        return None


class PodmanEngine(Engine):
    name = "podman"
    testinfra_scheme = "podman"

    @classmethod
    def socket_path(cls) -> Path:
        return Path(os.environ.get(PODMAN_SOCKET_ENV, DEFAULT_PODMAN_SOCKET))

    @classmethod
    def connect(cls, start: bool = True) -> Engine:
        url = f"unix://{cls.socket_path()}"
        client = _ping(url)
        if client is None and start and shutil.which("podman"):
            client = cls._start_service(url)
        if client is None:
            raise EngineError(f"podman: no podman API at {url}; {cls.how_to_start()}")
        return cls(client, url)

    @classmethod
    def _start_service(cls, url: str) -> docker.DockerClient | None:
        socket = cls.socket_path()
        socket.parent.mkdir(parents=True, exist_ok=True)
        log = open(socket.parent / "podman-service.log", "ab")  # noqa: SIM115 - owned by the daemon
        # --time=0: the service must outlive this process; later tasks reuse it.
        subprocess.Popen(
            ["podman", "system", "service", "--time=0", url],
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        retrying = Retrying(
            stop=stop_after_delay(20),
            wait=wait_fixed(0.2),
            retry=retry_if_result(lambda c: c is None),
            retry_error_callback=lambda state: None,
        )
        client: docker.DockerClient | None = retrying(_ping, url)
        return client

    @classmethod
    def how_to_start(cls) -> str:
        return (
            "install podman (`apt-get install podman runc`, see scripts/setup-host.sh) "
            f"or start `podman system service --time=0 unix://{cls.socket_path()}`"
        )

    def _digest_from_push(self, events: list[dict[str, Any]]) -> str | None:
        # Podman's compat API says it only in a status line: "<tag>: digest: sha256:... size: N".
        for event in events:
            match = _PUSH_DIGEST.search(str(event.get("status", "")))
            if match:
                return match.group(1)
        return None


ENGINES: dict[str, type[Engine]] = {"docker": DockerEngine, "podman": PodmanEngine}


def resolve_engine_name(cli: str | None, configured: str | None = None) -> str:
    """--engine beats $RAY_IMAGE_ENGINE beats invoke.yaml's ray_image.engine beats podman."""
    name = cli or os.environ.get(ENGINE_ENV) or configured or DEFAULT_ENGINE
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
    raise EngineError(
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
