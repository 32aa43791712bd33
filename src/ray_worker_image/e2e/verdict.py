"""The verdict on one agent job (pure): did every result arrive exactly once, intact, from
the right workers; or, for the negative control, did the job fail as the design note saw it.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from .job import MARKER

MISSING_NATS = "ModuleNotFoundError: No module named 'nats'"


@dataclass(frozen=True)
class Expectation:
    """What a good run looks like: where tasks must run, what the HTTP service answers."""

    task_hostnames: tuple[str, ...]  # containers of the workers that may run agent tasks
    task_node_ids: tuple[str, ...]  # their Ray node ids
    http_body: dict[str, Any]


@dataclass
class Consumed:
    """What the orchestrator's durable pull consumer saw."""

    received: list[dict[str, Any]] = field(default_factory=list)
    redelivered: int = 0
    late: int = 0
    undecodable: int = 0
    first_at: float | None = None
    submitted: float = 0.0  # monotonic
    # Wall clock only to place the tasks' own timestamps: host and containers share a clock.
    submitted_wall: float = 0.0
    consumer_problems: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class JobResult:
    job_id: str
    tasks: int
    exit_code: int | None  # None: the job had not finished when the harness gave up
    output: str
    published: tuple[dict[str, Any], ...]  # what the job says its tasks published
    received: tuple[dict[str, Any], ...]  # what the consumer received, in order
    redelivered: int
    late: int  # messages that arrived in the grace window after the job was done
    first_result_s: float | None  # submit -> first result received by the consumer
    driver_connected_s: float | None  # submit -> the driver's ray.init returned
    first_task_started_s: float | None  # submit -> the first task began on a worker
    total_s: float  # submit -> job done and the stream drained
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def error(self) -> str | None:
        """The most telling exception line of the job's output, if any."""
        lines = [line.strip() for line in self.output.splitlines()]
        plain = [line for line in lines if re.match(r"^[A-Za-z_]\w*(Error|Exception): ", line)]
        return plain[0] if plain else None


def parse_job_output(output: str) -> dict[str, Any] | None:
    """The driver's ``E2E_JOB_RESULT <json>`` line (the last one), or None."""
    for line in reversed(output.splitlines()):
        if line.startswith(MARKER):
            with contextlib.suppress(ValueError):
                document: dict[str, Any] = json.loads(line[len(MARKER) :])
                return document
    return None


def check_run(
    expect: Expectation,
    tasks: int,
    document: dict[str, Any] | None,
    seen: Consumed,
    outcome: tuple[int, str] | None,
    timeout: float,
) -> list[str]:
    """Everything that is wrong with the run; empty when every result came exactly once."""
    problems: list[str] = []
    if outcome is None:
        problems.append(f"the job did not finish within {timeout:.0f}s")
    elif outcome[0] != 0:
        problems.append(f"the job exited {outcome[0]}")
    if document is None:
        problems.append("the job printed no result line")
        document = {}
    problems += [f"task failed: {line.splitlines()[-1]}" for line in document.get("errors", [])]
    published = {p["task_id"]: p for p in document.get("published", [])}
    if len(published) != tasks:
        problems.append(f"the job published {len(published)} of {tasks} results")
    counts = Counter(str(r.get("task_id")) for r in seen.received)
    problems += [f"{task} received {n} times" for task, n in counts.items() if n > 1]
    problems += [f"{task} never received" for task in published if task not in counts]
    problems += [f"unexpected result {task}" for task in counts if task not in published]
    if seen.undecodable:
        problems.append(f"{seen.undecodable} messages were not JSON")
    if seen.redelivered:
        problems.append(f"{seen.redelivered} messages were redeliveries")
    if seen.late:
        problems.append(f"{seen.late} messages arrived after the job had finished")
    problems += seen.consumer_problems
    for result in seen.received:
        task = result.get("task_id")
        if task in published and result != published[task]:
            problems.append(f"{task}: received payload differs from the one published")
        if result.get("hostname") not in expect.task_hostnames:
            problems.append(f"{task} ran on {result.get('hostname')}, not on a task worker")
        if result.get("node_id") not in expect.task_node_ids:
            problems.append(f"{task} ran on Ray node {result.get('node_id')}, not a task worker")
        for client in ("aiohttp", "requests"):
            call = result.get(client) or {}
            if call.get("status") != 200 or call.get("body") != expect.http_body:
                problems.append(f"{task}: the {client} call did not get the service's body")
    if document and set(document.get("worker_node_ids", [])) != set(expect.task_node_ids):
        problems.append("the driver saw other task workers than the cluster started")
    used = {r.get("hostname") for r in seen.received} & set(expect.task_hostnames)
    if seen.received and len(used) < min(tasks, len(expect.task_hostnames)):
        problems.append(f"tasks ran on {len(used)} of {len(expect.task_hostnames)} workers")
    return problems


def judge(job: JobResult, *, expect_nats: bool) -> str | None:
    """Why the run fails its expectation, or None when it meets it."""
    if expect_nats:
        if job.ok:
            return None
        shown = "; ".join(job.problems[:6]) + (" ..." if len(job.problems) > 6 else "")
        return shown + (f" (job error: {job.error})" if job.error else "")
    # The negative control: an image without nats-py must fail the way the design note saw
    # the real cluster fail, and deliver nothing.
    if MISSING_NATS in job.output and job.exit_code not in (0, None) and not job.received:
        return None
    return (
        f"expected the job to fail with {MISSING_NATS!r} and deliver nothing; it exited "
        f"{job.exit_code}, delivered {len(job.received)} results"
        + (f", error: {job.error}" if job.error else "")
    )
