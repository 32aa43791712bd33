"""rollout.sh's canary stage, run end to end against the kubectl stand-in.

The stand-in (``STUB`` of test_rollout_kubectl.py) serves the RayCluster and its pods from
files, hands every patch and jsonpath to the real kubectl, recreates deleted pods from the
patched template and records every call; ``kubectl exec -i HEAD -- python -`` runs the
very driver the script pipes in, with the stand-in ``ray`` of canary_ray.py, whose tasks
reach a real nats-server. Asserted: the order (canary group patched and restarted first,
the job, the other groups, the head last), the rollback of the canary group on each kind
of failure with one line and exit 1, the refusal before any patch without a NATS URL, and
each skip said.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ray_worker_image.e2e.hostbin import E2EError, find_nats_server
from ray_worker_image.rollout import (
    Accepted,
    load_cluster,
    plan_rollout,
    view_from_object,
    write_outputs,
)
from ray_worker_image.rollout.canary import CanaryOptions
from ray_worker_image.rollout.options import ClusterOptions, with_canary
from ray_worker_image.rollout.read import assumed_view

from .canary_ray import add_stream, fake_ray, free_port, nats_server
from .test_rollout_kubectl import (
    DATA,
    KUBECTL,
    SCRIPT_TIMEOUT,
    STUB,
    image_for,
    kubectl_cache,
    render,
)

pytestmark = pytest.mark.kubectl
try:
    find_nats_server()
except E2EError:  # pragma: no cover - depends on the host
    pytest.skip("no nats-server on this host", allow_module_level=True)

FIXTURE = "two-groups-gpu-second.yaml"  # cpu-workers (1 pod), gpu-workers (2 pods), head
OLD = "rayproject/ray:2.49.2"


class Live:
    """rollout.sh with a canary stage, next to the kubectl stand-in serving ``obj``."""

    def __init__(
        self,
        tmp: Path,
        options: CanaryOptions,
        *,
        restart: str = "all",
        env_url: str | None = None,
        live: bool = True,
    ) -> None:
        home = tmp / "home"
        home.mkdir(parents=True)
        env = {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "none")}
        env.pop("NATS_URL", None)
        obj = load_cluster(str(DATA / "clusters" / FIXTURE))
        if env_url is not None:  # NATS_URL on the Ray container of every worker group
            for group in obj["spec"]["workerGroupSpecs"]:
                container = group["template"]["spec"]["containers"][0]
                container["env"] = [*container["env"], {"name": "NATS_URL", "value": env_url}]
        self.original = render(obj, env, tmp)
        self.image = image_for(obj)
        view = (
            view_from_object(obj, source=FIXTURE)
            if live
            else assumed_view("ray-gpu", "ray", ["cpu-workers", "gpu-workers"], current_image=OLD)
        )
        plan = plan_rollout(
            view,
            self.image,
            expected_ray_version="2.49.2",
            restart=restart,
            accepted=Accepted(images=("docker.io/" + OLD,)),
        )
        self.plan = with_canary(plan, ClusterOptions(canary=options), obj if live else None)
        self.out = tmp / "out"
        write_outputs(self.plan, self.out)
        self.state = tmp / "state"
        self.state.mkdir()
        (self.state / "rc.json").write_text(json.dumps(self.original))
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").write_text(f"#!{sys.executable} -IS\n{STUB}")
        (bin_dir / "kubectl").chmod(0o755)
        self.env = {
            **env,
            "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
            "STUB_STATE": str(self.state),
            "STUB_REAL_KUBECTL": str(KUBECTL),
            "STUB_KUBECTL_CACHE": kubectl_cache(tmp),
            "STUB_NATS_IMAGE": self.image,
            "STUB_FAKE_RAY": str(fake_ray(tmp / "fake")),
            "ROLLOUT_POLL_SECONDS": "0.01",
            "ROLLOUT_TIMEOUT_SECONDS": "30",
            "ROLLOUT_CANARY_TIMEOUT_SECONDS": "20",
        }
        self.run_stub(["get", "pods", "-n", "ray", "-l", "ray.io/cluster=x", "-o", "name"])
        (self.state / "calls.jsonl").unlink()
        self.first_pods = self.pods()

    def run_stub(self, args: list[str]) -> None:
        subprocess.run([str(self.out.parent / "bin/kubectl"), *args], env=self.env, check=True,
                       capture_output=True)  # fmt: skip

    def script(self, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.out / "rollout.sh")],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )

    def live(self) -> Any:
        return json.loads((self.state / "rc.json").read_text())

    def pods(self) -> dict[str, str]:
        pods = json.loads((self.state / "pods.json").read_text())
        return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in pods}

    def ips(self, group: str) -> list[str]:
        pods = json.loads((self.state / "pods.json").read_text())
        return [
            p["status"]["podIP"] for p in pods if p["metadata"]["labels"]["ray.io/group"] == group
        ]

    def pinned(self) -> list[str]:
        log = self.state / "ray.jsonl"
        return (
            [json.loads(x)["node_id"] for x in log.read_text().splitlines()] if log.exists() else []
        )

    def steps(self) -> list[str]:
        """Calls that change or run something, in order: patch:FILE, delete:GROUP, job, check."""
        out = []
        for call in [json.loads(x) for x in (self.state / "calls.jsonl").read_text().splitlines()]:
            if call[0] == "patch":
                file = next(a for a in call if a.startswith("--patch-file="))[13:]
                out.append(f"patch:{file}" + (" (dry run)" if "--dry-run=server" in call else ""))
            elif call[0] == "delete":
                out.append("delete:" + call[-1].rsplit("=", 1)[-1])
            elif call[0] == "exec":
                out.append("job" if call[-5:-4] == ["-"] else "check")
        return out

    def gets(self) -> list[list[str]]:
        calls = [json.loads(x) for x in (self.state / "calls.jsonl").read_text().splitlines()]
        return [c for c in calls if c[0] == "get"]


def one_error(done: subprocess.CompletedProcess[str]) -> str:
    """The script's one error line (its last on stderr, starting rollout.sh:)."""
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("rollout.sh: "), done.stderr
    assert "Traceback" not in done.stderr.split("==> Roll worker group")[-1]
    return line


