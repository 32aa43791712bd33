"""The orchestrator's side: a JetStream stream and durable pull consumer on the host, and the
agent job run by a driver in its own container through the Ray Client.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import os
import tarfile
import threading
import time
import uuid
from collections.abc import Callable
from importlib import resources
from typing import Any

import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from ..engine import RunningContainer
from .cluster import Cluster
from .hostbin import E2EError
from .probes import ANSI
from .verdict import Consumed, Expectation, JobResult, check_run, parse_job_output

RESULT_SUBJECT = "agent.response.completed"
STREAM_NAME = "AGENT_RESPONSES"
STREAM_SUBJECTS = ("agent.response.>",)
JOB_PATH = "/tmp/e2e_job.py"


def _put_file(box: RunningContainer, path: str, data: bytes, uid: int, gid: int) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        info = tarfile.TarInfo(os.path.basename(path))
        info.size, info.mode, info.uid, info.gid = len(data), 0o644, uid, gid
        info.mtime = int(time.time())
        tar.addfile(info, io.BytesIO(data))
    box.put_archive(os.path.dirname(path), buffer.getvalue())


def _in_thread(func: Callable[[], tuple[int, str]]) -> concurrent.futures.Future[tuple[int, str]]:
    """Run a blocking engine call beside the event loop, in a daemon thread: if the job
    hangs, neither ``asyncio.run`` nor interpreter exit may wait for it (removing the driver
    container ends the call)."""
    future: concurrent.futures.Future[tuple[int, str]] = concurrent.futures.Future()

    def target() -> None:
        try:
            future.set_result(func())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=target, name="e2e-job", daemon=True).start()
    return future


async def _consume(
    cluster: Cluster,
    driver: RunningContainer,
    job_id: str,
    argv: list[str],
    *,
    timeout: float,
    grace: float,
) -> tuple[Consumed, float, tuple[int, str] | None]:
    seen = Consumed()
    client = await nats.connect(cluster.nats_host_url, connect_timeout=5)
    try:
        js = client.jetstream()
        # The orchestrator owns the stream and its consumer and creates them before any job
        # runs, so no result can be published into the void.
        await js.add_stream(name=STREAM_NAME, subjects=list(STREAM_SUBJECTS))
        subscription = await js.pull_subscribe(
            RESULT_SUBJECT,
            durable=f"orchestrator-{job_id}",
            stream=STREAM_NAME,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW, ack_policy=AckPolicy.EXPLICIT, ack_wait=30
            ),
        )

        async def take(wait: float) -> bool:
            try:
                messages = await subscription.fetch(1, timeout=wait)
            except nats.errors.TimeoutError:
                return False
            for message in messages:
                if seen.first_at is None:
                    seen.first_at = time.monotonic()
                if message.metadata.num_delivered > 1:
                    seen.redelivered += 1
                try:
                    seen.received.append(json.loads(message.data))
                except ValueError:
                    seen.undecodable += 1
                # ack_sync: the server confirms each ack, so "no redelivery" below is a fact
                # and not a race with an ack still in flight.
                await message.ack_sync(timeout=5)
            return True

        seen.submitted, seen.submitted_wall = time.monotonic(), time.time()
        job = _in_thread(lambda: driver.exec(argv))
        deadline = seen.submitted + timeout + 15
        while time.monotonic() < deadline:
            done = job.done()
            # Tasks return only after their PubAck, so once the job is done and a fetch
            # comes back empty, every result is in hand.
            if not await take(0.5) and done:
                break
        finished = time.monotonic()
        grace_end = time.monotonic() + grace
        while (left := grace_end - time.monotonic()) > 0.05:
            before = len(seen.received) + seen.undecodable
            if not await take(left):
                break
            seen.late += len(seen.received) + seen.undecodable - before
        info = await subscription.consumer_info()
        if info.num_redelivered:
            seen.consumer_problems.append(f"consumer counts {info.num_redelivered} redeliveries")
        if info.num_ack_pending:
            seen.consumer_problems.append(f"{info.num_ack_pending} messages left unacknowledged")
        if info.num_pending:
            seen.consumer_problems.append(f"{info.num_pending} messages left undelivered")
    finally:
        await client.close()
    outcome: tuple[int, str] | None = None
    if job.done():
        try:
            outcome = job.result()
        except Exception as exc:
            raise E2EError(f"{driver.name}: cannot run the job: {exc}") from None
    return seen, finished, outcome


def run_agent_job(
    cluster: Cluster,
    *,
    uid: int,
    gid: int,
    tasks: int = 4,
    timeout: float = 120.0,
    grace: float = 2.0,
    runtime_env: dict[str, Any] | None = None,
) -> JobResult:
    """Run the agent job from a driver container through ``ray://<head svc>:10001``.

    The driver is its own container of the image on the cluster's network (the orchestrator
    is its own pod); ``uid``/``gid`` own the copied job script. ``runtime_env`` goes to the
    driver's ``ray.init`` (the benchmark compares it with the baked-in nats-py). Raises
    :class:`E2EError` only when the driver cannot be started; a failed job is in the result.
    """
    job_id = f"job-{uuid.uuid4().hex[:8]}"
    driver = cluster.engine.run(
        cluster.image,
        ["sleep", "infinity"],
        name_prefix=f"{cluster.network}-driver",
        network=cluster.network,
        hostname=f"{cluster.network}-driver",
        extra_labels=cluster.labels,
    )
    try:
        script = resources.files(__package__).joinpath("job.py").read_bytes()
        _put_file(driver, JOB_PATH, script, uid, gid)
        argv = [
            # The driver bounds its own waits; `timeout` also bounds ray.init and a driver
            # that hangs anyway, so the exec always returns.
            "timeout", "-k", "5", str(int(timeout) + 10),
            cluster.python, JOB_PATH,
            "--address", cluster.plan.client_address,
            "--job-id", job_id,
            "--tasks", str(tasks),
            "--num-gpus", str(cluster.plan.task_gpus),
            "--nats-url", cluster.nats_url,
            "--http-url", cluster.http_url,
            "--subject", RESULT_SUBJECT,
            "--timeout", str(timeout),
            "--runtime-env", json.dumps(runtime_env or {}),
        ]  # fmt: skip
        seen, finished, outcome = asyncio.run(
            _consume(cluster, driver, job_id, argv, timeout=timeout, grace=grace)
        )
    finally:
        driver.remove()
    # Ray colours its task names; the output is read by people in CI logs and by regexes.
    output = ANSI.sub("", outcome[1]) if outcome else ""
    document = parse_job_output(output)
    expect = Expectation(cluster.task_hostnames, cluster.task_node_ids, cluster.http_body)
    problems = check_run(expect, tasks, document, seen, outcome, timeout)
    published = tuple((document or {}).get("published", []))
    return JobResult(
        job_id=job_id,
        tasks=tasks,
        exit_code=outcome[0] if outcome else None,
        output=output,
        published=published,
        received=tuple(seen.received),
        redelivered=seen.redelivered,
        late=seen.late,
        first_result_s=None if seen.first_at is None else seen.first_at - seen.submitted,
        driver_connected_s=(
            document["connected_at"] - seen.submitted_wall
            if document and "connected_at" in document
            else None
        ),
        first_task_started_s=min(
            (p["started_at"] - seen.submitted_wall for p in published if "started_at" in p),
            default=None,
        ),
        total_s=finished - seen.submitted,
        problems=tuple(problems),
    )
