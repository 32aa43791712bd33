"""The rehearsal's pure parts: the kubectl shim's verb mapping (argv -> Call), the live object,
the script's options and the verdict line; and the task's bad input (one line, exit 2)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from ray_worker_image.definition import load_variant
from ray_worker_image.e2e import load_plan
from ray_worker_image.errors import EngineError
from ray_worker_image.rehearsal.kube import IMPORT_NATS, imports_nats
from ray_worker_image.rehearsal.plan import (
    PodView,
    RehearsalError,
    RehearsalReport,
    check_kind,
    current_image,
    failure_line,
    live_object,
    on_image,
    rollout_options,
)
from ray_worker_image.rehearsal.shim import serve
from ray_worker_image.rehearsal.state import PodRecord, State
from ray_worker_image.rehearsal.verbs import (
    Call,
    ShimError,
    list_jsonpath,
    matches,
    parse,
    parse_duration,
)
from ray_worker_image.rollout import load_cluster, plan_from_options, render_shell
from ray_worker_image.status import kubectl_argv
from tests.inprocess import Ran, run_invoke

ROOT = Path(__file__).resolve().parents[2]
FLEET = ROOT / "deploy/k8s/ray-gpu.yaml"
TWO = ROOT / "tests/data/rehearsal/two-groups.yaml"
SEL = "ray.io/cluster=ray-gpu,ray.io/node-type=worker,ray.io/group=gpu-workers"
IMAGE = "127.0.0.1:5000/swe-fleet/ray:2.49.2-nats@sha256:" + "ab" * 32


# Each call rollout.sh makes (templates/*.j2 and the canary stage, docs/rollout.md), as argv.
CALLS = {
    "object jsonpath": (
        ["get", "raycluster", "ray-gpu", "-n", "ray", "-o", "jsonpath={.spec.rayVersion}"],
        Call("get-object", "ray", name="ray-gpu", output="jsonpath={.spec.rayVersion}",
             kind="RayCluster"),
    ),
    "object json": (
        ["get", "raycluster", "ray-gpu", "-n", "ray", "-o", "json"],
        Call("get-object", "ray", name="ray-gpu", output="json", kind="RayCluster"),
    ),
    "pods by labels": (
        ["get", "pods", "-n", "ray", "-l", SEL, "-o",
         "jsonpath={range .items[*]}{.status.podIP}{\"\\n\"}{end}"],
        Call("get-pods", "ray", selector=(("ray.io/cluster", "ray-gpu"),
             ("ray.io/node-type", "worker"), ("ray.io/group", "gpu-workers")),
             output="jsonpath={range .items[*]}{.status.podIP}{\"\\n\"}{end}"),
    ),
    "one pod": (
        ["get", "pod", "-n", "ray", "p-1", "-o", "jsonpath={.spec.containers[0].name}"],
        Call("get-pod", "ray", name="p-1", output="jsonpath={.spec.containers[0].name}"),
    ),
    "server dry run": (
        ["patch", "raycluster", "ray-gpu", "-n", "ray", "--type=json",
         "--patch-file=patch.json", "--dry-run=server"],
        Call("patch", "ray", name="ray-gpu", kind="RayCluster", patch_file="patch.json",
             dry_run=True),
    ),
    "patch": (
        ["patch", "raycluster", "ray-gpu", "-n", "ray", "--type=json",
         "--patch-file=canary.json"],
        Call("patch", "ray", name="ray-gpu", kind="RayCluster", patch_file="canary.json"),
    ),
    "delete pod": (
        ["delete", "pod", "-n", "ray", "-l", "ray.io/cluster=ray-gpu,ray.io/node-type=head"],
        Call("delete-pods", "ray",
             selector=(("ray.io/cluster", "ray-gpu"), ("ray.io/node-type", "head"))),
    ),
    "wait": (
        ["wait", "pod", "-n", "ray", "-l", "a=b", "--for=condition=Ready", "--timeout=893s"],
        Call("wait", "ray", selector=(("a", "b"),), timeout_s=893.0),
    ),
    "exec check": (
        ["exec", "-n", "ray", "p-1", "-c", "ray-worker", "--", "python", "-c", "import nats"],
        Call("exec", "ray", name="p-1", container="ray-worker",
             command=("python", "-c", "import nats")),
    ),
    "exec canary": (
        ["exec", "-i", "-n", "ray", "h-1", "-c", "ray-head", "--", "python", "-", "10.0.0.2",
         "nats://n:4222", "", "300"],
        Call("exec", "ray", name="h-1", container="ray-head", stdin=True,
             command=("python", "-", "10.0.0.2", "nats://n:4222", "", "300")),
    ),
    "status, live": (  # invoke status's one call (status.fleet.kubectl_argv)
        ["get", "rayclusters,rayjobs,rayservices", "-A", "-o", "json", "--request-timeout=30s"],
        Call("list-objects", "default", output="json", all_namespaces=True,
             kinds=("RayCluster", "RayJob", "RayService")),
    ),
    "a list in one namespace": (
        ["get", "rayclusters", "-n", "ray", "-o", "json"],
        Call("list-objects", "ray", output="json", kinds=("RayCluster",)),
    ),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "call"), CALLS.values(), ids=CALLS.keys())
def test_each_call_of_rollout_sh_maps_to_one_action(argv: list[str], call: Call) -> None:
    assert parse(argv) == call


REFUSED = {
    "another verb": (["apply", "x.yaml"], "not a call rollout.sh makes"),
    "a flag it never passes": (["apply", "-f", "x.yaml"], "unknown flag: -f"),
    "another kind": (["get", "rayjob", "j", "-n", "ray"], "not a call rollout.sh makes"),
    "strategic patch": (
        ["patch", "raycluster", "c", "-n", "ray", "-p", "{}"],
        "unknown flag: -p",
    ),
    "merge patch": (
        ["patch", "raycluster", "c", "-n", "ray", "--type=merge", "--patch-file=f"],
        "only patch --type=json",
    ),
    "client dry run": (
        ["patch", "raycluster", "c", "--type=json", "--patch-file=f", "--dry-run=client"],
        "--dry-run=client is not served",
    ),
    "wait for delete": (["wait", "pod", "-l", "a=b", "--for=delete"], "only wait --for"),
    "set selector": (["get", "pods", "-l", "a in (b)"], "unsupported selector"),
    "yaml output": (["get", "raycluster", "c", "-o", "yaml"], "output 'yaml' is not served"),
    "a list as a table": (["get", "rayclusters", "-A"], "served as -o json only"),
    "a list of pods and clusters": (["get", "rayclusters,pods", "-A", "-o", "json"],
                                    "not a call rollout.sh makes"),
    "exec without --": (["exec", "p", "-c", "c"], "not a call rollout.sh makes"),
    "bad timeout": (["wait", "pod", "-l", "a=b", "--for=condition=Ready", "--timeout=5"],
                    'invalid argument "5"'),
    "nothing": ([], "no command given"),
}  # fmt: skip


@pytest.mark.parametrize(("argv", "message"), REFUSED.values(), ids=REFUSED.keys())
def test_a_call_the_script_does_not_make_is_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ShimError, match=re.escape(message)) as info:
        parse(argv)
    assert str(info.value).startswith("error: ")


def test_every_kubectl_call_of_the_published_script_is_served() -> None:
    """Each kubectl verb and resource the rendered rollout.sh (with its canary stage) names is
    one the shim maps (the engine tests run the script itself)."""
    obj = load_cluster(str(TWO))
    options = rollout_options(load_plan(TWO), obj, IMAGE, "all", "2.49.2")
    script = render_shell(plan_from_options(load_variant(root=ROOT), options, default_image=None))
    assert "canary_job" in script, "the canary stage is in the script"
    call = r"(?:^\s*|\$\(|\| )kubectl (\w+) (?:-i )?(?:-n \S+ )?(\S+)"
    found = re.findall(call, script, flags=re.MULTILINE)
    verbs = {verb for verb, _ in found}
    resources = {what for verb, what in found if verb != "exec"}
    assert verbs == {"get", "patch", "delete", "wait", "exec"}, verbs
    assert resources <= {"raycluster", "pods", "pod"}, resources


def test_durations_selectors_and_list_jsonpath() -> None:
    assert parse_duration("893s") == 893.0
    assert parse_duration("1m30s") == 90.0
    assert parse_duration("0") == 0.0
    assert matches({"a": "b", "c": "d"}, (("a", "b"),))
    assert not matches({"a": "b"}, (("a", "b"), ("c", "d")))
    assert (
        list_jsonpath("jsonpath={range .items[*]}{.metadata.name}{end}")
        == "jsonpath={range .pods[*]}{.metadata.name}{end}"
    )
    assert list_jsonpath("jsonpath={.spec.items}") == "jsonpath={.spec.items}"


def test_the_live_object_holds_the_replicas_started() -> None:
    obj = load_cluster(str(FLEET))
    plan = load_plan(FLEET, replica_cap=1)
    live = live_object(obj, plan)
    (group,) = live["spec"]["workerGroupSpecs"]
    assert group["replicas"] == 1 and group["minReplicas"] == 0
    assert live["metadata"]["namespace"] == "ray"
    assert obj["spec"]["workerGroupSpecs"][0]["replicas"] == 2, "the manifest is not changed"


def test_one_current_image_and_a_raycluster_only() -> None:
    obj = load_cluster(str(TWO))
    assert current_image(obj, "two.yaml") == "rayproject/ray:2.49.2"
    obj["spec"]["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["image"] = "x/y:1"
    with pytest.raises(RehearsalError, match=r"two.yaml: .* on one current image"):
        current_image(obj, "two.yaml")
    with pytest.raises(RehearsalError, match="holds a RayJob"):
        check_kind({"kind": "RayJob"}, "job.yaml")


def test_the_script_is_the_release_one_for_every_group() -> None:
    obj = load_cluster(str(TWO))
    options = rollout_options(load_plan(TWO), obj, IMAGE, "all", "2.49.2")
    assert options.source is None, "no --from: the script reads the live object when it runs"
    assert options.groups == ("cpu-workers", "gpu-workers")
    assert (options.name, options.namespace, options.images) == ("ray-two", "ray", (IMAGE,))
    with pytest.raises(RehearsalError, match="--restart 'none'"):
        rollout_options(load_plan(TWO), obj, IMAGE, "none", "2.49.2")


def test_the_failure_line_is_the_canary_verdict() -> None:
    output = [
        "==> Canary job on worker group gpu-workers",
        "raycluster.ray.io/ray-gpu patched",
        "rollout.sh: canary: FAILED: ModuleNotFoundError: No module named 'nats' (task on node"
        " 10.0.0.2) (worker group gpu-workers rolled back to its old image)",
    ]
    assert failure_line(output).startswith("rollout.sh: canary: FAILED: ModuleNotFoundError")
    assert failure_line(["a", "timed out: head has 0 of 1", ""]) == "timed out: head has 0 of 1"
    assert failure_line([]) == "(no output)"


def test_on_image_needs_every_template_and_pod() -> None:
    report = RehearsalReport(passed=False, exit_code=0, failure=None)
    report.templates = {"headgroup": IMAGE, "g": IMAGE}
    report.pods = {
        "h": PodView("headgroup", IMAGE, True, True),
        "w": PodView("g", IMAGE, True, True),
    }
    assert on_image(report, IMAGE, nats=True)
    report.pods["w"] = PodView("g", IMAGE, False, True)  # spec says it, container runs another
    assert not on_image(report, IMAGE)
    report.pods["w"] = PodView("g", IMAGE, True, False)
    assert on_image(report, IMAGE) and not on_image(report, IMAGE, nats=True)
    assert not on_image(RehearsalReport(False, 0, None, templates=report.templates), IMAGE)


BAD = {
    "no --from": ([], "error: --from MANIFEST is required"),
    "missing manifest": (["--from", "nowhere.yaml"], "error: --from nowhere.yaml: no such file"),
    "bad image": (["--from", str(FLEET), "--image", "Not An Image"], "error: --image"),
    "restart none": (["--from", str(FLEET), "--restart", "none"], "error: --restart 'none'"),
}
MANIFESTS = {
    "unknown kind": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n",
        "no RayCluster, RayJob or RayService",
    ),
    "RayJob": (
        "apiVersion: ray.io/v1\nkind: RayJob\nmetadata: {name: j}\nspec: {}\n",
        "holds a RayJob; KubeRay replaces the pods",
    ),
}


def rehearse(args: list[str]) -> Ran:
    """`invoke rehearse` with no engine reachable: bad input must be told before one is asked.
    Run in this process (tests/inprocess.py: the same exit code and streams, with exactly this
    environment), without the 0.5 s start-up of a subprocess."""
    env = {"PATH": "/usr/bin:/bin", "DOCKER_HOST": "unix:///nonexistent.sock"}
    return run_invoke(["rehearse", "--engine", "docker", *args], ROOT, env)


def one_error_line(done: Ran) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "rehearsal on" not in done.stderr
    errors = [x for x in done.stderr.splitlines() if x.startswith("error:")]
    assert len(errors) == 1, done.stderr
    return errors[0]


@pytest.mark.parametrize(("args", "line"), BAD.values(), ids=BAD.keys())
def test_bad_input_is_one_line_exit_2_and_nothing_starts(args: list[str], line: str) -> None:
    assert one_error_line(rehearse(args)).startswith(line)


@pytest.mark.parametrize(("text", "message"), MANIFESTS.values(), ids=MANIFESTS.keys())
def test_a_manifest_without_a_raycluster_is_one_line(
    text: str, message: str, tmp_path: Path
) -> None:
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(text)
    line = one_error_line(rehearse(["--from", str(manifest)]))
    assert line.startswith(f"error: {manifest}: ") and message in line


def test_invoke_status_makes_the_call_the_shim_serves() -> None:
    """status's live argv (without the binary) is the list the shim maps, so `invoke status`
    runs through the rehearsal's shim (tests/rollout/test_status_shim.py runs it)."""
    argv = kubectl_argv("kubectl")[1:]
    assert parse(argv) == CALLS["status, live"][1]
    with pytest.raises(ShimError, match="unknown flag: --context"):  # one cluster, no contexts
        parse(kubectl_argv("kubectl", "prod")[1:])