@pytest.mark.parametrize("live", [True, False], ids=["from-live-object", "apply-time"])
def test_canary_group_first_then_the_job_then_the_others_and_the_head_last(
    tmp_path: Path, live: bool
) -> None:
    with nats_server(tmp_path) as url:
        add_stream(url, "CANARY", "canary.>")
        c = Live(tmp_path, CanaryOptions(nats_url=url, subject="canary.rollout"), live=live)
        done = c.script()
    assert done.returncode == 0, done.stdout + done.stderr
    assert c.steps()[:6] == [
        "patch:patch.json (dry run)",
        "patch:canary.json",
        "delete:cpu-workers",
        "job",
        "patch:after-canary.json",
        "delete:gpu-workers",
    ]
    assert c.steps()[6] == "delete:head"
    assert set(c.steps()[7:]) == {"check"}
    assert c.pinned() == [f"node-{ip}" for ip in c.ips("cpu-workers")]  # the new pod's node
    assert "canary: OK: 1 node(s)" in done.stdout and "PubAck CANARY#1" in done.stdout
    assert set(c.pods().values()) == {c.image}
    assert "worker group 'cpu-workers' moves first" in done.stderr


@pytest.mark.parametrize(
    ("failure", "live"),
    [
        ("no nats-py", True),
        ("no nats-py", False),  # the release's apply-time script: its own canary-rollback.json
        ("no connection", True),
        ("no PubAck", True),
        ("timeout", True),
        ("no JetStream", True),
    ],
)
def test_a_failed_job_rolls_the_canary_group_back_in_one_line(
    tmp_path: Path, failure: str, live: bool
) -> None:
    with nats_server(tmp_path, jetstream=failure != "no JetStream") as url:
        options = CanaryOptions(
            group="gpu-workers",
            nats_url=f"nats://127.0.0.1:{free_port()}" if failure == "no connection" else url,
            subject="nobody.captures.this" if failure == "no PubAck" else None,
        )
        c = Live(tmp_path, options, live=live)
        env = {"no nats-py": {"STUB_NATS_IMAGE": "x/y:1"}, "timeout": {"FAKE_RAY_HANG": "1"}}
        done = c.script(**env.get(failure, {}))
    assert done.returncode == 1
    line = one_error(done)
    expected = {
        "no nats-py": "ModuleNotFoundError: No module named 'nats' (task on node 10.0.",
        "no connection": "ConnectionError: no connection to NATS at nats://127.0.0.1:",
        "no PubAck": "LookupError: no JetStream stream captures subject 'nobody.captures.this'",
        "timeout": "timed out after 20s waiting for the task on node 10.0.",
        "no JetStream": "RuntimeError: JetStream is not enabled at nats://127.0.0.1:",
    }[failure]
    assert line.startswith("rollout.sh: canary: FAILED: " + expected), line
    assert line.endswith(
        "(worker group 'gpu-workers' rolled back to its old image; Ray's output: canary.log)"
    )
    assert c.steps() == [
        "patch:patch.json (dry run)",
        "patch:canary.json",
        "delete:gpu-workers",
        "job",
        "patch:canary-rollback.json",
        "delete:gpu-workers",
    ]
    assert json.dumps(c.live(), sort_keys=True) == json.dumps(c.original, sort_keys=True)
    pods = c.pods()
    assert set(pods.values()) == {OLD}
    kept = {n: i for n, i in c.first_pods.items() if "gpu-workers" not in n}
    assert {n: pods[n] for n in kept} == kept, "the head and cpu-workers keep their pods"
    assert len([n for n in pods if "gpu-workers" in n]) == 2, "gpu-workers recreated, on OLD"


