"""A miniature Ray cluster of one image, started from a :class:`~.plan.ClusterPlan`.

What runs, on one private container network, like the KubeRay pods and the fleet's services:
NATS with JetStream (the host's ``nats-server``), an HTTP service standing in for the model
server, the Ray head with its Service names as network aliases, and each worker group's
replicas, every Ray container with the command, args and env KubeRay gives it, each worker
after its ``wait-gcs-ready`` step has exited 0. Every container and the network carry the
label ``E2E_LABEL=<run id>`` and are removed by that label however the context exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import console
from ..engine import Engine, RunningContainer
from .hostbin import E2EError, find_nats_server, host_binary_in_container
from .plan import ClusterPlan, NodePlan
from .probes import (
    ensure_running,
    host_port,
    nats_probe,
    ray_nodes,
    sigterm_raises,
    tail,
    wait_until,
)

E2E_LABEL = "io.github.ray-worker-image.e2e"
NATS_PORT = 4222
HTTP_PORT = 8000
HTTP_PATH = "/v1/models.json"  # .json: http.server then says application/json
INIT_TIMEOUT = 180.0  # wait-gcs-ready gives up after 120 s of quiet retries, then keeps going


@dataclass(frozen=True)
class Cluster:
    engine: Engine
    image: str
    plan: ClusterPlan
    python: str  # the image's interpreter, from the definition
    run_id: str
    network: str
    nats: RunningContainer
    http: RunningContainer
    head: RunningContainer
    workers: tuple[RunningContainer, ...]
    nats_url: str  # as the tasks reach it, on the private network
    nats_host_url: str  # as the orchestrator side on the host reaches it
    http_url: str
    http_body: dict[str, Any]
    task_hostnames: tuple[str, ...]  # workers where agent tasks must land
    task_node_ids: tuple[str, ...]
    startup_s: float

    @property
    def labels(self) -> dict[str, str]:
        return {E2E_LABEL: self.run_id}


@contextlib.contextmanager
def miniature_cluster(
    engine: Engine,
    image: str,
    plan: ClusterPlan,
    *,
    python: str,
    ready_timeout: float = 120.0,
    nats_server: Path | None = None,
    run_id: str | None = None,
    node_environment: Mapping[str, str] | None = None,
    node_volumes: Mapping[str, Mapping[str, str]] | None = None,
) -> Iterator[Cluster]:
    """NATS, an HTTP service and the plan's Ray head and workers, all of ``image``.

    Yields once every Ray node is alive, NATS answers JetStream requests from the host and
    the HTTP service answers from the head. ``python`` is the image's interpreter (the
    definition's ``base.python_path``). ``run_id`` (default: random) names the network and
    containers ``ray-e2e-<run_id>-*``. ``node_environment``/``node_volumes`` go to the Ray
    containers only (see :func:`.hostbin.pip_access`). Raises :class:`E2EError` naming the
    container and the tail of its log when something does not come up within its wait.
    """
    started = time.monotonic()
    run_id = run_id or uuid.uuid4().hex[:8]
    network = f"ray-e2e-{run_id}"
    labels = {E2E_LABEL: run_id}
    nats_binary = nats_server or find_nats_server()
    boxes: list[RunningContainer] = []

    def start(role: str, command: list[str], **kwargs: Any) -> RunningContainer:
        # The hostname is what Ray reports as the node's hostname and what the tasks put in
        # their results, as a pod's name is on Kubernetes.
        box = engine.run(
            image,
            command,
            name_prefix=f"{network}-{role}",
            network=network,
            hostname=f"{network}-{role}",
            extra_labels=labels,
            **kwargs,
        )
        boxes.append(box)
        return box

    def ray_node(node: NodePlan, **kwargs: Any) -> RunningContainer:
        return start(
            node.role, node.argv, **pod_settings(node, node_environment, node_volumes), **kwargs
        )

    with sigterm_raises():
        try:
            engine.create_network(network, labels=labels)
            mounts, nats_argv = host_binary_in_container(nats_binary)
            nats_box = start(
                "nats",
                [*nats_argv, "-js", "-sd", "/tmp/js", "-p", str(NATS_PORT), "-n", network],
                volumes=mounts,
                # Port 0 on loopback: the engine picks a free port, so parallel runs never
                # collide and nothing is exposed beyond this host.
                ports={f"{NATS_PORT}/tcp": ("127.0.0.1", None)},
            )
            body = {"object": "list", "data": [{"id": "Qwen/Qwen3-0.6B"}], "e2e_run": run_id}
            http_box = start(
                "http",
                [
                    "/bin/sh",
                    "-c",
                    'mkdir -p /tmp/www/v1 && printf "%s" "$E2E_BODY" > /tmp/www/v1/models.json'
                    f" && exec {python} -m http.server {HTTP_PORT} --bind 0.0.0.0"
                    " --directory /tmp/www",
                ],
                environment={"E2E_BODY": json.dumps(body)},
            )
            head = ray_node(plan.head, aliases=(plan.head_service, plan.head_fqdn))
            _run_init_steps(plan, start, head)
            worker_boxes = tuple(ray_node(w) for w in plan.workers)
            console.info(
                f"e2e {run_id}: network {network}; nats, http, head and {len(worker_boxes)} "
                f"workers started in {time.monotonic() - started:.1f}s"
            )
            nats_host_url = f"nats://127.0.0.1:{host_port(nats_box, f'{NATS_PORT}/tcp')}"
            wait_until(
                "NATS JetStream",
                lambda: asyncio.run(nats_probe(nats_host_url)),
                timeout=ready_timeout,
                watch=[nats_box],
            )
            http_url = f"http://{http_box.name}:{HTTP_PORT}{HTTP_PATH}"
            _wait_http(head, python, http_url, body, ready_timeout, [http_box, head])
            nodes = _wait_ray(head, python, plan, worker_boxes, network, ready_timeout)
            task_hosts = tuple(sorted(f"{network}-{w.role}" for w in plan.task_workers))
            cluster = Cluster(
                engine=engine,
                image=image,
                plan=plan,
                python=python,
                run_id=run_id,
                network=network,
                nats=nats_box,
                http=http_box,
                head=head,
                workers=worker_boxes,
                nats_url=f"nats://{nats_box.name}:{NATS_PORT}",
                nats_host_url=nats_host_url,
                http_url=http_url,
                http_body=body,
                task_hostnames=task_hosts,
                task_node_ids=tuple(n["id"] for n in nodes if n["host"] in task_hosts),
                startup_s=time.monotonic() - started,
            )
            console.info(f"e2e {run_id}: cluster ready in {cluster.startup_s:.1f}s")
            yield cluster
        except Exception:
            for box in boxes:
                console.info(f"{box.name}: {tail(box, 8)}")
            raise
        finally:
            try:
                removed = engine.remove_labelled(f"{E2E_LABEL}={run_id}")
                console.info(f"e2e {run_id}: removed {len(removed)} containers and networks")
            finally:
                engine.remove_network(network)


def pod_settings(
    node: NodePlan,
    environment: Mapping[str, str] | None = None,
    volumes: Mapping[str, Mapping[str, str]] | None = None,
) -> dict[str, Any]:
    """What a Ray node's container gets from its pod (``Engine.run`` keyword arguments): the
    env KubeRay gives it (plus ``environment``), the memory limit and the /dev/shm size.
    Also used by the rehearsal (:mod:`..rehearsal`) when it recreates a pod."""
    return {
        "environment": node.node.env_dict() | dict(environment or {}),
        "volumes": volumes,
        "mem_limit": node.mem_limit,
        "shm_size": str(node.shm_bytes),
    }


def _run_init_steps(
    plan: ClusterPlan, start: Callable[..., RunningContainer], head: RunningContainer
) -> None:
    """Each worker's wait-gcs-ready step, as its init container: all must exit 0 first."""
    steps = [
        (
            w,
            start(
                f"{w.role}-init",
                [*w.node.init.command, *w.node.init.args],
                environment=dict(w.node.init.env),
            ),
        )
        for w in plan.workers
        if w.node.init is not None
    ]
    deadline = time.monotonic() + INIT_TIMEOUT
    for worker, box in steps:
        code = box.wait(max(1.0, deadline - time.monotonic()))
        if code != 0:
            ensure_running(head)
            state = "still waiting" if code is None else f"exited {code}"
            raise E2EError(f"{worker.role}: wait-gcs-ready {state}: {tail(box, 4)}")


