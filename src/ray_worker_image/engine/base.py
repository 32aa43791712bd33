"""What the pipeline needs from a container engine: the shared docker-py implementation.

The two engines differ only in their subclasses (engine/docker.py, engine/podman.py).
"""

from __future__ import annotations

import contextlib
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, ClassVar

import docker
import docker.errors
import requests

from ..errors import EngineError
from ..refs import ImageRef
from ..registry import RegistryAccess
from .container import RunningContainer
from .seam import LineSink, _explain, explain_push_failure, push_failure, seam


class Engine(ABC):
    """What the pipeline needs from a container engine.

    Every method raises EngineError (one line, naming what to do) for any docker-py,
    requests or OS failure; no docker-py object leaves this class.
    """

    name: ClassVar[str]
    testinfra_scheme: ClassVar[str]

    def __init__(self, client: docker.DockerClient, base_url: str) -> None:
        self._client = client
        self.base_url = base_url

    def _seam(self, what: str, hint: str = "check the engine and retry") -> Any:
        return seam(self.name, what, hint)

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

    @abstractmethod
    def check_registry_access(self, access: RegistryAccess) -> None:
        """Raise EngineError (one line) when this engine is not set up to reach ``access``
        the way the user asked (CA file, plain HTTP). Changes nothing."""

    def _build_stream(
        self,
        context_tar: bytes,
        tag: str,
        *,
        labels: Mapping[str, str],
        no_cache: bool,
        args: Mapping[str, str],
        epoch: int | None,
    ) -> Iterator[dict[str, Any]]:
        """docker-py's build: Docker's classic builder has no timestamp option."""
        stream: Iterator[dict[str, Any]] = self._client.api.build(
            fileobj=_BytesReader(context_tar),
            custom_context=True,
            tag=tag,
            labels=dict(labels),
            buildargs=dict(args) or None,
            rm=True,
            forcerm=True,
            pull=False,
            nocache=no_cache,
            decode=True,
        )
        return stream

    def _push_stream(
        self, ref: ImageRef, auth: Mapping[str, str] | None, access: RegistryAccess | None
    ) -> Iterator[dict[str, Any]]:
        stream: Iterator[dict[str, Any]] = self._client.api.push(
            ref.name, tag=ref.tag, stream=True, decode=True, auth_config=dict(auth or {}) or None
        )
        return stream

    # -- shared through the Docker API ------------------------------------------------
    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except (docker.errors.DockerException, requests.RequestException, OSError):
            return False

    def pull(self, ref: ImageRef) -> str:
        """Pull ``ref`` (by digest when it has one) and return the local image id."""
        with self._seam(f"cannot pull {ref}", "check the reference and that the registry is up"):
            self._client.api.pull(ref.name, tag=ref.digest or ref.tag or "latest")
            image = self._client.images.get(f"{ref.name}@{ref.digest}" if ref.digest else str(ref))
        return str(image.id)

    def build(
        self,
        context_tar: bytes,
        tag: str,
        *,
        labels: Mapping[str, str],
        on_line: LineSink,
        no_cache: bool = False,
        buildargs: Mapping[str, str] | None = None,
        epoch: int | None = None,
    ) -> str:
        """Build a tar context (Dockerfile at its root) and return the image id.

        ``epoch`` (Unix seconds, the commit time): passed as the build arg
        ``SOURCE_DATE_EPOCH``; podman also stamps the config, history and layer files
        with it (:meth:`_build_stream`).
        """
        args = dict(buildargs or {})
        if epoch is not None:
            args["SOURCE_DATE_EPOCH"] = str(epoch)
        image_id: str | None = None
        error: str | None = None
        with self._seam("build", "check the engine's storage and the build context"):
            try:
                stream = self._build_stream(
                    context_tar, tag, labels=labels, no_cache=no_cache, args=args, epoch=epoch
                )
                for event in stream:
                    if "stream" in event:
                        for line in str(event["stream"]).splitlines():
                            if line.strip():
                                on_line(line)
                    if "aux" in event and "ID" in event["aux"]:
                        image_id = str(event["aux"]["ID"])
                    failure = push_failure([event])
                    if failure:
                        error = failure
            except docker.errors.APIError as exc:
                error = _explain(exc)
            if error or image_id is None:
                raise EngineError(f"{self.name}: build failed: {error or 'no image id reported'}")
            # Multi-stage builds report one aux ID per stage; the tag names the final one.
            built = str(self._client.images.get(tag).id)
        return self._after_build(built, tag, epoch)

    def _after_build(self, image_id: str, tag: str, epoch: int | None) -> str:
        """The image id to hand on (podman rewrites its config, see engine/podman.py)."""
        return image_id

    def tag(self, image_id: str, ref: ImageRef) -> None:
        assert ref.tag, "tagging needs a tag"
        with self._seam(f"tag {image_id[:19]} as {ref}", "run `invoke build` first"):
            self._client.images.get(image_id).tag(ref.name, tag=ref.tag)

    def push(
        self,
        ref: ImageRef,
        *,
        auth: Mapping[str, str] | None,
        on_line: LineSink,
        access: RegistryAccess | None = None,
    ) -> str | None:
        """Push ``ref``; return the digest the engine reports (None if it reports none).

        Raises EngineError on any ``errorDetail``/``error`` event (see push_failure);
        its ``transient`` attribute says whether a retry may help.
        """
        events: list[dict[str, Any]] = []
        try:
            for event in self._push_stream(ref, auth, access):
                events.append(event)
                failure = push_failure([event])
                if failure:
                    raise explain_push_failure(self.name, str(ref), failure)
                status = event.get("status")
                if status and not event.get("progressDetail"):
                    on_line(f"{event.get('id', '')} {status}".strip())
        except EngineError:
            raise
        except (docker.errors.DockerException, requests.RequestException, OSError) as exc:
            raise explain_push_failure(self.name, str(ref), _explain(exc)) from None
        return self._digest_from_push(events)

    # Podman answers a missing image with a plain 404 (NotFound), Docker with
    # ImageNotFound (a subclass); catching NotFound covers both.
    def image_exists(self, ref_or_id: str) -> bool:
        with self._seam(f"look up {ref_or_id}"):
            try:
                self._client.images.get(ref_or_id)
            except docker.errors.NotFound:
                return False
        return True

    def image_attrs(self, ref_or_id: str) -> dict[str, Any]:
        with self._seam(f"no image {ref_or_id!r}", "run `invoke build` first"):
            attrs: dict[str, Any] = self._client.images.get(ref_or_id).attrs
        return attrs

    def image_history(self, ref_or_id: str) -> list[dict[str, Any]]:
        with self._seam(f"history of {ref_or_id}", "run `invoke build` first"):
            history: list[dict[str, Any]] = self._client.images.get(ref_or_id).history()
        return history

    def images_labelled(self, label: str) -> list[dict[str, Any]]:
        """Inspect dicts of every image carrying ``label`` (``key`` or ``key=value``)."""
        with self._seam(f"list images labelled {label}"):
            return [dict(i.attrs) for i in self._client.images.list(filters={"label": label})]

    def save(self, ref_or_id: str) -> Iterator[bytes]:
        """The image as a `docker save` tar stream (layers included)."""
        with self._seam(f"save {ref_or_id}", "run `invoke build` first"):
            chunks: Iterator[bytes] = self._client.images.get(ref_or_id).save(named=False)
        return chunks

    def untag(self, ref: str) -> None:
        """Drop one name; the image stays while it has other names (unlike remove_image)."""
        with self._seam(f"untag {ref}"), contextlib.suppress(docker.errors.NotFound):
            self._client.images.remove(ref, force=False, noprune=True)

    def remove_image(self, ref_or_id: str) -> None:
        with self._seam(f"remove {ref_or_id}"), contextlib.suppress(docker.errors.NotFound):
            self._client.images.remove(ref_or_id, force=True, noprune=False)

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
                network: self._client.api.create_endpoint_config(aliases=list(aliases))
            }
        if mem_limit:
            extra["mem_limit"] = mem_limit
        with self._seam(f"cannot start {image}", "check the image and the engine"):
            container = self._client.containers.run(
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

    def find_container(self, name: str) -> RunningContainer | None:
        """The container named ``name`` (running or not), or None when there is none."""
        with self._seam(f"inspect {name}"):
            try:
                return RunningContainer(self, self._client.containers.get(name))
            except docker.errors.NotFound:
                return None

    def create_network(self, name: str, *, labels: Mapping[str, str] | None = None) -> None:
        """A user-defined bridge network: its containers resolve each other by container name."""
        with self._seam(f"cannot create network {name}"):
            self._client.networks.create(name, driver="bridge", labels=dict(labels or {}))

    def remove_network(self, name: str) -> None:
        """Idempotent; the network's containers must be gone first."""
        with self._seam(f"remove network {name}"), contextlib.suppress(docker.errors.NotFound):
            self._client.networks.get(name).remove()

    def labelled(self, label: str, prefix: str = "") -> tuple[set[str], set[str]]:
        """Names of (containers, networks) carrying ``label`` or named ``prefix``* (tests)."""
        with self._seam(f"list containers labelled {label}"):
            boxes = {
                str(c.name)
                for c in self._client.containers.list(all=True, filters={"label": label})
            }
            nets = {str(n.name) for n in self._client.networks.list(filters={"label": label})}
            if prefix:
                boxes |= {
                    str(c.name)
                    for c in self._client.containers.list(all=True)
                    if str(c.name).startswith(prefix)
                }
                nets |= {
                    str(n.name)
                    for n in self._client.networks.list()
                    if str(n.name).startswith(prefix)
                }
        return boxes, nets

    def remove_labelled(self, label: str) -> list[str]:
        """Remove every container, then every network, carrying ``label`` (``key=value``).

        Selecting by label rather than by the handles a caller kept also catches a
        container that was created but whose start failed, which ``run()`` never returns.
        """
        removed: list[str] = []
        with self._seam(f"remove containers labelled {label}"):
            for box in self._client.containers.list(all=True, filters={"label": label}):
                with contextlib.suppress(docker.errors.NotFound):
                    box.remove(force=True)
                    removed.append(str(box.name))
            for network in self._client.networks.list(filters={"label": label}):
                with contextlib.suppress(docker.errors.NotFound):
                    network.remove()
                    removed.append(str(network.name))
        return removed

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._client.close()


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
