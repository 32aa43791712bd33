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
import ipaddress
import os
import re
import shutil
import subprocess
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import docker
import docker.errors
import requests
from docker import auth as docker_auth
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from .errors import EngineError
from .refs import ImageRef
from .registry import RegistryAccess

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


def _ping(base_url: str) -> docker.DockerClient | None:
    try:
        client = docker.DockerClient(base_url=base_url, timeout=API_TIMEOUT)
        client.ping()
    except Exception:
        return None
    return client


class RunningContainer:
    """A container this process started; ``remove()`` is idempotent.

    Holds the docker-py object privately: callers get names, dicts and strings.
    """

    def __init__(self, engine: Engine, container: Any) -> None:
        self.engine = engine
        self._container = container

    @property
    def name(self) -> str:
        return str(self._container.name)

    @property
    def testinfra_url(self) -> str:
        return f"{self.engine.testinfra_scheme}://{self.name}"

    def exec(
        self, argv: list[str], user: str | None = None, timeout: int = EXEC_TIMEOUT
    ) -> tuple[int, str]:
        """Run ``argv`` (killed after ``timeout`` seconds); (exit code, stdout+stderr).

        Raises EngineError when it times out (coreutils `timeout` exits 124/137).
        """
        wrapped = ["timeout", "--kill-after=10", str(timeout), *argv]
        with seam(self.engine.name, f"exec in {self.name}", "check that the container runs"):
            result = self._container.exec_run(wrapped, user=user or "", demux=False)
        code = int(result.exit_code)
        output = (result.output or b"").decode("utf-8", "replace")
        if code in (124, 137):
            raise EngineError(
                f"{self.engine.name}: `{' '.join(argv)[:80]}` in {self.name} did not finish "
                f"within {timeout} s; check the network (pip index) and rerun"
            )
        return code, output

    def put_archive(self, path: str, data: bytes) -> None:
        """Unpack a tar (bytes) at ``path`` inside the container."""
        with seam(self.engine.name, f"copy into {self.name}:{path}", "check the container"):
            if not self._container.put_archive(path, data):
                raise EngineError(f"{self.engine.name}: cannot copy files into {self.name}:{path}")

    def attrs(self) -> dict[str, Any]:
        """A fresh `inspect` of the container (a plain dict)."""
        with seam(self.engine.name, f"inspect {self.name}", "it may have been removed"):
            self._container.reload()
            return dict(self._container.attrs)

    def logs(self) -> str:
        with seam(self.engine.name, f"logs of {self.name}", "it may have been removed"):
            return bytes(self._container.logs()).decode("utf-8", "replace")

    def wait(self, timeout: float) -> int | None:
        """The exit code once the container stops, or None if it still runs after ``timeout`` s."""
        try:
            with seam(self.engine.name, f"wait for {self.name}", "it may have been removed"):
                result = self._container.wait(timeout=timeout)
        except EngineError as exc:
            if "Timeout" in str(exc) or "ConnectionError" in str(exc):
                return None
            raise
        return int(result.get("StatusCode", -1))

    def remove(self) -> None:
        with contextlib.suppress(docker.errors.NotFound):
            self._container.remove(force=True)


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
    ) -> str:
        """Build a tar context (Dockerfile at its root) and return the image id."""
        image_id: str | None = None
        error: str | None = None
        with self._seam("build", "check the engine's storage and the build context"):
            try:
                stream = self._client.api.build(
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
                    failure = push_failure([event])
                    if failure:
                        error = failure
            except docker.errors.APIError as exc:
                error = _explain(exc)
            if error or image_id is None:
                raise EngineError(f"{self.name}: build failed: {error or 'no image id reported'}")
            # Multi-stage builds report one aux ID per stage; the tag names the final one.
            return str(self._client.images.get(tag).id)

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

    def check_registry_access(self, access: RegistryAccess) -> None:
        # Plain HTTP is asked for per push (tlsVerify=false, see _push_stream); a private
        # CA must sit in certs.d, which containers/image reads at each connection
        # (containers-certs.d(5)).
        if access.ca_file and access.scheme == "https":
            _require_ca(self.name, access, Path("/etc/containers/certs.d"))

    def _push_stream(
        self, ref: ImageRef, auth: Mapping[str, str] | None, access: RegistryAccess | None
    ) -> Iterator[dict[str, Any]]:
        if access is None or access.scheme != "http":
            return super()._push_stream(ref, auth, access)
        # docker-py's push() has no tlsVerify; podman's compat handler reads it
        # (pkg/api/handlers/compat/images_push.go), so send the same request with it.
        api = self._client.api
        headers = {"X-Registry-Auth": docker_auth.encode_header(dict(auth))} if auth else {}
        response = api._post_json(
            api._url("/images/{0}/push", ref.name),
            None,
            headers=headers,
            stream=True,
            params={"tag": ref.tag, "tlsVerify": "false"},
        )
        api._raise_for_status(response)
        stream: Iterator[dict[str, Any]] = api._stream_helper(response, decode=True)
        return stream

    def _digest_from_push(self, events: list[dict[str, Any]]) -> str | None:
        # Podman's compat API says it only in a status line: "<tag>: digest: sha256:... size: N".
        for event in events:
            match = _PUSH_DIGEST.search(str(event.get("status", "")))
            if match:
                return match.group(1)
        return None


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