def _wait_http(
    head: RunningContainer,
    python: str,
    url: str,
    body: dict[str, Any],
    timeout: float,
    watch: Sequence[RunningContainer],
) -> None:
    fetch = (
        "import sys, urllib.request;"
        "sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=3).read().decode())"
    )

    def probe() -> str | None:
        rc, out = head.exec([python, "-c", fetch, url])
        if rc != 0:
            return f"GET {url} from the head failed: {out.strip()[-200:]}"
        return None if out.strip() == json.dumps(body) else f"unexpected body {out!r}"

    wait_until("HTTP service", probe, timeout=timeout, watch=watch)


def _wait_ray(
    head: RunningContainer,
    python: str,
    plan: ClusterPlan,
    workers: Sequence[RunningContainer],
    network: str,
    timeout: float,
) -> list[dict[str, Any]]:
    """Every planned node alive in Ray, each worker offering the GPUs its plan says."""
    wanted = {f"{network}-{w.role}": w.gpus for w in plan.workers}
    nodes: list[dict[str, Any]] = []

    def probe() -> str | None:
        found = ray_nodes(head, python)
        if isinstance(found, str):
            return found
        nodes[:] = found
        ready = [
            n
            for n in found
            if n["host"] in wanted and int(n["resources"].get("GPU", 0)) == wanted[n["host"]]
        ]
        if len(found) == len(wanted) + 1 and len(ready) == len(wanted):
            return None
        return f"{len(found)} alive nodes, {len(ready)} of {len(wanted)} workers as planned"

    wait_until("Ray cluster", probe, timeout=timeout, watch=[head, *workers])
    return nodes
