"""Waiting on a starting cluster: probes, bounded waits, container tails, SIGTERM."""

from __future__ import annotations

import contextlib
import json
import re
import signal
import threading
from collections.abc import Callable, Iterator, Sequence
from types import FrameType
from typing import Any

import nats
from tenacity import Retrying, retry_if_result, stop_after_delay, wait_fixed

from ..engine import RunningContainer
from .hostbin import E2EError

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def tail(box: RunningContainer, lines: int = 15) -> str:
    try:
        text = box.logs()
    except Exception as exc:  # the container may already be gone
        return f"(no logs: {exc})"
    return " | ".join(ANSI.sub("", text).strip().splitlines()[-lines:]) or "(no output)"


def ensure_running(box: RunningContainer) -> None:
    state = box.attrs().get("State", {})
    if state.get("Status") in ("exited", "dead", "stopped"):
        code = state.get("ExitCode")
        raise E2EError(f"{box.name} exited ({code}) while the cluster was starting: {tail(box)}")


def wait_until(
    what: str, probe: Callable[[], str | None], *, timeout: float, watch: Sequence[RunningContainer]
) -> None:
    """Call ``probe`` until it returns None (it returns why it is not ready yet).

    A watched container that exits ends the wait at once: waiting out the timeout for a
    process that is already dead only hides its log.
    """
    last = ["never probed"]

    def attempt() -> bool:
        for box in watch:
            ensure_running(box)
        reason = probe()
        if reason is not None:
            last[0] = reason
        return reason is None

    retrying = Retrying(
        stop=stop_after_delay(timeout),
        wait=wait_fixed(0.5),
        retry=retry_if_result(lambda ready: not ready),
        retry_error_callback=lambda state: False,
    )
    if not retrying(attempt):
        raise E2EError(f"{what} not ready after {timeout:.0f}s: {last[0]}")


def host_port(box: RunningContainer, port: str) -> int:
    bindings = (box.attrs().get("NetworkSettings", {}).get("Ports") or {}).get(port)
    if not bindings:
        ensure_running(box)  # a container that died has no ports: say that instead
        raise E2EError(f"{box.name}: {port} is not published")
    return int(bindings[0]["HostPort"])


async def nats_probe(url: str) -> str | None:
    try:
        client = await nats.connect(
            url, connect_timeout=2, max_reconnect_attempts=0, allow_reconnect=False
        )
    except Exception as exc:
        return f"cannot connect to {url}: {exc!r}"
    try:
        await client.jetstream().account_info()
    except Exception as exc:
        return f"JetStream not answering at {url}: {exc!r}"
    finally:
        await client.close()
    return None


_RAY_NODES = (
    "import json, ray\n"
    "ray.init(address='auto', logging_level='ERROR', log_to_driver=False)\n"
    "print(json.dumps([{'id': n['NodeID'], 'host': n['NodeManagerHostname'],"
    " 'resources': n['Resources']} for n in ray.nodes() if n['Alive']]))\n"
)


def ray_nodes(head: RunningContainer, python: str) -> list[dict[str, Any]] | str:
    # ray.init retries a GCS that is not up yet for a long time; a probe must be short.
    rc, out = head.exec(["timeout", "20", python, "-c", _RAY_NODES])
    if rc != 0:
        return f"ray.nodes() failed ({rc}): {' | '.join(out.strip().splitlines()[-2:])}"
    try:
        nodes: list[dict[str, Any]] = json.loads(out.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return f"ray.nodes() printed no JSON: {out.strip()[-200:]}"
    return nodes


@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into KeyboardInterrupt while a cluster exists.

    CI cancels a job with SIGTERM, whose default action ends Python without running
    ``finally``: the cluster would outlive the run.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
