"""Podman through `podman system service` (its Docker-compatible API), started on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
from docker import auth as docker_auth
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from ..errors import EngineError
from ..refs import ImageRef
from ..registry import RegistryAccess
from .base import Engine
from .seam import _PUSH_DIGEST, DEFAULT_PODMAN_SOCKET, PODMAN_SOCKET_ENV, _ping, _require_ca


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
        # Only the default socket is ever started here: a service started at a mistyped
        # $RAY_IMAGE_PODMAN_SOCKET would outlive this process in a place nobody looks.
        custom = cls.socket_path() != Path(DEFAULT_PODMAN_SOCKET)
        if client is None and start and not custom and shutil.which("podman"):
            client = cls._start_service(url)
        if client is None and custom:
            raise EngineError(
                f"podman: no podman API at {url} (from ${PODMAN_SOCKET_ENV}); start one there "
                f"with `podman system service --time=0 {url}`, or unset {PODMAN_SOCKET_ENV}"
            )
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
