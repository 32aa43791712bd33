"""A registry on an IPv6 address, given in brackets as distribution's reference grammar
allows (`--registry '[::1]:PORT'`), against a docker-registry process of this test.

The tool's own registry calls work (ping, tags, the loopback rule: plain HTTP like
127.0.0.1). Whether the push goes through is the engine's say: podman 4.3's reference
parser refuses bracketed IPv6 names, and dockerd wants the address in
`insecure-registries` (127.0.0.0/8 only is insecure by default). Either way the run ends
in one line and the registry's tag list says exactly what happened.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.registry import RegistryAccess
from tests.refclient import RefClient

from .conftest import Registry, TinyImage, invoke, one_line_error

pytestmark = pytest.mark.engine


def _free_ipv6_port() -> int:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
            return int(sock.getsockname()[1])
    except OSError as exc:
        pytest.skip(f"no IPv6 loopback on this host: {exc}")


@pytest.fixture
def ipv6_registry(tmp_path: Path) -> Iterator[Registry]:
    registry = Registry(f"[::1]:{_free_ipv6_port()}", tmp_path / "ipv6-registry")
    registry.folder.mkdir()
    registry.start()
    yield registry
    registry.stop()


def test_the_tool_talks_to_a_bracketed_ipv6_registry(ipv6_registry: Registry) -> None:
    access = RegistryAccess(ipv6_registry.address)
    assert access.loopback and access.scheme == "http"
    client = RefClient(access)
    assert client.ping()
    client.check()
    assert client.tags("faults/none") == []


def test_push_to_a_bracketed_ipv6_registry(
    engine: engines.Engine, tiny: TinyImage, ipv6_registry: Registry
) -> None:
    access = RegistryAccess(ipv6_registry.address)
    result = invoke(tiny.push_args(ipv6_registry.address), tiny.build_dir)
    if result.returncode == 0:  # an engine that takes the reference (and the plain HTTP)
        assert result.stdout.strip().startswith(f"{ipv6_registry.address}/{tiny.repository}:")
        assert sorted(tiny.tag_list(access)) == sorted(t.rsplit(":", 1)[1] for t in tiny.tags)
        return
    line = one_line_error(result)
    expected = {
        "podman": "invalid reference format",
        "docker": f'"insecure-registries": ["{ipv6_registry.address}"]',
    }
    assert expected[engine.name] in line, line
    assert tiny.tag_list(access) == []
