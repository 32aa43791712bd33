"""First task as users live it: the cluster is up and the driver connected, then a task.

For each side, one miniature cluster (src/ray_worker_image/e2e, one task worker) is started
and a driver container (bench/firsttask_driver.py) connects to it once, then times single
tasks that ``import nats`` from submit to result: the first on a worker, the same again
(a warm worker: the floor), the first of the next job (Ray's per-node pip cache warm, a new
worker process), and the first on a worker node the bench adds to the running cluster while
the driver waits (as the autoscaler adds a node). Sides: the baked image, and the plain base
with ``runtime_env={"pip": ["nats-py==<locked>"]}`` on every task (pip on the nodes gets the
CA bundle through ``e2e.pip_access``). The fresh-cluster figure stays in bench/latency.py.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ray_worker_image import e2e
from ray_worker_image import engine as engines
from ray_worker_image.engine import Engine, RunningContainer
from ray_worker_image.lock import parse_lock

from .invoking import ROOT
from .measure import ratio
from .runner import BenchError, engine_lock
from .workspace import Workspace

DRIVER = Path(__file__).resolve().parent / "firsttask_driver.py"
READY_MARKER = "FIRSTTASK_READY_FOR_NODE"
RESULT_MARKER = "FIRSTTASK_RESULT "
PHASES = ("first", "warm_worker", "next_job", "new_node")
DRIVER_TIMEOUT_S = 900.0


def parse_driver_output(logs: str) -> dict[str, Any]:
    """The driver's RESULT_MARKER document (pure); BenchError when absent or it failed."""
    lines = [line for line in logs.splitlines() if line.startswith(RESULT_MARKER)]
    if not lines:
        tail = " | ".join(logs.strip().splitlines()[-3:])[-300:]
        raise BenchError(f"first task: the driver printed no result ({tail or 'no output'})")
    found: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT_MARKER))
    if found.get("error"):
        raise BenchError(f"first task: the driver failed: {found['error']}")
    missing = [phase for phase in PHASES if phase not in found]
    if missing:
        raise BenchError(f"first task: the driver reported no {', '.join(missing)}")
    return found


def speedups(baked: dict[str, Any], pip: dict[str, Any]) -> dict[str, float | None]:
    """runtime_env pip seconds / baked seconds per phase (pure)."""
    return {phase: ratio(pip[phase]["seconds"], baked[phase]["seconds"], 1) for phase in PHASES}


def _add_worker(cluster: e2e.Cluster, extra: dict[str, Any]) -> RunningContainer:
    """One more replica of the first task worker group on the running cluster."""
    node = cluster.plan.task_workers[0]
    role = f"{node.group}-added"
    return cluster.engine.run(
        cluster.image,
        node.argv,
        name_prefix=f"{cluster.network}-{role}",
        network=cluster.network,
        hostname=f"{cluster.network}-{role}",
        extra_labels=cluster.labels,  # removed with the cluster
        environment=node.node.env_dict() | dict(extra.get("node_environment") or {}),
        volumes=extra.get("node_volumes"),
        mem_limit=node.mem_limit,
        shm_size=str(node.shm_bytes),
    )


def _drive(
    cluster: e2e.Cluster, runtime_env: dict[str, Any] | None, extra: dict[str, Any]
) -> dict[str, Any]:
    argv = [
        cluster.python, "-c", DRIVER.read_text(),
        "--address", cluster.plan.client_address,
        "--num-gpus", str(cluster.plan.task_gpus),
        "--runtime-env", json.dumps(runtime_env or {}),
    ]  # fmt: skip
    driver = cluster.engine.run(
        cluster.image,
        argv,
        name_prefix=f"{cluster.network}-driver",
        network=cluster.network,
        hostname=f"{cluster.network}-driver",
        extra_labels=cluster.labels,
    )
    deadline = time.monotonic() + DRIVER_TIMEOUT_S
    added = False
    try:
        while time.monotonic() < deadline:
            if driver.wait(1.0) is not None:
                break
            if not added and READY_MARKER in driver.logs():
                _add_worker(cluster, extra)
                added = True
        return parse_driver_output(driver.logs())
    finally:
        driver.remove()


def _side(ws: Workspace, image: str, runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    definition = ws.variant_definition
    node = e2e.NodeRuntime.of(definition.base)
    extra = e2e.pip_access(ws.ca) if runtime_env else {}
    plan = e2e.load_plan(ROOT / e2e.DEFAULT_MANIFEST, replica_cap=1)
    with engine_lock():
        engine: Engine = engines.ENGINES[ws.engine].connect()
        try:
            with e2e.miniature_cluster(engine, image, plan, python=node.python, **extra) as cluster:
                return _drive(cluster, runtime_env, extra)
        finally:
            engine.close()


def bench_first_task(ws: Workspace, image_id: str) -> dict[str, Any]:
    """Both sides in turn (each under the engine lock); BenchError naming what failed."""
    lock = ws.variant_definition.requirements.lock.read_text()
    pin = "nats-py==" + parse_lock(lock)["nats-py"].version
    baked = _side(ws, image_id, None)
    pip = _side(ws, ws.base, {"pip": [pin]})
    return {
        "measured": "seconds from submitting one task (driver already connected) to its "
        "result in the driver",
        "baked": baked,
        "runtime_env_pip": pip,
        "speedup": speedups(baked, pip),
        "floor_s": baked["warm_worker"]["seconds"],
        "nats_pin": pin,
    }
