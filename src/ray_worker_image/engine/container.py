"""Containers and networks the pipeline starts, behind the seam (names, dicts and strings only).

:class:`ContainerHost` starts and removes them; :class:`RunningContainer` is one of them.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import docker.errors

from ..errors import EngineError
from .client import EngineClient
from .seam import EXEC_TIMEOUT, seam


class RunningContainer:
    """A container this process started; ``remove()`` is idempotent.

    Holds the docker-py object privately: callers get names, dicts and strings.
    """

    def __init__(self, engine: EngineClient, container: Any) -> None:
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

    def exec_streams(self, argv: list[str], user: str | None = None) -> tuple[int, bytes, bytes]:
        """Run ``argv`` to its end: (exit code, stdout, stderr), the streams kept apart (as
        ``kubectl exec`` gives them). No timeout of its own: the caller bounds it."""
        with seam(self.engine.name, f"exec in {self.name}", "check that the container runs"):
            result = self._container.exec_run(argv, user=user or "", demux=True)
        out, err = result.output if isinstance(result.output, tuple) else (result.output, None)
        return int(result.exit_code), out or b"", err or b""

    def stop(self, timeout: int) -> None:
        """SIGTERM (the image's stop signal), then SIGKILL after ``timeout`` seconds."""
        with seam(self.engine.name, f"stop {self.name}", "check the container"):
            self._container.stop(timeout=timeout)

    def start(self) -> None:
        """Start the (stopped) container again, with its command and settings."""
        with seam(self.engine.name, f"start {self.name}", "check the container"):
            self._container.start()

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


class ContainerHost(EngineClient):
    """Containers and networks on one engine (the part of :class:`.base.Engine` for them).

    Every method raises EngineError (one line) for any docker-py, requests or OS failure.
    """

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
