"""Test helpers for the canary stage: a stand-in ``ray`` for the driver, a real nats-server.

The stand-in ``ray`` stubs only Ray's boundary (``init``, ``nodes``, ``remote``, ``get``,
``NodeAffinitySchedulingStrategy``): each task runs in the driver's process, so the task's
real code (nats-py, requests; aiohttp when installed) reaches the real nats-server. It
records the node each task was pinned to (``FAKE_RAY_LOG``, JSON lines). ``FAKE_RAY_NO_NATS=1``
makes ``import nats`` fail in the task as on an image without nats-py; ``FAKE_RAY_HANG=1``
makes ``ray.get`` time out. The real driver on real Ray is the rehearsal's proof.
"""

from __future__ import annotations

import asyncio
import importlib.util
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ray_worker_image.e2e.hostbin import find_nats_server

RAY_INIT = r"""
import json, os, sys

_NODES = json.loads(os.environ.get("FAKE_RAY_NODES", "[]"))


class GetTimeoutError(Exception):
    pass


class RayTaskError(Exception):
    def __init__(self, cause):
        super().__init__("ray::probe() (pid=1, ip=x)\nTraceback (most recent call last):\n  ...\n"
                         + f"{type(cause).__name__}: {cause}")
        self.cause = cause


class _NoNats:
    def find_spec(self, name, path=None, target=None):
        if name == "nats" or name.startswith("nats."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


def init(address=None, **kwargs):
    assert address == "auto", address


def nodes():
    return [{"NodeManagerAddress": ip, "NodeID": "node-" + ip, "Alive": True} for ip in _NODES]


class _Remote:
    def __init__(self, fn, options):
        self.fn, self.opts = fn, options

    def options(self, **more):
        return _Remote(self.fn, {**self.opts, **more})

    def remote(self, *args):
        strategy = self.opts["scheduling_strategy"]
        with open(os.environ["FAKE_RAY_LOG"], "a") as fh:
            fh.write(json.dumps({"node_id": strategy.node_id, "soft": strategy.soft,
                                 "max_retries": self.opts.get("max_retries")}) + "\n")
        blocker = _NoNats() if os.environ.get("FAKE_RAY_NO_NATS") == "1" else None
        if blocker:
            sys.meta_path.insert(0, blocker)
            for name in [m for m in sys.modules if m == "nats" or m.startswith("nats.")]:
                del sys.modules[name]
        try:
            return ("ok", self.fn(*args))
        except Exception as exc:
            return ("error", exc)
        finally:
            if blocker:
                sys.meta_path.remove(blocker)


def remote(**options):
    return lambda fn: _Remote(fn, options)


def get(ref, timeout=None):
    if os.environ.get("FAKE_RAY_HANG") == "1":
        raise GetTimeoutError("Get timed out: some object(s) not ready.")
    kind, value = ref
    if kind == "error":
        raise RayTaskError(value)
    return value
"""

STRATEGIES = r"""
class NodeAffinitySchedulingStrategy:
    def __init__(self, node_id, soft, _spill_on_unavailable=False, _fail_on_unavailable=False):
        self.node_id, self.soft = node_id, soft
"""


def fake_ray(folder: Path) -> Path:
    """Write the stand-in ``ray`` package into ``folder``; return it (for PYTHONPATH).

    When aiohttp is not installed here (it is not a dev dependency), an empty module
    stands in for it: that it imports on the image is the in-image tests' proof.
    """
    (folder / "ray/util").mkdir(parents=True, exist_ok=True)
    (folder / "ray/__init__.py").write_text(RAY_INIT)
    (folder / "ray/util/__init__.py").write_text("")
    (folder / "ray/util/scheduling_strategies.py").write_text(STRATEGIES)
    if importlib.util.find_spec("aiohttp") is None:
        (folder / "aiohttp.py").write_text('"""Stand-in: aiohttp is no dev dependency."""\n')
    return folder


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def nats_server(tmp: Path, *, jetstream: bool = True) -> Iterator[str]:
    """A real nats-server on a free loopback port (JetStream on unless told); its URL."""
    port = free_port()
    argv = [str(find_nats_server()), "-a", "127.0.0.1", "-p", str(port)]
    if jetstream:
        argv += ["-js", "-sd", str(tmp / f"js-{port}")]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise RuntimeError(f"nats-server did not start: {argv}") from None
                time.sleep(0.05)
        yield f"nats://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def add_stream(url: str, name: str, subject: str) -> None:
    """Create a JetStream stream capturing ``subject`` (as the orchestrator's setup does)."""
    import nats

    async def run() -> None:
        client = await nats.connect(url)
        try:
            await client.jetstream().add_stream(name=name, subjects=[subject])
        finally:
            await client.close()

    asyncio.run(run())
