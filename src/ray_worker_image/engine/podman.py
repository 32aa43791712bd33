"""Podman through `podman system service` (its Docker-compatible API), started on demand."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import docker
from docker import auth as docker_auth
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from ..errors import EngineError, EngineUnavailable
from ..refs import ImageRef
from ..registry import RegistryAccess
from .base import Engine
from .normalise import config_archive, rewrite_archive, storage_root, stored_config_path
from .seam import (
    _PUSH_DIGEST,
    DEFAULT_PODMAN_SOCKET,
    PODMAN_SOCKET_ENV,
    _ping,
    _require_ca,
    push_failure,
)


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
            raise EngineUnavailable(
                f"podman: no podman API at {url} (from ${PODMAN_SOCKET_ENV}); start one there "
                f"with `podman system service --time=0 {url}`, or unset {PODMAN_SOCKET_ENV}"
            )
        if client is None:
            raise EngineUnavailable(f"podman: no podman API at {url}; {cls.how_to_start()}")
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
            cwd="/",  # conmon needs its working directory: the caller's may be deleted later
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
        if epoch is None:
            return super()._build_stream(
                context_tar, tag, labels=labels, no_cache=no_cache, args=args, epoch=epoch
            )
        # docker-py's build() cannot send `timestamp`; podman's build handler reads it
        # (pkg/api/handlers/compat/images_build.go, query field Timestamp, 4.x) and sets
        # the config's created, the history and every file time in new layers to it
        # (buildah's --timestamp). Same request docker-py would send, plus that field.
        api = self._client.api
        params = {
            "t": tag,
            "labels": json.dumps(dict(labels)),
            "buildargs": json.dumps(dict(args)),
            "timestamp": str(epoch),
            "rm": "true",
            "forcerm": "true",
            "pull": "false",
            "nocache": "true" if no_cache else "false",
            # No intermediate images: with them buildah writes each step's parent image id
            # (`FROM <id>`, clock-stamped) into the history comments.
            "layers": "false",
        }
        response = api._post(
            api._url("/build"),
            data=_chunks(context_tar),
            params=params,
            headers={"Content-Type": "application/x-tar"},
            stream=True,
        )  # the client's read timeout (seam.API_TIMEOUT) applies
        api._raise_for_status(response)
        stream: Iterator[dict[str, Any]] = api._stream_helper(response, decode=True)
        return stream

    def _after_build(self, image_id: str, tag: str, epoch: int | None) -> str:
        """With ``epoch``: the image again, its config without the builder container's id
        (engine/normalise.py), so two builds of one commit get one id. Only the config is
        loaded back (the layers stay where they are); when the engine's storage cannot be
        read, the whole image is saved and reloaded instead. The unnormalised image is
        removed."""
        if epoch is None:
            return image_id
        with self._seam("normalise the built image", "check the engine's storage"):
            raw = self._stored_config(image_id)
            if raw is None:
                normal = self._load_rewritten(image_id, tag)
            else:
                try:
                    archive, normal = config_archive(raw, tag)
                except ValueError as exc:
                    raise EngineError(f"podman: cannot normalise {image_id[:19]}: {exc}") from None
                if normal != image_id:
                    self._load(archive)
            if normal == image_id:
                return image_id
            self._client.images.remove(image_id, force=True, noprune=True)
            found = str(self._client.images.get(tag).id)
        if found != normal:
            raise EngineError(
                f"podman: {tag} is {found[:19]} after loading the normalised {normal[:19]}"
            )
        return normal

    def _stored_config(self, image_id: str) -> bytes | None:
        """The image's config bytes from the engine's storage, or None when this process
        cannot read them (a service on another host or user) or they do not hash to
        ``image_id``. The storage is found from the image's inspect (cheap); ``/info``
        (about 0.2 s on podman) is asked only when that does not lead to the config."""
        inspected = storage_root(self._client.api.inspect_image(image_id).get("GraphDriver") or {})
        raw = _read_config(inspected, image_id) if inspected else None
        if raw is None:
            info = self._client.info()
            raw = _read_config((info.get("DockerRootDir"), info.get("Driver")), image_id)
        return raw

    def _load(self, archive: bytes | IO[bytes]) -> None:
        """`docker load` through the API, its events read to the end; EngineError on an error."""
        events = list(self._client.api.load_image(archive) or [])
        failure = push_failure(events)
        if failure:
            raise EngineError(f"podman: loading the normalised image failed: {failure}")

    def _load_rewritten(self, image_id: str, tag: str) -> str:
        """The fallback: the whole image saved to a temp file, its config rewritten, loaded."""
        with tempfile.TemporaryFile() as spool:
            chunks = self._client.images.get(image_id).save(named=False)
            try:
                normal = rewrite_archive(chunks, spool, tag)
            except (ValueError, tarfile.TarError) as exc:
                raise EngineError(f"podman: cannot normalise {image_id[:19]}: {exc}") from None
            if normal != image_id:
                spool.seek(0)
                self._load(spool)
        return normal

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


def _chunks(data: bytes, size: int = 1 << 20) -> Iterator[bytes]:
    """The build context as a chunked request body."""
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _read_config(where: tuple[Any, Any], image_id: str) -> bytes | None:
    """The config bytes at (graph root, driver) if they hash to ``image_id``, else None."""
    root, driver = where
    if not root or not driver:
        return None
    try:
        raw = stored_config_path(str(root), str(driver), image_id).read_bytes()
    except OSError:
        return None
    return raw if f"sha256:{hashlib.sha256(raw).hexdigest()}" == image_id else None