@pytest.mark.parametrize(
    ("argv", "names"),
    [
        (["get", "rayclusters,rayjobs,rayservices", "-A", "-o", "json"], ["ray-gpu"]),
        (["get", "rayclusters", "-n", "ray", "-o", "json"], ["ray-gpu"]),
        (["get", "rayclusters", "-n", "other", "-o", "json"], []),
        (["get", "rayjobs,rayservices", "-A", "-o", "json"], []),
    ],
)
def test_the_shim_lists_the_run_s_cluster_without_the_engine(
    tmp_path: Path, argv: list[str], names: list[str]
) -> None:
    """The list is served from rc.json alone (the engine is not connected: `serve` gets None),
    as a `kind: List` the way kubectl prints several resource types."""
    state = State(tmp_path)
    state.save_cluster(live_object(load_cluster(str(FLEET)), load_plan(FLEET, replica_cap=1)))
    code, out, err = serve(parse(argv), state, None)
    assert (code, err) == (0, "")
    listed = json.loads(out)
    assert (listed["apiVersion"], listed["kind"]) == ("v1", "List")
    assert [o["metadata"]["name"] for o in listed["items"]] == names
    if names:
        assert listed["items"][0] == state.cluster


class _Box:
    """A Ray container as the kubelet sees it: exits when its raylet leaves (``exits``)."""

    def __init__(self, status: str, exits: int = 0) -> None:
        self.status, self.exits, self.execs = status, exits, 0

    def attrs(self) -> dict[str, object]:
        return {"State": {"Status": self.status}}

    def start(self) -> None:
        self.status = "running"

    def exec_streams(self, argv: list[str]) -> tuple[int, str, str]:
        assert argv == IMPORT_NATS
        self.execs += 1
        if self.status != "running":
            raise EngineError("podman: exec in box: container state improper")
        if self.exits:
            self.exits -= 1
            self.status = "exited"
            raise EngineError("podman: exec in box: container state improper")
        return 0, "", ""


@pytest.mark.parametrize(("status", "exits", "restarts"), [
    ("running", 0, 0), ("exited", 0, 1), ("running", 1, 1), ("exited", 1, 2),
])  # fmt: skip
def test_observing_a_pod_restarts_an_exited_ray_container_as_the_kubelet_would(
    status: str, exits: int, restarts: int
) -> None:
    box = _Box(status, exits)
    engine = SimpleNamespace(find_container=lambda name: box if name == "box" else None)
    pod = PodRecord("p", "gpu-workers", "worker", "p", [], box="box")
    assert imports_nats(engine, pod) is True  # type: ignore[arg-type]
    assert pod.restarts == restarts
    assert not imports_nats(engine, PodRecord("q", "g", "worker", "q", []))  # type: ignore[arg-type]
    box.status, box.exits = "running", 2  # exits during the exec twice: the seam's error
    with pytest.raises(EngineError):
        imports_nats(engine, pod)  # type: ignore[arg-type]
