"""The Ray job `ray_worker_image.e2e` submits to the head of a miniature cluster.

It is copied into the head container and run there by the image's own Python
(3.9, with Ray). The host imports it only for ``MARKER``: keep it Python 3.9
and standard-library-only at module level. Each task does what the fleet's
VLLMAgentJob does on a KubeRay worker: call an HTTP service with aiohttp and
with requests, connect to NATS, publish its JSON result to JetStream and wait
for the PubAck. The driver prints one line ``E2E_JOB_RESULT <json>`` that the
harness compares with what its consumer received.
"""
# The host venv has no Ray and mypy checks this file as Python 3.11 code; what
# matters here is that it runs on the image's Python, which the e2e test proves.
# mypy: ignore-errors

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import sys
import time
import traceback

MARKER = "E2E_JOB_RESULT "


async def _agent(task_id, job_id, nats_url, http_url, subject):
    # Imported where the fleet's agent job imports it, so that on an image
    # without nats-py the task fails exactly as it does on the real cluster.
    import aiohttp
    import nats
    import ray
    import requests

    started = time.time()
    # No parenthesised multi-item `async with`: that needs Python 3.10.
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    try:
        async with session.get(http_url) as response:
            via_aiohttp = {"status": response.status, "body": await response.json()}
    finally:
        await session.close()
    reply = requests.get(http_url, timeout=10)
    via_requests = {"status": reply.status_code, "body": reply.json()}

    result = {
        "task_id": task_id,
        "job_id": job_id,
        "hostname": socket.gethostname(),
        "node_id": ray.get_runtime_context().get_node_id(),
        "aiohttp": via_aiohttp,
        "requests": via_requests,
        "started_at": started,
    }
    client = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=3)
    try:
        ack = await client.jetstream().publish(subject, json.dumps(result).encode(), timeout=10)
    finally:
        await client.close()
    return {"payload": result, "ack": {"stream": ack.stream, "seq": ack.seq}}


def agent_task(task_id, job_id, nats_url, http_url, subject):
    return asyncio.run(_agent(task_id, job_id, nats_url, http_url, subject))


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--tasks", type=int, required=True)
    parser.add_argument("--nats-url", required=True)
    parser.add_argument("--http-url", required=True)
    parser.add_argument("--subject", required=True)
    parser.add_argument("--resource", required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--runtime-env", default="{}")
    args = parser.parse_args(argv)

    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    submitted = time.time()
    ray.init(address="auto", runtime_env=json.loads(args.runtime_env) or None)
    connected = time.time()
    head_node_id = ray.get_runtime_context().get_node_id()
    workers = sorted(
        node["NodeID"]
        for node in ray.nodes()
        if node["Alive"] and node["Resources"].get(args.resource)
    )

    # The custom resource alone keeps tasks off the head (it offers none), as a
    # KubeRay worker group's resources do. Hard node affinity on top deals the
    # tasks round-robin, because SPREAD is only a preference and every worker's
    # image must be exercised. max_retries=0: a retried task would publish twice,
    # and the exactly-once check must see that rather than have Ray hide it.
    agent = ray.remote(num_cpus=1, resources={args.resource: 1}, max_retries=0)(agent_task)
    refs = []
    for i in range(args.tasks if workers else 0):
        pinned = NodeAffinitySchedulingStrategy(workers[i % len(workers)], soft=False)
        refs.append(
            agent.options(scheduling_strategy=pinned).remote(
                f"{args.job_id}-{i}", args.job_id, args.nats_url, args.http_url, args.subject
            )
        )
    errors = [] if workers else [f"no alive node offers the resource {args.resource!r}"]

    deadline = submitted + args.timeout
    outcomes = []
    for ref in refs:
        try:
            outcomes.append(ray.get(ref, timeout=max(1.0, deadline - time.time())))
        except Exception as exc:  # a task error is data for the harness, not a crash
            errors.append("".join(traceback.format_exception_only(type(exc), exc)).strip())
            print(str(exc), file=sys.stderr, flush=True)

    print(
        MARKER
        + json.dumps(
            {
                "head_node_id": head_node_id,
                "worker_node_ids": workers,
                "submitted_at": submitted,
                "connected_at": connected,
                "published": [o["payload"] for o in outcomes],
                "acks": [o["ack"] for o in outcomes],
                "errors": errors,
            }
        ),
        flush=True,
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
