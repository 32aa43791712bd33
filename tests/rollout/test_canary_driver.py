"""The canary driver (templates/canary_driver.py.j2) against a real nats-server.

Ray's boundary is the stand-in of ``canary_ray.py`` (tasks run in the driver's process);
everything NATS is real: connect + flush, JetStream account info, publish + PubAck.
"""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ray_worker_image.e2e.hostbin import E2EError, find_nats_server
from ray_worker_image.rollout.canary_job import driver_source

from .canary_ray import add_stream, fake_ray, free_port, nats_server

try:
    find_nats_server()
except E2EError:  # pragma: no cover - depends on the host
    pytest.skip("no nats-server on this host", allow_module_level=True)

IP = "10.0.0.7"


def run(
    tmp: Path, url: str, subject: str = "", ips: str = IP, timeout: str = "20", **env: str
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, object]]]:
    log = tmp / "ray.jsonl"
    log.unlink(missing_ok=True)
    base = {k: v for k, v in os.environ.items() if k != "NATS_URL"}
    done = subprocess.run(
        [sys.executable, "-", ips, url, subject, timeout],
        input=driver_source(),
        capture_output=True,
        text=True,
        env={
            **base,
            "PYTHONPATH": str(fake_ray(tmp / "fake")),
            "FAKE_RAY_NODES": json.dumps(["10.0.0.9", IP]),
            "FAKE_RAY_LOG": str(log),
            **env,
        },
        timeout=60,
        check=False,
    )
    pinned = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    return done, pinned


def verdict(done: subprocess.CompletedProcess[str]) -> str:
    (line,) = done.stdout.splitlines()  # one line, always
    return line


def test_publishes_one_message_and_waits_for_its_puback(tmp_path: Path) -> None:
    with nats_server(tmp_path) as url:
        add_stream(url, "CANARY", "canary.>")
        done, pinned = run(tmp_path, url, "canary.rollout")
    assert done.returncode == 0, done.stdout + done.stderr
    line = verdict(done)
    assert line.startswith("canary: OK: 1 node(s) (10.0.0.7) import nats-py 2.")
    assert "JetStream reached (1 stream(s)); PubAck CANARY#1" in line
    # pinned by node id to the canary pod's node, hard, never retried (no double publish)
    assert pinned == [{"node_id": "node-10.0.0.7", "soft": False, "max_retries": 0}]


def test_by_default_nothing_is_published(tmp_path: Path) -> None:
    with nats_server(tmp_path) as url:
        add_stream(url, "CANARY", "canary.>")
        done, _ = run(tmp_path, url)
        line = verdict(done)
    assert done.returncode == 0, done.stderr
    assert line.endswith("JetStream reached (1 stream(s)); nothing published")


def test_the_url_comes_from_the_pods_nats_url(tmp_path: Path) -> None:
    with nats_server(tmp_path) as url:
        done, _ = run(tmp_path, "", NATS_URL=url)
    assert done.returncode == 0, done.stderr
    assert verdict(done).startswith("canary: OK: ")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("no stream", "canary: FAILED: LookupError: no JetStream stream captures subject"),
        ("no jetstream", "canary: FAILED: RuntimeError: JetStream is not enabled at nats://"),
        ("no server", "canary: FAILED: ConnectionError: no connection to NATS at nats://"),
        ("no nats-py", "canary: FAILED: ModuleNotFoundError: No module named 'nats'"),
        ("timeout", "canary: FAILED: timed out after 20s waiting for the task on node 10.0.0.7"),
        ("no url", "canary: FAILED: LookupError: no NATS URL: NATS_URL is not set in this pod"),
        ("no node", "canary: FAILED: no alive Ray node at 10.0.0.8 (canary pod IPs) after 0.2s"),
        ("no pod", "canary: FAILED: the canary group has no running pod (scaled to zero?)"),
    ],
)
def test_each_failure_is_one_named_line(tmp_path: Path, case: str, expected: str) -> None:
    with nats_server(tmp_path, jetstream=case != "no jetstream") as url:
        args: dict[str, str] = {"url": url}
        if case == "no stream":
            args["subject"] = "nobody.captures.this"
        if case == "no server":
            args["url"] = f"nats://user:s3cret@127.0.0.1:{free_port()}"
        if case == "no url":
            args["url"] = ""
        if case == "no pod":
            args["ips"] = ""
        if case == "no node":
            args |= {"ips": "10.0.0.8", "timeout": "0.2"}  # the wait, injected
        env = {"no nats-py": {"FAKE_RAY_NO_NATS": "1"}, "timeout": {"FAKE_RAY_HANG": "1"}}
        done, _ = run(tmp_path, **args, **env.get(case, {}))
    assert done.returncode == 1
    line = verdict(done)
    assert line.startswith(expected), line
    assert "Traceback" not in line and "s3cret" not in done.stdout + done.stderr
    if case == "no stream":
        assert "'nobody.captures.this'" in line


