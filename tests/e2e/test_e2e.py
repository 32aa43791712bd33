"""End to end, per engine: a Ray cluster of the built image delivers results over NATS JetStream.

The fleet's RayCluster (deploy/k8s/ray-gpu.yaml) started as KubeRay v1.7 starts it: the head
and the gpu-workers group with KubeRay's command, args, env and wait-gcs-ready step, NATS with
JetStream and an HTTP service on a private network. A driver in its own container connects
with the Ray Client to ray://ray-gpu-head-svc.ray.svc.cluster.local:10001 and runs agent tasks
that ask for one GPU, call the service with aiohttp and requests and publish to
``agent.response.completed``; a durable pull consumer on the host must get each result exactly
once. The plain base image must fail the same job with ``ModuleNotFoundError``.
"""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image.definition import ImageDefinition, load_definition, load_variant
from ray_worker_image.e2e import (
    DEFAULT_MANIFEST,
    E2E_LABEL,
    MISSING_NATS,
    ClusterPlan,
    E2EError,
    NodeRuntime,
    judge,
    load_plan,
    miniature_cluster,
    run_e2e,
)
from ray_worker_image.engine import Engine

from ..conftest import ROOT, Builds, Built, once_per_run
from ..lanes import shared_lock

TWO_GROUPS = ROOT / "tests/data/kuberay/clusters/two-groups-gpu-second.yaml"
_DEFINITION = load_definition(root=ROOT)
OTHER_VARIANTS = [name for name in _DEFINITION.names if name != _DEFINITION.default]

pytestmark = [pytest.mark.e2e, pytest.mark.engine]


@pytest.fixture(autouse=True)
def one_cluster_at_a_time() -> Iterator[None]:
    """One miniature Ray cluster on the machine at a time, whichever engine's lane (xdist
    worker) starts it. The Ray processes of both engines run as uid 1000, and RLIMIT_NPROC
    counts the threads of a uid across the host: under podman's nproc=1000 (setup-host.sh),
    a podman cluster beside a Docker one fails to fork (EAGAIN). Taken after the session's
    builds, so the other lane's builds and tests go on meanwhile."""
    with shared_lock("ray-e2e-cluster"):
        yield


def leftovers(engine: Engine, run_id: str) -> list[str]:
    """Containers and networks of a run, found by label and by name, straight from the engine."""
    label = f"{E2E_LABEL}={run_id}"
    prefix = f"ray-e2e-{run_id}"
    boxes, nets = engine.labelled(label, prefix)
    return sorted(boxes | nets)


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}s"


def show(request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str], line: str) -> None:
    """Straight to the terminal, captured or not (`-s`), so CI logs always carry it."""
    with capsys.disabled():
        print(f"\n[{request.node.name}] {line}")


@pytest.fixture(scope="module")
def fleet() -> ClusterPlan:
    return load_plan(ROOT / DEFAULT_MANIFEST)


@pytest.fixture(scope="module")
def runtime(definition: ImageDefinition) -> NodeRuntime:
    return NodeRuntime.of(definition.base)


