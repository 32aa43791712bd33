"""e2e.verdict: exactly once, intact, on the task workers; the negative control's failure."""

from __future__ import annotations

import json

from ray_worker_image.e2e.job import MARKER
from ray_worker_image.e2e.verdict import (
    MISSING_NATS,
    Consumed,
    Expectation,
    JobResult,
    check_run,
    judge,
    parse_job_output,
)

BODY = {"e2e_run": "r1"}
EXPECT = Expectation(("w0", "w1"), ("n0", "n1"), BODY)


def result(i: int, host: str = "w0", node: str = "n0") -> dict:
    call = {"status": 200, "body": BODY}
    return {
        "task_id": f"t{i}",
        "hostname": host,
        "node_id": node,
        "aiohttp": call,
        "requests": call,
    }


def good() -> tuple[dict, Consumed]:
    published = [result(0), result(1, "w1", "n1")]
    document = {"published": published, "errors": [], "worker_node_ids": ["n0", "n1"]}
    return document, Consumed(received=list(published))


def test_good_run_has_no_problems() -> None:
    document, seen = good()
    assert check_run(EXPECT, 2, document, seen, (0, ""), 60) == []


def test_duplicate_missing_wrong_worker_and_late_are_named() -> None:
    document, seen = good()
    seen.received.append(result(0))
    seen.late = 1
    seen.received[1] = result(1, "head", "h")
    problems = check_run(EXPECT, 2, document, seen, (0, ""), 60)
    assert "t0 received 2 times" in problems
    assert "1 messages arrived after the job had finished" in problems
    assert "t1 ran on head, not on a task worker" in problems
    assert "t1: received payload differs from the one published" in problems


def test_unfinished_job() -> None:
    document, seen = good()
    assert "the job did not finish within 60s" in check_run(EXPECT, 2, document, seen, None, 60)


def test_job_output_marker() -> None:
    out = f"noise\n{MARKER}{json.dumps({'published': []})}\n"
    assert parse_job_output(out) == {"published": []}
    assert parse_job_output("no marker") is None


def job(output: str, code: int | None, received: tuple = (), problems: tuple = ()) -> JobResult:
    return JobResult("j", 2, code, output, (), received, 0, 0, None, None, None, 1.0, problems)


def test_negative_control_passes_only_on_the_missing_module() -> None:
    failing = job(f"ray.exceptions.RayTaskError\n{MISSING_NATS}\n", 1, problems=("exited 1",))
    assert judge(failing, expect_nats=False) is None
    assert judge(failing, expect_nats=True) is not None
    other = job("ValueError: boom\n", 1, problems=("the job exited 1",))
    assert "expected the job to fail" in (judge(other, expect_nats=False) or "")
    delivered = job(MISSING_NATS, 1, received=({"task_id": "t0"},))
    assert judge(delivered, expect_nats=False) is not None
