"""The agent job the fleet's orchestrator submits, as `ray_worker_image.e2e` runs it.

It is copied into a driver container of the image (its own container, as the orchestrator
is its own pod) and run there by the image's Python, which connects with the Ray Client to
``ray://<head svc>:10001`` (the design note's RAY_ADDRESS). The host imports it only for
``MARKER``: keep it Python 3.9 and standard-library-only at module level. Each task asks for
what the fleet's agent tasks ask for (one GPU, so it lands on the GPU group) and does what
the fleet's VLLMAgentJob does on a KubeRay worker: call an HTTP model service with aiohttp
and with requests, connect to NATS, publish its JSON result to JetStream
``agent.response.completed`` and wait for the PubAck. The driver prints one line
``E2E_JOB_RESULT <json>`` that the harness compares with what its consumer received.
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
    parser.add_argument("--address", required=True)
    parser.add_argument("--num-gpus", type=float, required=True)
    parser.add_argument("--timeout", type=float, required=True)
    parser.add_argument("--runtime-env", default="{}")
    args = parser.parse_args(argv)

    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    submitted = time.time()
    # The head's Ray Client proxier starts a server process per driver; on a loaded machine
    # that start can fail ("Initialization failure from server"). An orchestrator retries the
    # connection, so does this driver: three attempts, a few seconds apart, then it fails.
    for attempt in range(3):
        try:
            ray.init(address=args.address, runtime_env=json.loads(args.runtime_env) or None)
            break
        except ConnectionError as exc:
            if attempt == 2:
                raise
            print(f"ray.init attempt {attempt + 1} failed: {exc}; retrying", file=sys.stderr)
            time.sleep(3)
    connected = time.time()
    alive = [node for node in ray.nodes() if node["Alive"]]
    if args.num_gpus:
        targets = [n for n in alive if n["Resources"].get("GPU", 0) >= args.num_gpus]
    else:  # no GPU group: every worker (the head offers node:__internal_head__)
        targets = [n for n in alive if "node:__internal_head__" not in n["Resources"]]
    workers = sorted(node["NodeID"] for node in targets)

    # num_gpus sends the tasks to the GPU group, as the fleet's agent tasks ask for a GPU.
    # Hard node affinity on top deals them round-robin, because SPREAD is only a preference
    # and every worker's image must be exercised. max_retries=0: a retried task would publish
    # twice, and the exactly-once check must see that rather than have Ray hide it.
    demand = {"num_gpus": args.num_gpus} if args.num_gpus else {"num_cpus": 1}
    agent = ray.remote(max_retries=0, **demand)(agent_task)
    refs = []
    for i in range(args.tasks if workers else 0):
        pinned = NodeAffinitySchedulingStrategy(workers[i % len(workers)], soft=False)
        refs.append(
            agent.options(scheduling_strategy=pinned).remote(
                f"{args.job_id}-{i}", args.job_id, args.nats_url, args.http_url, args.subject
            )
        )
    errors = [] if workers else [f"no alive node offers what the tasks ask for: {demand}"]

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
