"""`invoke status` through the real kubectl (issue 21 point 3), no cluster needed.

The live path runs the real kubectl binary (its one argv, ``status.fleet.kubectl_argv``)
against an API server played by this module: discovery (``/api``, ``/apis``,
``/apis/ray.io/v1``) and the three list endpoints, serving the repository's KubeRay samples and
the fleet's manifest. The same server plays the registry (``/v2/``: manifests and config
blobs) holding this revision's release of 2.49.2, so the whole command runs as a user runs it:
kubeconfig, ``--context``, ``--json``, the exit codes. The first test starts the console
script; the others run it in this process (tests/inprocess.py), the real kubectl still a
subprocess. The rehearsal's kubectl shim over local containers (issue 21 point 2) can replace
this server: the call is one argv.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from ray_worker_image import labels as L
from ray_worker_image.build import git_revision
from ray_worker_image.definition import load_variant
from ray_worker_image.records import LOCK_SHA, pushed_refs
from ray_worker_image.rollout import find_kubectl
from tests.inprocess import Ran, run_invoke

pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(find_kubectl() is None, reason="no kubectl"),
]
ROOT = Path(__file__).resolve().parents[2]
INVOKE = str(Path(sys.executable).parent / "invoke")
DATA = ROOT / "tests/data/kuberay"
RESOURCES = {"rayclusters": "RayCluster", "rayjobs": "RayJob", "rayservices": "RayService"}
CONFIG = json.dumps(
    {"config": {"Labels": {L.VARIANT: "2.49.2-py39-cpu", L.INPUT_KEY: "k", LOCK_SHA: "s"}}}
).encode()


GROUP_PATH = ["apis", "ray.io", "v1"]
V1 = {"groupVersion": "ray.io/v1", "version": "v1"}


def discovery(crds: bool) -> dict[str, Any]:
    """What kubectl's discovery asks for: path -> document (no ray.io group without CRDs)."""
    groups = [{"name": "ray.io", "versions": [V1], "preferredVersion": V1}] if crds else []
    resources = [
        {"name": r, "singularName": k.lower(), "namespaced": True, "kind": k, "verbs": ["list"]}
        for r, k in RESOURCES.items()
    ]
    found = {
        "api": {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": []},
        "version": {"major": "1", "minor": "32", "gitVersion": "v1.32.0"},
        "apis": {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups},
        "api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
    }
    if crds:
        found["apis/ray.io/v1"] = {
            "kind": "APIResourceList",
            "groupVersion": "ray.io/v1",
            "resources": resources,
        }
    return found


@dataclass
class Fake:
    """The API server's objects, and the registry's manifests (by tag and by digest)."""

    objects: list[dict[str, Any]] = field(default_factory=list)
    crds: bool = True
    blobs: dict[str, bytes] = field(default_factory=dict)
    manifests: dict[str, bytes] = field(default_factory=dict)
    port: int = 0


def handler(fake: Fake) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def reply(self, body: bytes, code: int = 200, **headers: str) -> None:
            self.send_response(code)
            headers.setdefault("Content-Type", "application/json")
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key.replace("_", "-"), value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def send(self, document: Any, code: int = 200) -> None:
            self.reply(json.dumps(document).encode(), code)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            parts = urlparse(self.path).path.strip("/").split("/")
            if parts[0] == "v2":
                return self.registry(parts[1:])
            listing = discovery(fake.crds)
            path = "/".join(parts)
            if path in listing:
                return self.send(listing[path])
            if fake.crds and parts[:3] == GROUP_PATH and parts[3:] and parts[3] in RESOURCES:
                kind = RESOURCES[parts[3]]
                items = [o for o in fake.objects if o["kind"] == kind]
                meta = {"resourceVersion": "1"}
                listed = {"apiVersion": "ray.io/v1", "kind": f"{kind}List", "metadata": meta}
                return self.send({**listed, "items": items})
            self.send(
                {"kind": "Status", "apiVersion": "v1", "code": 404, "reason": "NotFound"}, 404
            )

        def registry(self, parts: list[str]) -> None:
            if not parts or parts == [""]:
                return self.send({})
            if "manifests" in parts and parts[-1] in fake.manifests:
                body = fake.manifests[parts[-1]]
                digest = "sha256:" + hashlib.sha256(body).hexdigest()
                media = "application/vnd.oci.image.manifest.v1+json"
                return self.reply(body, Content_Type=media, Docker_Content_Digest=digest)
            if "blobs" in parts and parts[-1] in fake.blobs:
                return self.reply(fake.blobs[parts[-1]])
            self.send({"errors": [{"code": "MANIFEST_UNKNOWN"}]}, 404)

    return Handler


@pytest.fixture
def fake() -> Iterator[Fake]:
    state = Fake()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler(state))
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def release_of(fake: Fake) -> str:
    """Puts this revision's release of 2.49.2 into the fake registry; its REF as patch prints it."""
    config_digest = "sha256:" + hashlib.sha256(CONFIG).hexdigest()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": config_digest, "size": len(CONFIG)},
        "layers": [],
    }).encode()  # fmt: skip
    digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
    floating, immutable = pushed_refs(
        load_variant(root=ROOT, variant="2.49.2"), f"127.0.0.1:{fake.port}", git_revision(ROOT)
    )
    fake.blobs[config_digest] = CONFIG
    fake.manifests[str(immutable.tag)] = fake.manifests[digest] = manifest
    return str(floating.with_digest(digest))


