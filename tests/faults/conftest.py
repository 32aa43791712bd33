"""Helpers for the faults suite: own registries on free loopback ports, tiny images, the CLI.

Every test here runs `invoke push` as a user would (a real process, the real entry),
against real registry processes (Debian's docker-registry), on each engine present.
Images are tiny (`FROM scratch` plus one file), so the suite stays fast.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml

from ray_worker_image import engine as engines
from ray_worker_image.build import git_revision, local_tags
from ray_worker_image.context import context_tar
from ray_worker_image.definition import load_definition
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import RegistryAccess
from ray_worker_image.state import StateStore, TestRecord
from tests.refclient import RefClient

from ..conftest import ROOT
from .token_server import TokenServer

INVOKE = str(Path(sys.executable).parent / "invoke")
LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_server(
    what: str, process: subprocess.Popen[bytes], url: str, verify: bool | str, log: Path
) -> None:
    """Up to 10 s for ``url`` to answer; fail with the log's tail if ``process`` exits first."""
    for _ in range(100):
        try:
            requests.get(url, timeout=1, verify=verify)
            return
        except requests.ConnectionError:
            pass
        if process.poll() is not None:
            tail = log.read_text()[-400:] if log.exists() else "(no log)"
            pytest.fail(f"{what} exited: {tail}")
        time.sleep(0.1)
    pytest.fail(f"{what} did not answer on {url}")


@dataclasses.dataclass
class Registry:
    """A docker-registry process of this test: stop, kill and restart it at will."""

    address: str
    folder: Path
    tls: tuple[Path, Path] | None = None
    netns: str | None = None  # run inside this network namespace (tests/faults/lan.py)
    htpasswd: Path | None = None
    extra: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def storage(self) -> Path:
        return self.folder / "data"

    def config(self) -> str:
        http = f'addr: "{self.address}"'  # quoted: an IPv6 [::1]:PORT is not a YAML list
        if self.tls:
            http += f", tls: {{certificate: {self.tls[0]}, key: {self.tls[1]}}}"
        auth = ""
        if self.htpasswd:
            auth = f"auth: {{htpasswd: {{realm: faults, path: {self.htpasswd}}}}}\n"
        return (
            "version: 0.1\nlog: {level: warn}\n"
            f"storage: {{filesystem: {{rootdirectory: {self.storage}}}, "
            "delete: {enabled: true}}\n"
            f"http: {{{http}}}\n{auth}{self.extra}"
        )

    def start(self) -> None:
        binary = shutil.which("docker-registry")
        if binary is None:
            pytest.skip("docker-registry is not installed (scripts/setup-host.sh installs it)")
        (self.folder / "config.yml").write_text(self.config())
        log = open(self.folder / "registry.log", "ab")  # noqa: SIM115 - closed with the process
        argv = [binary, "serve", str(self.folder / "config.yml")]
        if self.netns:
            argv = ["ip", "netns", "exec", self.netns, *argv]
        self.process = subprocess.Popen(argv, stdout=log, stderr=log)
        scheme = "https" if self.tls else "http"
        wait_for_server(
            "registry", self.process, f"{scheme}://{self.address}/v2/", False,
            self.folder / "registry.log",
        )  # fmt: skip

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def own_registry(tmp_path: Path) -> Iterator[Registry]:
    """A plain-HTTP docker-registry on a free loopback port, with its own storage."""
    registry = Registry(f"{LOOPBACK}:{free_port()}", tmp_path / "registry")
    registry.folder.mkdir()
    registry.start()
    yield registry
    registry.stop()


@dataclasses.dataclass
class TinyImage:
    """An image built for one test, with the build state `invoke push` reads."""

    engine: engines.Engine
    image_id: str
    repository: str
    tags: tuple[str, ...]
    build_dir: Path

    def push_args(self, registry: str, *extra: str) -> list[str]:
        return ["push", "--engine", self.engine.name, "--registry", registry, *extra]

    def tag_list(self, access: RegistryAccess, credentials=None) -> list[str]:
        return RefClient(access, credentials).tags(self.repository)


def build_tiny(
    engine: engines.Engine,
    build_dir: Path,
    *,
    size: int = 1024,
    repository: str | None = None,
) -> TinyImage:
    """`FROM scratch` + one random file of ``size`` bytes, tagged like the pipeline tags.

    The pipeline derives the build from the engine (the local immutable tag of the current
    revision), so the image gets a private copy of the definition under its own repository
    (``<build_dir>/definition/image.yaml``, which :func:`invoke` passes on) and that tag.
    """
    repository = repository or f"faults/img-{uuid.uuid4().hex[:8]}"
    folder = build_dir / "definition"
    shutil.copytree(ROOT / "images/ray-swe-fleet", folder)
    raw = yaml.safe_load((folder / "image.yaml").read_text())
    raw["target"]["repository"] = repository
    (folder / "image.yaml").write_text(yaml.safe_dump(raw))
    definition = load_definition(folder / "image.yaml", ROOT).variant(None)
    revision = git_revision(ROOT)
    tags = local_tags(definition, revision)
    context = context_tar(
        {"Dockerfile": b"FROM scratch\nCOPY blob /blob\n", "blob": secrets.token_bytes(size)}
    )
    labels = {
        "io.github.ray-worker-image.faults": "1",
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.base.name": "docker.io/rayproject/ray:2.49.2",
        "org.opencontainers.image.base.digest": "sha256:" + "0" * 64,
    }
    image_id = engine.build(context, tags[0], labels=labels, on_line=lambda _: None)
    engine.tag(image_id, ImageRef.parse(tags[1]))
    store = StateStore(build_dir / definition.variant)  # the session's state folder
    store.save_test(TestRecord(image_id, engine.name, True, 1, 0, "x.xml"))
    return TinyImage(engine, image_id, repository, tags, build_dir)