def test_results_arrive_exactly_once_from_the_workers(
    engine: Engine,
    built: Built,
    fleet: ClusterPlan,
    runtime: NodeRuntime,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = run_e2e(engine, built.image.image_id, fleet, runtime, tasks=4)
    assert report.job is not None, report.failure
    job = report.job
    latency = seconds(report.first_task_latency_s)
    show(
        request,
        capsys,
        f"{engine.name}: first-task latency {latency} (submit -> first result at the consumer; "
        f"first task began after {seconds(job.first_task_started_s)}); job {job.total_s:.2f}s, "
        f"cluster start {report.startup_s:.1f}s, total {report.total_s:.1f}s",
    )
    request.node.user_properties.append(("first_task_latency_s", report.first_task_latency_s))
    request.node.user_properties.append(("total_s", report.total_s))

    assert report.passed, f"{report.failure}\n--- job output ---\n{job.output[-4000:]}"
    assert job.exit_code == 0
    assert report.received == report.tasks == 4

    # Exactly once, and each payload as the task published it.
    by_task = {result["task_id"]: result for result in job.received}
    assert len(by_task) == len(job.received) == 4
    assert by_task == {payload["task_id"]: payload for payload in job.published}
    assert job.redelivered == 0
    assert job.late == 0

    # On the GPU group's workers, never the head, and every worker took part.
    hosts = {result["hostname"] for result in job.received}
    assert hosts == set(report.task_hostnames)
    assert len(hosts) == 2
    assert all("gpu-workers" in host for host in hosts)

    # Both HTTP clients reached the service by its name on the private network.
    for result in job.received:
        for client in ("aiohttp", "requests"):
            assert result[client]["status"] == 200
            assert result[client]["body"]["e2e_run"] == report.run_id

    assert report.first_task_latency_s is not None
    assert 0 < report.first_task_latency_s <= job.total_s
    assert report.run_id is not None
    assert leftovers(engine, report.run_id) == []


def test_gpu_group_second_login_shell(engine: Engine, built: Built, runtime: NodeRuntime) -> None:
    """Two worker groups, the GPU group second, Ray started through login shells (an operator
    with ENABLE_LOGIN_SHELL=true): GPU tasks land on the GPU group only. On one engine: the
    groups and the commands are the plan's, and each engine's cluster is proven above."""
    once_per_run(engine, "the plan's groups, not the engine's")
    plan = load_plan(TWO_GROUPS, login_shell=True)
    assert {w.group for w in plan.workers} == {"cpu-workers", "gpu-workers"}
    assert all(w.node.command == ("/bin/bash", "-cl", "--") for w in plan.workers)
    report = run_e2e(engine, built.image.image_id, plan, runtime, tasks=4)
    assert report.job is not None, report.failure
    assert report.passed, f"{report.failure}\n--- job output ---\n{report.job.output[-4000:]}"
    hosts = {result["hostname"] for result in report.job.received}
    assert hosts == set(report.task_hostnames)
    assert hosts and all("-gpu-workers-" in host for host in hosts)
    assert report.run_id is not None
    assert leftovers(engine, report.run_id) == []


def test_plain_base_fails_without_nats(
    engine: Engine, base_image: str, fleet: ClusterPlan, runtime: NodeRuntime
) -> None:
    report = run_e2e(engine, base_image, fleet, runtime, expect_nats=False, tasks=4)
    assert report.job is not None, report.failure
    job = report.job
    assert report.passed, f"{report.failure}\n--- job output ---\n{job.output[-4000:]}"
    assert job.exit_code not in (0, None)
    assert MISSING_NATS in job.output
    assert job.error == MISSING_NATS
    assert report.received == 0
    assert job.published == ()
    # The verdict the positive test relies on must reject this run, for this reason.
    verdict = judge(job, expect_nats=True)
    assert verdict is not None
    assert MISSING_NATS in verdict
    assert report.run_id is not None
    assert leftovers(engine, report.run_id) == []


class Boom(Exception):
    pass


def one_worker() -> ClusterPlan:
    return load_plan(ROOT / DEFAULT_MANIFEST, replica_cap=1)


def end_inside(engine: Engine, image: str, run_id: str, ending: str, python: str) -> None:
    plan = one_worker()
    with miniature_cluster(engine, image, plan, python=python, run_id=run_id) as cluster:
        present = leftovers(engine, run_id)
        # nats, http, head, one wait-gcs-ready step, one worker and the network.
        assert len(present) == 6, present
        assert cluster.network in present
        # The worker runs exactly what KubeRay would put in its pod.
        worker = cluster.workers[0].attrs()["Config"]
        assert worker["Cmd"] == plan.workers[0].argv
        env = dict(item.partition("=")[::2] for item in worker["Env"])
        assert env["RAY_CLUSTER_NAME"] == "ray-gpu"
        assert env["FQ_RAY_IP"] == plan.head_fqdn
        if ending == "SIGTERM":
            # What a CI cancel sends; the cluster turns it into KeyboardInterrupt.
            os.kill(os.getpid(), signal.SIGTERM)
        raise Boom


def start_with_a_dying_nats(engine: Engine, image: str, run_id: str, python: str) -> None:
    plan = one_worker()
    dead = Path("/bin/false")
    with miniature_cluster(engine, image, plan, python=python, run_id=run_id, nats_server=dead):
        pytest.fail("the cluster came up with a NATS server that exits at once")


@pytest.mark.parametrize("ending", ["body raises", "SIGTERM", "startup fails"])
def test_nothing_is_left_behind(
    engine: Engine, built: Built, runtime: NodeRuntime, ending: str
) -> None:
    run_id = f"t{uuid.uuid4().hex[:7]}"
    sigterm_before = signal.getsignal(signal.SIGTERM)
    if ending == "startup fails":
        with pytest.raises(E2EError, match="exited"):
            start_with_a_dying_nats(engine, built.image.image_id, run_id, runtime.python)
    else:
        with pytest.raises(Boom if ending == "body raises" else KeyboardInterrupt):
            end_inside(engine, built.image.image_id, run_id, ending, runtime.python)
    assert leftovers(engine, run_id) == []
    assert signal.getsignal(signal.SIGTERM) == sigterm_before


@pytest.mark.parametrize("variant", OTHER_VARIANTS)
def test_every_other_variant_delivers_and_its_base_fails(
    engine: Engine, builds: Builds, fleet: ClusterPlan, variant: str
) -> None:
    """The same cluster and job on each variant's image (the default one is covered above):
    results arrive exactly once; the variant's plain base fails with ModuleNotFoundError."""
    built = builds.get(variant)
    runtime = NodeRuntime.of(load_variant(root=ROOT, variant=variant).base)
    report = run_e2e(engine, built.image.image_id, fleet, runtime, tasks=2)
    assert report.job is not None, report.failure
    assert report.passed, f"{report.failure}\n--- job output ---\n{report.job.output[-4000:]}"
    assert report.received == 2
    control = run_e2e(engine, built.image.base.pinned, fleet, runtime, expect_nats=False, tasks=2)
    assert control.passed, control.failure
    assert control.job is not None and MISSING_NATS in control.job.output
    for run in (report, control):
        assert run.run_id is not None and leftovers(engine, run.run_id) == []
