"""A "LAN host" for registry tests, inside a network namespace this test run makes.

A registry on a non-loopback address must be tested without sending traffic to any address
outside this machine's loopback or a namespace of our own. So the test makes a namespace and a
veth pair on 198.18.0.0/15 (RFC 2544's benchmarking range, never routed), runs the server
inside the namespace on its end, and the engines on the host reach it over the veth link.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

PREFIX = 30
LAN_PORT = 5443  # the namespace is this test's own: no other listener there


@dataclass(frozen=True)
class LanHost:
    namespace: str
    address: str

    def argv(self, command: list[str]) -> list[str]:
        """``command`` run inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *command]


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)


@contextlib.contextmanager
def lan_host() -> Iterator[LanHost]:
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("a network namespace needs root and iproute2")
    tag = uuid.uuid4().hex[:6]
    namespace, host_if, lan_if = f"rwi-lan-{tag}", f"rwi-h{tag}", f"rwi-n{tag}"
    third, fourth = int(tag[:2], 16), 4 * (int(tag[2:4], 16) % 64)
    host_side, lan_side = f"198.18.{third}.{fourth + 1}", f"198.18.{third}.{fourth + 2}"
    try:
        _ip("netns", "add", namespace)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", lan_if)
        _ip("link", "set", lan_if, "netns", namespace)
        _ip("addr", "add", f"{host_side}/{PREFIX}", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", namespace, "addr", "add", f"{lan_side}/{PREFIX}", "dev", lan_if)
        _ip("-n", namespace, "link", "set", lan_if, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        with contextlib.suppress(Exception):
            _ip("netns", "del", namespace)
        pytest.skip(f"cannot make a network namespace here: {exc.stderr.decode().strip()}")
    try:
        yield LanHost(namespace, lan_side)
    finally:
        with contextlib.suppress(Exception):
            _ip("link", "del", host_if)
        with contextlib.suppress(Exception):
            _ip("netns", "del", namespace)