def remove_tiny(image: TinyImage) -> None:
    """The image with every name it got (local and registry-qualified)."""
    image.engine.remove_image(image.image_id)


@pytest.fixture
def tiny(engine: engines.Engine, tmp_path: Path) -> Iterator[TinyImage]:
    image = build_tiny(engine, tmp_path / "build")
    yield image
    remove_tiny(image)


def invoke_env(build_dir: Path, **env: str) -> dict[str, str]:
    """The environment a user's `invoke` gets here: a private build folder (and, for a tiny
    image, its private definition), no password unless ``env`` gives one."""
    environment = {
        **os.environ,
        "RAY_IMAGE_BUILD_DIR": str(build_dir),
        "NO_COLOR": "1",
        "COLUMNS": "300",
    }
    environment.pop("RAY_IMAGE_REGISTRY_PASSWORD", None)
    definition = build_dir / "definition/image.yaml"  # a tiny image's (build_tiny)
    if definition.is_file():
        environment["RAY_IMAGE_DEFINITION"] = str(definition)
    environment.update(env)
    return environment


def invoke(
    args: list[str], build_dir: Path, timeout: float = 240, **env: str
) -> subprocess.CompletedProcess[str]:
    """`invoke ARGS` as a user runs it, with a private build folder."""
    environment = invoke_env(build_dir, **env)
    return subprocess.run(
        [INVOKE, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=environment,
        timeout=timeout,
        check=False,
    )


def one_line_error(
    result: subprocess.CompletedProcess[str], code: int | tuple[int, ...] = 1
) -> str:
    """Assert the run failed with exit ``code`` (README "Exit codes": 1 a failure, 2 bad
    input, 3 could not run; a tuple: any of them) and one `error:` line, no traceback."""
    codes = code if isinstance(code, tuple) else (code,)
    assert result.returncode in codes, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, result.stderr[-2000:]
    return errors[0]


# -- TLS, nginx -----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Certs:
    ca: Path  # the private CA's certificate (what --registry-ca gets)
    cert: Path  # the server's certificate, for 127.0.0.1 and the LAN address
    key: Path


def make_certs(folder: Path, ips: tuple[str, ...] = (LOOPBACK,)) -> Certs:
    """A CA made for the test and a server certificate it signed (openssl CLI)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=faults test CA", "-keyout", "ca.key", "-out", "ca.pem",
    )  # fmt: skip
    san = ",".join(f"IP:{ip}" for ip in ips)
    (folder / "ext.cnf").write_text(f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n")
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=registry", "-keyout", "server.key",
        "-out", "server.csr",
    )  # fmt: skip
    openssl(
        "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "server.pem",
    )  # fmt: skip
    return Certs(folder / "ca.pem", folder / "server.pem", folder / "server.key")


@contextlib.contextmanager
def trusted_by_engines(certs: Certs, address: str) -> Iterator[None]:
    """Put the CA where podman's and dockerd's registry clients read it (certs.d), then
    remove it again. Needs root; this is what the tool's one-line error asks a user for."""
    folders = [Path("/etc/containers/certs.d") / address, Path("/etc/docker/certs.d") / address]
    try:
        for folder in folders:
            folder.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(certs.ca, folder / "ca.crt")
        yield
    finally:
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)


NGINX_CONF = """\
user root;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 64; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen {address} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        {body_limit}
        chunked_transfer_encoding on;
        location /v2/ {{
            proxy_pass http://{upstream};
            proxy_set_header Host $http_host;
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_read_timeout 900;
            proxy_request_buffering off;
        }}
    }}
}}
"""


@dataclasses.dataclass
class Nginx:
    """nginx (Debian's package) terminating TLS in front of a registry, as the fleet runs it.

    ``body_limit`` None keeps nginx's default `client_max_body_size 1m`.
    """

    address: str
    upstream: str
    certs: Certs
    folder: Path
    body_limit: str | None = "0"
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not Path(binary).exists():
            pytest.skip("nginx is not installed (scripts/setup-host.sh installs it)")
        self.folder.mkdir(parents=True, exist_ok=True)
        limit = f"client_max_body_size {self.body_limit};" if self.body_limit is not None else ""
        conf = self.folder / "nginx.conf"
        conf.write_text(
            NGINX_CONF.format(
                prefix=self.folder,
                address=self.address,
                cert=self.certs.cert,
                key=self.certs.key,
                upstream=self.upstream,
                body_limit=limit,
            )
        )
        self.process = subprocess.Popen(
            [binary, "-c", str(conf), "-p", str(self.folder), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        wait_for_server(
            "nginx", self.process, f"https://{self.address}/v2/", str(self.certs.ca),
            self.folder / "error.log",
        )  # fmt: skip

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)


@pytest.fixture
def password() -> str:
    """A registry password made for the test (never a real one)."""
    return "pw-" + socket.gethostname()[:4] + str(free_port())


@pytest.fixture
def token_registry(tmp_path: Path, password: str) -> Iterator[tuple[Registry, TokenServer]]:
    """A registry with distribution's token auth (Bearer, scoped tokens) and its token
    server, for user ``ci`` with ``password``; both stopped after the test."""
    with TokenServer(tmp_path / "token", "ci", password) as tokens:
        folder = tmp_path / "token-registry"
        folder.mkdir()
        registry = Registry(f"{LOOPBACK}:{free_port()}", folder, extra=tokens.registry_config())
        registry.start()
        try:
            yield registry, tokens
        finally:
            registry.stop()
