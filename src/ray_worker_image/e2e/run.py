"""What `invoke e2e` and the tests call: plan from a manifest, start, run the job, judge."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import console
from ..engine import Engine
from ..errors import PipelineError
from ..kuberay.pod import OperatorSettings
from ..rollout import load_cluster
from .cluster import miniature_cluster
from .consumer import RESULT_SUBJECT, run_agent_job
from .plan import REPLICA_CAP, ClusterPlan, plan_cluster
from .verdict import JobResult, judge

DEFAULT_MANIFEST = Path("deploy/k8s/ray-gpu.yaml")


@dataclass(frozen=True)
class NodeRuntime:
    """The image's interpreter and owner, from the image definition (``base.*``)."""

    python: str  # /home/ray/anaconda3/bin/python
    uid: int
    gid: int

    @classmethod
    def of(cls, base: Any) -> NodeRuntime:
        return cls(python=str(base.python_path), uid=int(base.user.uid), gid=int(base.user.gid))


def load_plan(
    source: str | Path,
    *,
    name: str | None = None,
    namespace: str | None = None,
    replica_cap: int = REPLICA_CAP,
    login_shell: bool = False,
) -> ClusterPlan:
    """The miniature cluster of the RayCluster in ``source`` (multi-document files and
    ``kind: List`` searched, ``name``/``namespace`` pick one, as ``invoke patch --from``).
    A RayJob's or RayService's embedded cluster is started the same way."""
    found = load_cluster(str(source), name=name, namespace=namespace)
    cluster = _embedded_cluster(found)
    return plan_cluster(
        cluster,
        source=str(source),
        replica_cap=replica_cap,
        settings=OperatorSettings(login_shell=login_shell),
        pod_prefix=f"{(cluster.get('metadata') or {}).get('name')}-{uuid.uuid4().hex[:5]}",
    )


# Where the owner kinds embed their cluster (KubeRay CRDs v1.7.0, ray.io/v1 and v1alpha1).
_EMBEDDED = {"RayJob": "rayClusterSpec", "RayService": "rayClusterConfig"}


def _embedded_cluster(obj: dict[str, Any]) -> dict[str, Any]:
    """A RayCluster-shaped object: the object itself, or the cluster a RayJob/RayService holds."""
    key = _EMBEDDED.get(str(obj.get("kind")))
    if key is None:
        return obj
    spec = (obj.get("spec") or {}).get(key)
    return {"kind": "RayCluster", "metadata": obj.get("metadata") or {}, "spec": spec}


@dataclass(frozen=True)
class E2EReport:
    passed: bool
    tasks: int
    received: int
    first_task_latency_s: float | None
    total_s: float
    failure: str | None
    engine: str = ""
    image: str = ""
    expect_nats: bool = True
    run_id: str | None = None
    startup_s: float | None = None
    task_hostnames: tuple[str, ...] = ()
    job: JobResult | None = None


def _secs(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def run_e2e(
    engine: Engine,
    image: str,
    plan: ClusterPlan,
    runtime: NodeRuntime,
    *,
    expect_nats: bool = True,
    tasks: int = 4,
) -> E2EReport:
    """Start the plan's cluster of ``image``, run the agent job, judge, tear down.

    With ``expect_nats=False`` this is the negative control: it passes when the job fails
    with ``ModuleNotFoundError: No module named 'nats'``. Never raises for a failed run
    (``report.passed`` says); KeyboardInterrupt propagates.
    """
    groups = Counter(w.group for w in plan.workers)
    console.step(
        f"e2e on {engine.name}: RayCluster {plan.namespace}/{plan.name} of {image[:60]}: head + "
        + ", ".join(f"{n} x {g}" for g, n in groups.items())
        + f"; {tasks} agent tasks via {plan.client_address} -> JetStream {RESULT_SUBJECT}"
        + ("" if expect_nats else " (negative control)")
    )
    for note in plan.notes:
        console.info(f"note: {note}")
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:8]
    try:
        with miniature_cluster(
            engine, image, plan, python=runtime.python, run_id=run_id
        ) as cluster:
            job = run_agent_job(cluster, uid=runtime.uid, gid=runtime.gid, tasks=tasks)
    except PipelineError as exc:
        console.error_line(f"e2e failed: {exc}")
        return E2EReport(
            passed=False,
            tasks=tasks,
            received=0,
            first_task_latency_s=None,
            total_s=time.monotonic() - started,
            failure=str(exc),
            engine=engine.name,
            image=image,
            expect_nats=expect_nats,
            run_id=run_id,
        )
    failure = judge(job, expect_nats=expect_nats)
    report = E2EReport(
        passed=failure is None,
        tasks=tasks,
        received=len(job.received),
        first_task_latency_s=job.first_result_s,
        total_s=time.monotonic() - started,
        failure=failure,
        engine=engine.name,
        image=image,
        expect_nats=expect_nats,
        run_id=run_id,
        startup_s=cluster.startup_s,
        task_hostnames=cluster.task_hostnames,
        job=job,
    )
    hosts = Counter(str(r.get("hostname")) for r in job.received)
    if expect_nats:
        console.info(
            f"received {report.received}/{tasks} results; exactly once, intact, on the task "
            f"workers: {'yes' if job.ok else 'no'}; per worker: {dict(hosts) or '-'}"
        )
    else:
        console.info(f"received {report.received}/{tasks} results; job exit code {job.exit_code}")
    console.info(
        f"first-task latency (submit -> first result at the consumer): {_secs(job.first_result_s)} "
        f"(driver connected after {_secs(job.driver_connected_s)}, first task began after "
        f"{_secs(job.first_task_started_s)}); job {job.total_s:.2f}s; "
        f"cluster start {cluster.startup_s:.1f}s; total {report.total_s:.1f}s"
    )
    if not expect_nats and job.error:
        console.info(f"job error (expected): {job.error}")
    if report.passed:
        console.step("e2e passed" + ("" if expect_nats else ": the plain base fails as expected"))
    else:
        console.error_line(f"e2e failed: {failure}")
    return report