def objects(*names: str) -> list[dict[str, Any]]:
    return [
        doc
        for name in names
        for doc in yaml.safe_load_all((ROOT / name).read_text())
        if doc and doc.get("kind") in RESOURCES.values()
    ]


def on_image(obj: Mapping[str, Any], image: str, name: str) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    out["metadata"]["name"] = name
    for group in (out["spec"]["headGroupSpec"], *out["spec"]["workerGroupSpecs"]):
        group["template"]["spec"]["containers"][0]["image"] = image
    return out


def kubeconfig(tmp_path: Path, fake: Fake, current: str = "fake") -> dict[str, str]:
    """A kubeconfig with the fake cluster and a dead one; HOME in tmp_path (kubectl's cache)."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": f"http://127.0.0.1:{fake.port}"}},
            {"name": "dead", "cluster": {"server": "http://127.0.0.1:9"}},
        ],
        "contexts": [{"name": n, "context": {"cluster": n, "user": "u"}} for n in ("fake", "dead")],
        "users": [{"name": "u", "user": {}}],
        "current-context": current,
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return {**os.environ, "KUBECONFIG": str(path), "HOME": str(home)}


def status(
    env: dict[str, str], fake: Fake, *args: str, process: bool = False
) -> subprocess.CompletedProcess[str] | Ran:
    """`invoke status --registry FAKE ARGS` in the clone: in this process (tests/inprocess.py:
    the same exit code and streams, the real kubectl still a subprocess), or with ``process``
    the console script in a subprocess, as a user runs it."""
    args = ("status", "--registry", f"127.0.0.1:{fake.port}", *args)
    if not process:
        return run_invoke(args, ROOT, env)
    return subprocess.run(
        [INVOKE, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )


def errors(result: subprocess.CompletedProcess[str] | Ran) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("error:")]


def test_the_live_fleet_through_kubectl(tmp_path: Path, fake: Fake) -> None:
    """Every kind from the live cluster, every action but add-variant's twin, one JSON list."""
    ref = release_of(fake)
    (ray_gpu,) = objects("deploy/k8s/ray-gpu.yaml")
    fake.objects = [
        ray_gpu,
        on_image(ray_gpu, ref, "moved"),
        *objects("tests/data/kuberay/owners/ray-job.sample.yaml"),
        *objects("tests/data/kuberay/owners/ray-service.sample.yaml"),
        *objects("tests/data/kuberay/variants/fleet-2.52.1-py311.yaml"),
    ]
    result = status(kubeconfig(tmp_path, fake), fake, "--json", process=True)
    assert result.returncode == 1, result.stderr
    assert errors(result) == [
        "error: 8 of 10 Ray groups are not up to date (4 add-variant, 2 release, 2 roll-out);"
        " follow each row's action"
    ]
    found = json.loads(result.stdout)
    assert [(r["kind"], r["name"], r["group"], r["action"]) for r in found] == [
        ("RayCluster", "ray-gpu", "headgroup", "roll-out"),
        ("RayCluster", "ray-gpu", "gpu-workers", "roll-out"),
        ("RayCluster", "moved", "headgroup", "up-to-date"),
        ("RayCluster", "moved", "gpu-workers", "up-to-date"),
        ("RayCluster", "ray-gpu", "headgroup", "release"),  # 2.52.1-py311: not released here
        ("RayCluster", "ray-gpu", "gpu-workers", "release"),
        ("RayJob", "rayjob-sample", "headgroup", "add-variant"),
        ("RayJob", "rayjob-sample", "small-group", "add-variant"),
        ("RayService", "rayservice-sample", "headgroup", "add-variant"),
        ("RayService", "rayservice-sample", "small-group", "add-variant"),
    ]  # kubectl lists kind by kind
    assert {r["source"] for r in found} == {"kubectl"}
    assert found[0]["advice"] == f"roll out {ref}" and found[0]["nats_py"] is False
    assert (found[2]["release"], found[2]["nats_py"], found[2]["variant_from"]) == (
        True,
        True,
        "labels",
    )
    assert {r["stand_in"] for r in found} == {False}


