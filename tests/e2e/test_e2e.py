"""End to end, per engine: a Ray cluster of the built image delivers results over NATS JetStream.

A head and two workers of the image, NATS with JetStream and an HTTP service on
a private network; a job on the head runs agent tasks on the workers that call
the service with aiohttp and requests and publish to ``agent.response.completed``;
a durable pull consumer on the host must get each result exactly once. The plain
base image must fail the same job with ``ModuleNotFoundError: No module named 'nats'``.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest

from ray_worker_image.e2e import (
    E2E_LABEL,
    MISSING_NATS,
    E2EError,
    judge,
    miniature_cluster,
    run_e2e,
)
from ray_worker_image.engine import Engine

from ..conftest import Built

pytestmark = [pytest.mark.e2e, pytest.mark.engine]


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


def test_results_arrive_exactly_once_from_the_workers(
    engine: Engine,
    built: Built,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
) -> None:
    report = run_e2e(engine, built.image.image_id, workers=2, tasks=4)
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

    # On the workers, never the head, and every worker took part.
    hosts = {result["hostname"] for result in job.received}
    assert hosts == set(report.worker_hostnames)
    assert all(result["node_id"] != job.head_node_id for result in job.received)

    # Both HTTP clients reached the service by its name on the private network.
    for result in job.received:
        for client in ("aiohttp", "requests"):
            assert result[client]["status"] == 200
            assert result[client]["body"]["e2e_run"] == report.run_id

    assert report.first_task_latency_s is not None
    assert 0 < report.first_task_latency_s <= job.total_s
    assert report.run_id is not None
    assert leftovers(engine, report.run_id) == []


def test_plain_base_fails_without_nats(engine: Engine, base_image: str) -> None:
    report = run_e2e(engine, base_image, expect_nats=False, workers=2, tasks=4)
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


def end_inside(engine: Engine, image: str, run_id: str, ending: str) -> None:
    with miniature_cluster(engine, image, workers=1, run_id=run_id) as cluster:
        present = leftovers(engine, run_id)
        # nats, http, head, one worker and the network: the query does see a live run.
        assert len(present) == 5, present
        assert cluster.network in present
        if ending == "SIGTERM":
            # What a CI cancel sends; the cluster turns it into KeyboardInterrupt.
            os.kill(os.getpid(), signal.SIGTERM)
        raise Boom


def start_with_a_dying_nats(engine: Engine, image: str, run_id: str) -> None:
    with miniature_cluster(engine, image, workers=1, run_id=run_id, nats_server=Path("/bin/false")):
        pytest.fail("the cluster came up with a NATS server that exits at once")


@pytest.mark.parametrize("ending", ["body raises", "SIGTERM", "startup fails"])
def test_nothing_is_left_behind(engine: Engine, built: Built, ending: str) -> None:
    run_id = f"t{uuid.uuid4().hex[:7]}"
    sigterm_before = signal.getsignal(signal.SIGTERM)
    if ending == "startup fails":
        with pytest.raises(E2EError, match="exited"):
            start_with_a_dying_nats(engine, built.image.image_id, run_id)
    else:
        with pytest.raises(Boom if ending == "body raises" else KeyboardInterrupt):
            end_inside(engine, built.image.image_id, run_id, ending)
    assert leftovers(engine, run_id) == []
    assert signal.getsignal(signal.SIGTERM) == sigterm_before
