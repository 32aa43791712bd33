"""First Ray task that imports nats: the baked image against ``runtime_env`` pip on the base.

Reused from the earlier bench/run.py: the fleet's RayCluster (deploy/k8s/ray-gpu.yaml) started
as KubeRay starts it (src/ray_worker_image/e2e), a job of agent tasks publishing to JetStream;
once on the image with nats-py baked in, once on the plain base with
``runtime_env={"pip": ["nats-py==<locked>"]}`` (pip on the nodes gets the CA bundle through
``e2e.pip_access``). Figures: seconds to the first result and to the whole job.
"""

from __future__ import annotations

from typing import Any

from ray_worker_image import e2e
from ray_worker_image import engine as engines
from ray_worker_image.lock import parse_lock

from .invoking import ROOT
from .measure import ratio
from .runner import BenchError, engine_lock
from .workspace import Workspace


def bench_latency(ws: Workspace, image_id: str, workers: int = 2) -> dict[str, Any]:
    """Run both clusters in turn (each under the engine lock); BenchError when a job fails."""
    definition = ws.variant_definition
    pin = "nats-py==" + parse_lock(definition.requirements.lock.read_text())["nats-py"].version
    node = e2e.NodeRuntime.of(definition.base)
    figures: dict[str, Any] = {}
    runs = [("baked", image_id, None), ("runtime_env_pip", ws.base, {"pip": [pin]})]
    for name, image, runtime_env in runs:
        extra = e2e.pip_access(ws.ca) if runtime_env else {}
        plan = e2e.load_plan(ROOT / e2e.DEFAULT_MANIFEST, replica_cap=workers)
        with engine_lock():
            engine = engines.ENGINES[ws.engine].connect()
            try:
                with e2e.miniature_cluster(
                    engine, image, plan, python=node.python, **extra
                ) as cluster:
                    job = e2e.run_agent_job(
                        cluster,
                        uid=node.uid,
                        gid=node.gid,
                        tasks=workers,
                        timeout=600,
                        runtime_env=runtime_env,
                    )
            finally:
                engine.close()
        if not job.ok:
            raise BenchError(f"first-task {name}: the job failed: {'; '.join(job.problems[:3])}")
        figures[name] = {
            "first_result_s": round(job.first_result_s or 0, 2),
            "total_s": round(job.total_s, 2),
        }
    figures["speedup"] = ratio(
        figures["runtime_env_pip"]["first_result_s"], figures["baked"]["first_result_s"], 1
    )
    figures["nats_pin"] = pin
    return figures