RAY_PYTHON = os.environ.get("RAY_IMAGE_CANARY_RAY_PYTHON")  # a Python with ray, nats-py...


@pytest.mark.skipif(not RAY_PYTHON, reason="set RAY_IMAGE_CANARY_RAY_PYTHON to a Python with ray")
def test_the_driver_on_a_real_local_ray_cluster(tmp_path: Path) -> None:
    """The same driver on real Ray (``ray start --head`` of that Python): node ids by IP,
    NodeAffinitySchedulingStrategy, a task's error as its cause (RayTaskError.cause)."""
    assert RAY_PYTHON
    ray_cli = str(Path(RAY_PYTHON).parent / "ray")
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    port = str(free_port())
    start = [ray_cli, "start", "--head", "--block", "--port", port, "--num-cpus", "1",
             "--include-dashboard=false", "--disable-usage-stats"]  # fmt: skip
    # Its own session, ended by its process group: never `ray stop`, which ends every Ray
    # process on the host (other users', containers' too).
    head = subprocess.Popen(start, env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        env["RAY_ADDRESS"] = f"127.0.0.1:{port}"
        ask = "import ray; ray.init(); print(ray.nodes()[0]['NodeManagerAddress'])"
        deadline = time.monotonic() + 120
        while True:
            asked = subprocess.run(
                [RAY_PYTHON, "-c", ask], env=env, capture_output=True, text=True, check=False
            )
            if asked.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert asked.returncode == 0, asked.stderr
        ip = asked.stdout.split()[-1]
        with nats_server(tmp_path) as url:
            add_stream(url, "CANARY", "canary.>")
            results = [
                subprocess.run(
                    [RAY_PYTHON, "-", ip, url, subject, "60"], input=driver_source(), env=env,
                    capture_output=True, text=True, timeout=180, check=False,
                )
                for subject in ("canary.rollout", "nobody.here")
            ]  # fmt: skip
    finally:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
    ok, no_stream = results
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert verdict(ok).startswith(f"canary: OK: 1 node(s) ({ip}) import nats-py")
    assert verdict(ok).endswith("PubAck CANARY#1")
    assert no_stream.returncode == 1
    assert verdict(no_stream) == (
        "canary: FAILED: LookupError: no JetStream stream captures subject 'nobody.here' at"
        f" {url} (task on node {ip})"
    )


def test_the_driver_is_python_39_and_imports_only_ray_at_the_top() -> None:
    """The head runs the old image: Ray's Python 3.9 images, possibly without nats-py."""
    tree = ast.parse(driver_source(), feature_version=(3, 9))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    assert sorted(a.name for n in top for a in n.names) == ["re", "sys", "time"]
    (main,) = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main"]
    inside = [a.name for n in ast.walk(main) if isinstance(n, ast.Import) for a in n.names]
    assert inside == ["ray"]