@pytest.mark.parametrize("live", [True, False], ids=["from-live-object", "apply-time"])
def test_the_pods_nats_url_is_used_and_without_one_the_script_refuses_before_any_patch(
    tmp_path: Path, live: bool
) -> None:
    with nats_server(tmp_path) as url:
        with_env = Live(tmp_path / "env", CanaryOptions(), env_url=url, live=live)
        passed = with_env.script()
    assert passed.returncode == 0, passed.stderr
    assert "canary: OK: 1 node(s)" in passed.stdout
    assert "NATS: NATS_URL of the pods" in passed.stderr

    if live:  # knowable when the object is read: refused at render time (test_canary_plan)
        return
    c = Live(tmp_path / "none", CanaryOptions(), live=False)
    done = c.script()
    assert done.returncode == 1
    assert one_error(done) == (
        "rollout.sh: canary refused: no NATS URL for worker group 'cpu-workers' (no NATS_URL"
        " in its containers[0].env, no --nats-url, no ROLLOUT_NATS_URL); set one, or"
        " ROLLOUT_NO_CANARY=1 to skip the canary"
    )
    assert c.steps() == []  # not even the dry run
    assert c.live() == c.original and c.pods() == c.first_pods
    assert [g for g in c.gets() if "NATS_URL" in g[-1]], "the env var was looked for"


@pytest.mark.parametrize(
    ("env", "refusal"),
    [
        ({"ROLLOUT_NATS_URL": "nats://u:p@nats:4222"}, "canary refused: the NATS URL carries"),
        ({"ROLLOUT_NATS_URL": "http://nats:4222"}, "canary refused: NATS URL 'http://nats:4222'"),
    ],
)
def test_a_bad_run_time_url_is_refused_before_any_patch(
    tmp_path: Path, env: dict[str, str], refusal: str
) -> None:
    c = Live(tmp_path, CanaryOptions(), live=False)
    done = c.script(**env)
    assert done.returncode == 1
    assert one_error(done).startswith("rollout.sh: " + refusal)
    assert c.steps() == []


def test_rollout_no_canary_applies_the_whole_patch_saying_so(tmp_path: Path) -> None:
    c = Live(tmp_path, CanaryOptions(nats_url="nats://127.0.0.1:1"))
    done = c.script(ROLLOUT_NO_CANARY="1")
    assert done.returncode == 0, done.stderr
    assert "rollout.sh: canary stage skipped: ROLLOUT_NO_CANARY=1" in done.stderr
    assert c.steps()[:2] == ["patch:patch.json (dry run)", "patch:patch.json"]
    assert "job" not in c.steps() and "patch:after-canary.json" not in c.steps()
    assert set(c.pods().values()) == {c.image}


@pytest.mark.parametrize(
    ("restart", "options", "said"),
    [
        ("all", CanaryOptions(enabled=False), "--no-canary"),
        ("head", CanaryOptions(), "--restart head restarts no worker group"),
        ("none", CanaryOptions(), "--restart none restarts no worker group"),
    ],
)
def test_a_skipped_stage_says_why_when_the_script_runs(
    tmp_path: Path, restart: str, options: CanaryOptions, said: str
) -> None:
    c = Live(tmp_path, options, restart=restart)
    done = c.script()
    assert done.returncode == 0, done.stderr
    assert f"rollout.sh: canary stage skipped: {said}\n" in done.stderr
    assert "job" not in c.steps() and "canary.json" not in " ".join(c.steps())
    assert f"# Canary stage skipped: {said}." in (c.out / "rollout.sh").read_text()
    assert not (c.out / "canary.json").exists()


def test_a_failed_rollback_of_the_canary_says_what_to_do_in_one_line(tmp_path: Path) -> None:
    c = Live(tmp_path, CanaryOptions(nats_url="nats://127.0.0.1:1"))
    back = json.loads((c.out / "canary-rollback.json").read_text())
    back[0]["value"] = "9.9.9"  # someone changed rayVersion meanwhile: the guard refuses
    (c.out / "canary-rollback.json").write_text(json.dumps(back))
    done = c.script(STUB_NATS_IMAGE="x/y:1")
    assert done.returncode == 1
    line = one_error(done)
    assert line.startswith("rollout.sh: canary: FAILED: ModuleNotFoundError: No module named")
    assert line.endswith(
        "rolling worker group 'cpu-workers' back FAILED too: fix the group, then kubectl patch"
        " raycluster ray-gpu -n ray --type=json --patch-file=canary-rollback.json and delete"
        " its pods"
    )
    assert c.steps()[-2:] == ["job", "patch:canary-rollback.json"]
