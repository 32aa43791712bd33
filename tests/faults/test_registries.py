"""Registries as they are deployed (issue 12, item 3), each through `invoke push`.

Private-CA TLS, nginx terminating TLS in front of a registry (body size unlimited, as
the fleet runs it, and nginx's default 1m, which answers 413), plain HTTP on a LAN
address only with --insecure-registry, and htpasswd Basic auth. Every case asserts the
exit code, one error line where it fails, and the registry's tag list.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.registry import Credentials, RegistryAccess

from .conftest import (
    LOOPBACK,
    Certs,
    Nginx,
    Registry,
    TinyImage,
    build_tiny,
    free_port,
    invoke,
    make_certs,
    one_line_error,
    remove_tiny,
    trusted_by_engines,
)
from .lan import LAN_PORT, LanHost, lan_host
from .token_server import TokenServer

with warnings.catch_warnings():  # bcrypt htpasswd for docker-registry; deprecated, not gone
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

pytestmark = pytest.mark.engine


@pytest.fixture
def lan() -> Iterator[LanHost]:
    """A non-loopback address in a network namespace of this test (never outside the host)."""
    with lan_host() as host:
        yield host


@pytest.fixture
def certs(tmp_path: Path) -> Certs:
    return make_certs(tmp_path / "certs", (LOOPBACK,))


@pytest.fixture
def lan_certs(tmp_path: Path, lan: LanHost) -> Certs:
    return make_certs(tmp_path / "lan-certs", (LOOPBACK, lan.address))


@pytest.fixture
def tls_registry(tmp_path: Path, certs: Certs) -> Iterator[Registry]:
    registry = Registry(
        f"{LOOPBACK}:{free_port()}", tmp_path / "tls-registry", tls=(certs.cert, certs.key)
    )
    registry.folder.mkdir()
    registry.start()
    yield registry
    registry.stop()


def _tags(image: TinyImage) -> list[str]:
    return sorted(t.rsplit(":", 1)[1] for t in image.tags)


def test_private_ca_needs_registry_ca_and_the_engine_trusting_it(
    engine: engines.Engine, tiny: TinyImage, tls_registry: Registry, certs: Certs
) -> None:
    address = tls_registry.address
    access = RegistryAccess(address, ca_file=certs.ca)
    line = one_line_error(invoke(tiny.push_args(address), tiny.build_dir))
    assert "speaks HTTPS" in line and "--registry-ca" in line, line
    with_ca = tiny.push_args(address, "--registry-ca", str(certs.ca))
    if engine.name == "podman":  # dockerd skips verification on loopback (insecure by default)
        line = one_line_error(invoke(with_ca, tiny.build_dir))
        assert f"/etc/containers/certs.d/{address}/ca.crt" in line, line
    assert tiny.tag_list(access) == []
    with trusted_by_engines(certs, address):
        result = invoke(with_ca, tiny.build_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert tiny.tag_list(access) == _tags(tiny)


@pytest.fixture
def fleet_nginx(own_registry: Registry, certs: Certs, tmp_path: Path) -> Iterator[Nginx]:
    proxy = Nginx(f"{LOOPBACK}:{free_port()}", own_registry.address, certs, tmp_path / "nginx")
    proxy.start()
    yield proxy
    proxy.stop()


def test_registry_behind_nginx_tls_as_the_fleet_runs_it(
    engine: engines.Engine, tiny: TinyImage, fleet_nginx: Nginx, certs: Certs
) -> None:
    address = fleet_nginx.address
    access = RegistryAccess(address, ca_file=certs.ca)
    with trusted_by_engines(certs, address):
        result = invoke(tiny.push_args(address, "--registry-ca", str(certs.ca)), tiny.build_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert tiny.tag_list(access) == _tags(tiny)


@pytest.fixture
def default_nginx(own_registry: Registry, certs: Certs, tmp_path: Path) -> Iterator[Nginx]:
    proxy = Nginx(
        f"{LOOPBACK}:{free_port()}", own_registry.address, certs, tmp_path / "nginx", None
    )
    proxy.start()
    yield proxy
    proxy.stop()


def test_nginx_default_body_limit_413_names_the_setting(
    engine: engines.Engine, default_nginx: Nginx, certs: Certs, tmp_path: Path
) -> None:
    image = build_tiny(engine, tmp_path / "build", size=3 * 1024 * 1024)
    address = default_nginx.address
    access = RegistryAccess(address, ca_file=certs.ca)
    try:
        with trusted_by_engines(certs, address):
            result = invoke(
                image.push_args(address, "--registry-ca", str(certs.ca)), image.build_dir
            )
        line = one_line_error(result)
        assert "413" in line and "client_max_body_size" in line, line
        assert image.tag_list(access) == []
    finally:
        remove_tiny(image)


@pytest.fixture
def lan_registry(tmp_path: Path, lan: LanHost) -> Iterator[Registry]:
    registry = Registry(f"{lan.address}:{LAN_PORT}", tmp_path / "lan-registry", netns=lan.namespace)
    registry.folder.mkdir()
    registry.start()
    yield registry
    registry.stop()


def test_plain_http_on_a_lan_address_only_with_the_opt_in(
    engine: engines.Engine, tiny: TinyImage, lan_registry: Registry
) -> None:
    address = lan_registry.address
    access = RegistryAccess(address, insecure=True)
    line = one_line_error(invoke(tiny.push_args(address), tiny.build_dir))
    assert "does not speak TLS" in line and "--insecure-registry" in line, line
    result = invoke(tiny.push_args(address, "--insecure-registry"), tiny.build_dir)
    if engine.name == "docker":
        # dockerd decides itself; changing daemon.json is root's call, and the tool says so.
        line = one_line_error(result)
        assert "insecure-registries" in line and "/etc/docker/daemon.json" in line, line
        assert tiny.tag_list(access) == []
    else:
        assert result.returncode == 0, result.stderr[-2000:]
        assert tiny.tag_list(access) == _tags(tiny)


@pytest.fixture
def auth_registry(tmp_path: Path, password: str) -> Iterator[Registry]:
    folder = tmp_path / "auth-registry"
    folder.mkdir()
    htpasswd = folder / "htpasswd"
    htpasswd.write_text(f"ci:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n")
    registry = Registry(f"{LOOPBACK}:{free_port()}", folder, htpasswd=htpasswd)
    registry.start()
    yield registry
    registry.stop()


def test_htpasswd_basic_auth(
    engine: engines.Engine, tiny: TinyImage, auth_registry: Registry, password: str
) -> None:
    address = auth_registry.address
    access = RegistryAccess(address)
    creds = Credentials("ci", password)
    line = one_line_error(invoke(tiny.push_args(address), tiny.build_dir))
    assert "needs credentials" in line, line
    wrong = invoke(
        tiny.push_args(address, "--username", "ci"),
        tiny.build_dir,
        RAY_IMAGE_REGISTRY_PASSWORD=password[::-1],
    )
    line = one_line_error(wrong)
    assert "401" in line and password[::-1] not in wrong.stderr, line
    assert tiny.tag_list(access, creds) == []
    right = invoke(
        tiny.push_args(address, "--username", "ci"),
        tiny.build_dir,
        RAY_IMAGE_REGISTRY_PASSWORD=password,
    )
    assert right.returncode == 0, right.stderr[-2000:]
    assert password not in right.stderr + right.stdout
    assert tiny.tag_list(access, creds) == _tags(tiny)


def test_token_bearer_auth(
    engine: engines.Engine,
    tiny: TinyImage,
    token_registry: tuple[Registry, TokenServer],
    password: str,
) -> None:
    registry, tokens = token_registry
    address = registry.address
    access = RegistryAccess(address)
    creds = Credentials("ci", password)
    line = one_line_error(invoke(tiny.push_args(address), tiny.build_dir))
    assert "token request refused (HTTP 401)" in line, line
    wrong = invoke(
        tiny.push_args(address, "--username", "ci"),
        tiny.build_dir,
        RAY_IMAGE_REGISTRY_PASSWORD=password[::-1],
    )
    assert "token request refused (HTTP 401)" in one_line_error(wrong)
    assert tiny.tag_list(access, creds) == []
    right = invoke(
        tiny.push_args(address, "--username", "ci"),
        tiny.build_dir,
        RAY_IMAGE_REGISTRY_PASSWORD=password,
    )
    assert right.returncode == 0, right.stderr[-2000:]
    assert password not in right.stderr + right.stdout
    assert tiny.tag_list(access, creds) == _tags(tiny)
    assert tokens.requests >= 3  # the tool's and the engine's token requests


@pytest.fixture
def lan_tls_registry(tmp_path: Path, lan_certs: Certs, lan: LanHost) -> Iterator[Registry]:
    registry = Registry(
        f"{lan.address}:{LAN_PORT}",
        tmp_path / "lan-tls",
        tls=(lan_certs.cert, lan_certs.key),
        netns=lan.namespace,
    )
    registry.folder.mkdir()
    registry.start()
    yield registry
    registry.stop()


def test_private_ca_on_a_lan_address_verified_by_both_engines(
    engine: engines.Engine, tiny: TinyImage, lan_tls_registry: Registry, lan_certs: Certs
) -> None:
    """Off loopback dockerd verifies too: the CA must be in its certs.d as well."""
    address = lan_tls_registry.address
    access = RegistryAccess(address, ca_file=lan_certs.ca)
    line = one_line_error(invoke(tiny.push_args(address), tiny.build_dir))
    assert "TLS certificate not trusted" in line and "--registry-ca" in line, line
    with_ca = tiny.push_args(address, "--registry-ca", str(lan_certs.ca))
    line = one_line_error(invoke(with_ca, tiny.build_dir))
    assert f"/etc/{'docker' if engine.name == 'docker' else 'containers'}/certs.d/{address}" in line
    assert tiny.tag_list(access) == []
    with trusted_by_engines(lan_certs, address):
        result = invoke(with_ca, tiny.build_dir)
    assert result.returncode == 0, result.stderr[-2000:]
    assert tiny.tag_list(access) == _tags(tiny)