def test_the_table_and_exit_0_when_all_is_up_to_date(tmp_path: Path, fake: Fake) -> None:
    ref = release_of(fake)
    (ray_gpu,) = objects("deploy/k8s/ray-gpu.yaml")
    fake.objects = [on_image(ray_gpu, ref, "ray-gpu")]
    result = status(kubeconfig(tmp_path, fake), fake)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == [
        "object", "group", "image", "variant", "release", "nats-py", "action",
    ]  # fmt: skip
    assert lines[2].split() == [
        "RayCluster", "ray/ray-gpu", "headgroup", ref, "2.49.2", "(labels)", "yes", "yes", "up",
        "to", "date",
    ]  # fmt: skip
    assert errors(result) == []


def test_context_passes_through_and_a_dead_cluster_is_exit_3(tmp_path: Path, fake: Fake) -> None:
    fake.objects = objects("deploy/k8s/ray-gpu.yaml")
    env = kubeconfig(tmp_path, fake, current="dead")
    result = status(env, fake, "--json")
    assert result.returncode == 3, result.stderr
    (line,) = errors(result)
    assert line.startswith(
        "error: kubectl get rayclusters,rayjobs,rayservices -A -o json --request-timeout=30s:"
        " the cluster does not answer (The connection to the server 127.0.0.1:9 was refused"
    )
    assert "Traceback" not in result.stderr and result.stdout == ""
    result = status(env, fake, "--json", "--context", "fake")
    assert result.returncode == 1, result.stderr
    assert len(json.loads(result.stdout)) == 2
    result = status(env, fake, "--context", "nope")
    assert result.returncode == 2 and errors(result) == [
        "error: kubectl --context nope get rayclusters,rayjobs,rayservices -A -o json"
        " --request-timeout=30s: Error in configuration: context was not found for specified"
        " context: nope; fix --context / $KUBECONFIG or the cluster's RBAC"
    ]


def test_a_cluster_without_kuberay_is_one_line(tmp_path: Path, fake: Fake) -> None:
    fake.crds = False
    result = status(kubeconfig(tmp_path, fake), fake)
    assert result.returncode == 2, result.stderr
    (line,) = errors(result)
    assert 'doesn\'t have a resource type "rayclusters"' in line
    assert "the cluster has no KubeRay CRDs (install the KubeRay operator)" in line


def test_kubectl_output_saved_and_read_back_with_from(tmp_path: Path, fake: Fake) -> None:
    """`kubectl get … -o json > fleet.json` then `--from fleet.json`: the same rows, offline."""
    release_of(fake)
    fake.objects = objects(
        "deploy/k8s/ray-gpu.yaml", "tests/data/kuberay/owners/ray-service.sample.yaml"
    )
    env = kubeconfig(tmp_path, fake)
    saved = tmp_path / "fleet.json"
    kubectl = str(find_kubectl())
    done = subprocess.run(
        [kubectl, "get", "rayclusters,rayjobs,rayservices", "-A", "-o", "json"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    saved.write_text(done.stdout)
    live = json.loads(status(env, fake, "--json").stdout)
    offline_env = {**env, "KUBECONFIG": str(tmp_path / "none")}  # kubectl would fail: exit 3
    offline = json.loads(status(offline_env, fake, "--json", "--from", str(saved)).stdout)
    assert [{**r, "source": "kubectl"} for r in offline] == live
    assert {r["source"] for r in offline} == {str(saved)}
    manifest = str(ROOT / "deploy/k8s/ray-gpu.yaml")
    both = status(offline_env, fake, "--json", "--from", str(saved), "--from", manifest)
    assert [r["source"] for r in json.loads(both.stdout)] == [str(saved)] * 4 + [manifest] * 2
