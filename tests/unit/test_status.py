"""`invoke status` as a pure function (issue 21 point 3): Ray objects and registry facts in,
one row per group out. Every kind (RayCluster, RayJob, RayService; ray.io/v1 and v1alpha1;
multi-document files and kind: List) and every action, on the real KubeRay samples and the
fleet's manifest; the registry is a stub reader here (tests/engine/test_status_on_engine.py
has the real one)."""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from invoke.parser import Parser

from ray_worker_image import labels as L
from ray_worker_image.addvariant import plan_variant
from ray_worker_image.cli import namespace
from ray_worker_image.definition import load_definition
from ray_worker_image.errors import PipelineError, RegistryUnavailable, RolloutError, UsageError
from ray_worker_image.raytag import RayTag
from ray_worker_image.records import LOCK_SHA
from ray_worker_image.refs import ImageRef
from ray_worker_image.status import fleet
from ray_worker_image.status.rows import ACTIONS, Facts, Result, cached, rows

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/kuberay"
RAY_GPU = ROOT / "deploy/k8s/ray-gpu.yaml"
RAY_JOB = DATA / "owners/ray-job.sample.yaml"  # a RayJob and a ConfigMap: multi-document
RAY_SERVICE = DATA / "owners/ray-service.sample.yaml"
PY311 = DATA / "variants/fleet-2.52.1-py311.yaml"
REG = "registry.example.com"
REL_249 = f"{REG}/swe-fleet/ray:2.49.2-nats@sha256:{'a1' * 32}"
OLD_249 = f"{REG}/swe-fleet/ray:2.49.2-nats@sha256:{'0c' * 32}"  # an earlier release
RELEASE_LABELS = {L.VARIANT: "2.49.2-py39-cpu", L.INPUT_KEY: "k", LOCK_SHA: "s"}


def definition_variants() -> dict[RayTag, str]:
    loaded = load_definition(ROOT / "images/ray-swe-fleet/image.yaml", ROOT)
    return {v.ray_tag: v.variant for v in loaded.variants}


class Registry:
    """A stub LabelReader: labels by reference; Docker Hub and 127.0.0.1:9 unreachable."""

    def __init__(self, labels: Mapping[str, Mapping[str, str] | None] | None = None) -> None:
        self.labels = {ImageRef.parse(k): v for k, v in (labels or {}).items()}
        self.asked: list[ImageRef] = []

    def __call__(self, ref: ImageRef) -> Mapping[str, str] | None:
        self.asked.append(ref)
        if ref.registry in ("docker.io", "127.0.0.1:9"):
            raise RegistryUnavailable(f"registry {ref.registry}: ConnectionError")
        return self.labels.get(ref)


def facts(read: Registry | None = None, **releases: str | None) -> Facts:
    return Facts(
        variants=definition_variants(),
        releases={"2.49.2": REL_249, "2.52.1-py311": None} | releases,
        read=read or Registry({REL_249: RELEASE_LABELS, OLD_249: RELEASE_LABELS}),
        release_repository="swe-fleet/ray",
    )


def objects(*paths: Path) -> list[tuple[str, Mapping[str, Any]]]:
    return fleet.from_files([str(p) for p in paths])


def with_image(obj: Mapping[str, Any], image: str) -> dict[str, Any]:
    """A copy of a RayCluster whose head and every worker run ``image``."""
    out = copy.deepcopy(dict(obj))
    spec = out["spec"]
    for group in (spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])):
        group["template"]["spec"]["containers"][0]["image"] = image
    return out


def table(result: Result) -> list[tuple[str, str, str, str, str]]:
    return [(r.kind, f"{r.namespace}/{r.name}", r.group, r.action, r.advice) for r in result.rows]


def test_every_kind_gives_one_row_per_group_in_spec_order() -> None:
    result = rows(objects(RAY_GPU, RAY_JOB, RAY_SERVICE), facts())
    assert [(r.kind, r.namespace, r.name, r.group) for r in result.rows] == [
        ("RayCluster", "ray", "ray-gpu", "headgroup"),
        ("RayCluster", "ray", "ray-gpu", "gpu-workers"),
        ("RayJob", "default", "rayjob-sample", "headgroup"),  # spec.rayClusterSpec
        ("RayJob", "default", "rayjob-sample", "small-group"),
        ("RayService", "default", "rayservice-sample", "headgroup"),  # spec.rayClusterConfig
        ("RayService", "default", "rayservice-sample", "small-group"),
    ]
    assert {r.source for r in result.rows[2:4]} == {str(RAY_JOB)}  # the ConfigMap is ignored
    assert result.notes == []


def test_v1alpha1_and_a_kubectl_list_read_as_v1() -> None:
    (_, cluster), *_ = objects(RAY_GPU)
    (_, job), *_ = objects(RAY_JOB)
    old = [{**copy.deepcopy(dict(o)), "apiVersion": "ray.io/v1alpha1"} for o in (cluster, job)]
    listed = {"apiVersion": "v1", "kind": "List", "items": old}
    result = rows([("kubectl", o) for o in fleet.load_objects("-", json.dumps(listed))], facts())
    assert [(r.kind, r.group, r.action) for r in result.rows] == [
        ("RayCluster", "headgroup", "roll-out"),
        ("RayCluster", "gpu-workers", "roll-out"),
        ("RayJob", "headgroup", "add-variant"),
        ("RayJob", "small-group", "add-variant"),
    ]


def test_a_multi_document_file_gives_every_ray_object_in_it(tmp_path: Path) -> None:
    many = tmp_path / "fleet.yaml"
    many.write_text("---\n".join(p.read_text() for p in (RAY_GPU, RAY_SERVICE, PY311)))
    result = rows(objects(many, DATA / "gitops/ray-gpu.yaml"), facts())
    assert [(r.kind, r.name, r.group) for r in result.rows] == [
        ("RayCluster", "ray-gpu", "headgroup"),
        ("RayCluster", "ray-gpu", "gpu-workers"),
        ("RayService", "rayservice-sample", "headgroup"),
        ("RayService", "rayservice-sample", "small-group"),
        ("RayCluster", "ray-gpu", "headgroup"),
        ("RayCluster", "ray-gpu", "gpu-workers"),
        ("RayCluster", "ray-gpu", "headgroup"),  # gitops/: a ConfigMap, then the cluster
        ("RayCluster", "ray-gpu", "cpu-small"),
        ("RayCluster", "ray-gpu", "gpu-workers"),
    ]


def test_every_action() -> None:
    """up to date; roll out REF; release; add-variant; unknown image."""
    (_, cluster), *_ = objects(RAY_GPU)
    current = with_image(cluster, REL_249)
    current["metadata"]["name"] = "current"
    older = with_image(cluster, OLD_249)
    older["metadata"]["name"] = "older"
    private = with_image(cluster, f"{REG}/team/ray-custom@sha256:{'ee' * 32}")
    private["metadata"]["name"] = "private"
    fleet_objects = [("f", current), ("f", older), *objects(RAY_GPU, PY311, RAY_JOB)]
    result = rows([*fleet_objects, ("f", private)], facts())
    assert [(r.name, r.action, r.advice) for r in result.rows if r.group == "headgroup"] == [
        ("current", "up-to-date", "up to date"),
        ("older", "roll-out", f"roll out {REL_249}"),
        ("ray-gpu", "roll-out", f"roll out {REL_249}"),  # on the plain base
        ("ray-gpu", "release", "invoke release --variant 2.52.1-py311, then roll out"),
        ("rayjob-sample", "add-variant", "invoke add-variant 2.52.0, then release and roll out"),
        ("private", "unknown-image", "unknown image"),
    ]
    assert {r.action for r in result.rows} == set(ACTIONS)
    assert [r.action for r in result.needs_action].count("up-to-date") == 0
    assert len(result.needs_action) == len(result.rows) - 2  # current: head and gpu-workers


def test_release_and_nats_py_come_from_the_labels_or_the_official_name() -> None:
    foreign = f"{REG}/team/ray:2.49.2@sha256:{'cc' * 32}"  # readable labels, not ours
    gone = f"{REG}/swe-fleet/ray:2.49.2-nats@sha256:{'dd' * 32}"  # 404: no labels
    unreachable = f"127.0.0.1:9/swe-fleet/ray:2.49.2-nats@sha256:{'ee' * 32}"
    read = Registry(
        {REL_249: RELEASE_LABELS, foreign: {L.BASE_NAME: "docker.io/rayproject/ray:2.49.2"}}
    )
    (_, cluster), *_ = objects(RAY_GPU)
    fleet_objects = [
        ("f", with_image(cluster, image)) for image in (REL_249, foreign, gone, unreachable)
    ]
    result = rows([*objects(RAY_GPU), *fleet_objects], facts(read))
    heads = [r for r in result.rows if r.group == "headgroup"]
    assert [(r.release, r.nats, r.variant and r.variant.short, r.how) for r in heads] == [
        (False, False, "2.49.2", "tag"),  # rayproject/ray: official, no nats-py
        (True, True, "2.49.2", "labels"),  # this project's labels
        (False, None, "2.49.2", "labels"),  # a foreign build on the base: its base.name label
        (None, None, "2.49.2", "tag"),  # 404: the release tag's grammar tells the variant
        (None, None, "2.49.2", "tag"),  # unreachable: the same
    ]
    assert "the registry has no image config" in heads[3].why
    assert "labels not readable: registry 127.0.0.1:9: ConnectionError" in heads[4].why


def test_the_stand_in_base_is_not_a_release() -> None:
    """It carries io.github.ray-worker-image.stand-in, but none of the release's own labels."""
    base = f"{REG}/rayproject/ray:2.49.2"
    read = Registry({base: {L.STAND_IN: "true", "org.opencontainers.image.title": "stand-in"}})
    (_, cluster), *_ = objects(RAY_GPU)
    (row, _) = rows([("f", with_image(cluster, base))], facts(read)).rows
    assert (row.release, row.nats, row.action) == (False, None, "unknown-image")


def test_a_stand_in_release_says_so() -> None:
    """Rolling it into a cluster needs --allow-stand-in, so the row says what it is."""
    read = Registry({REL_249: RELEASE_LABELS | {L.STAND_IN: "true"}})
    (_, cluster), *_ = objects(RAY_GPU)
    (row, _) = rows([("f", with_image(cluster, REL_249))], facts(read)).rows
    assert (row.release, row.stand_in, row.action) == (True, True, "up-to-date")
    assert row.to_json()["stand_in"] is True


def test_each_image_is_read_once() -> None:
    read = Registry({REL_249: RELEASE_LABELS})
    (_, cluster), *_ = objects(RAY_GPU)
    rows([("a", with_image(cluster, REL_249)), ("b", with_image(cluster, REL_249))], facts(read))
    assert read.asked == [ImageRef.parse(REL_249)]
    once = cached(read)
    for image in ("rayproject/ray:2.49.2", "rayproject/ray:2.49.2", "rayproject/ray-ml:2.49.2"):
        with pytest.raises(PipelineError, match=r"registry docker\.io: ConnectionError"):
            once(ImageRef.parse(image))
    assert len(read.asked) == 2  # a registry that did not answer is not asked again
    missing = f"{REG}/swe-fleet/ray:2.49.2-nats@sha256:{'dd' * 32}"
    for _ in range(2):
        assert once(ImageRef.parse(missing)) is None  # a 404 is an answer: that image only
    assert len(read.asked) == 3


def test_an_owned_cluster_is_its_owners_and_a_selector_job_has_no_rows() -> None:
    (_, service), *_ = objects(RAY_SERVICE)
    owned = copy.deepcopy(dict(service["spec"]["rayClusterConfig"]))
    owned = {
        "apiVersion": "ray.io/v1",
        "kind": "RayCluster",
        "metadata": {
            "name": "rayservice-sample-raycluster-x7k2p",
            "namespace": "default",
            "ownerReferences": [{"kind": "RayService", "name": "rayservice-sample"}],
        },
        "spec": owned,
    }
    selector = {
        "apiVersion": "ray.io/v1",
        "kind": "RayJob",
        "metadata": {"name": "on-existing", "namespace": "ray"},
        "spec": {"entrypoint": "python x.py", "clusterSelector": {"ray.io/cluster": "ray-gpu"}},
    }
    result = rows([("kubectl", service), ("kubectl", owned), ("kubectl", selector)], facts())
    assert [r.name for r in result.rows] == ["rayservice-sample"] * 2
    assert result.notes == [
        "kubectl: RayCluster default/rayservice-sample-raycluster-x7k2p is"
        " RayService/rayservice-sample's; its rows stand for it",
        "kubectl: RayJob ray/on-existing runs on an existing cluster (spec.clusterSelector);"
        " that RayCluster's rows stand for it",
    ]
    alone = rows([("kubectl", owned)], facts())  # its owner is not in the input: shown
    assert [r.name for r in alone.rows] == ["rayservice-sample-raycluster-x7k2p"] * 2


def test_a_malformed_ray_object_is_one_line_naming_the_field() -> None:
    (_, cluster), *_ = objects(RAY_GPU)
    broken = copy.deepcopy(dict(cluster))
    del broken["spec"]["workerGroupSpecs"][0]["groupName"]
    with pytest.raises(RolloutError, match=r"^f: spec.workerGroupSpecs\[0\].groupName is missing"):
        rows([("f", broken)], facts())


def test_json_rows_have_stable_keys() -> None:
    (row, *_) = rows(objects(RAY_GPU), facts()).rows
    assert row.to_json() == {
        "source": str(RAY_GPU),
        "kind": "RayCluster",
        "namespace": "ray",
        "name": "ray-gpu",
        "group": "headgroup",
        "image": "rayproject/ray:2.49.2",
        "variant": "2.49.2",
        "variant_from": "tag",
        "release": False,
        "nats_py": False,
        "stand_in": False,
        "action": "roll-out",
        "ref": REL_249,
        "advice": f"roll out {REL_249}",
        "why": None,
    }


def test_files_without_ray_objects_or_unreadable_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "cm.yaml"
    config.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(
        UsageError,
        match=r"cm.yaml: no RayCluster, RayJob or RayService in it \(found ConfigMap\); give",
    ):
        fleet.from_files([str(config)])
    bad = tmp_path / "bad.yaml"
    bad.write_text("kind: [unclosed\n")
    with pytest.raises(
        UsageError, match=r"bad.yaml: not valid YAML or JSON at line 2; give the fleet's"
    ):
        fleet.from_files([str(bad)])
    with pytest.raises(
        UsageError, match=r"cannot read .*absent.yaml: No such file or directory; give"
    ):
        fleet.from_files([str(tmp_path / "absent.yaml")])


def test_the_kubectl_call_is_one_argv() -> None:
    assert fleet.kubectl_argv("kubectl") == [
        "kubectl", "get", "rayclusters,rayjobs,rayservices", "-A", "-o", "json",
        "--request-timeout=30s",
    ]  # fmt: skip
    assert fleet.kubectl_argv("/k", "prod")[:3] == ["/k", "--context", "prod"]


@pytest.mark.parametrize(
    ("stderr", "kind", "says"),
    [
        (
            "E1205 memcache.go: couldn't get current server API group list\nThe connection to"
            " the server localhost:8080 was refused - did you specify the right host or port?",
            "Unavailable",
            "the cluster does not answer (The connection to the server localhost:8080 was refused",
        ),
        (
            "Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout",
            "Unavailable",
            "the cluster does not answer",
        ),
        (
            "Error in configuration: context was not found for specified context: nope",
            "UsageError",
            "context was not found for specified context: nope; fix --context",
        ),
        (
            'error: the server doesn\'t have a resource type "rayclusters"',
            "UsageError",
            "the cluster has no KubeRay CRDs (install the KubeRay operator)",
        ),
    ],
)
def test_kubectl_failures_are_one_line_with_their_exit_kind(
    stderr: str, kind: str, says: str
) -> None:
    error = fleet.kubectl_failed("kubectl get x", 1, stderr)
    assert type(error).__name__ == kind
    assert says in str(error) and "\n" not in str(error)


def test_no_kubectl_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fleet, "find_kubectl", lambda: None)
    with pytest.raises(UsageError, match="no kubectl on PATH: install kubectl"):
        fleet.live()


def parse(argv: list[str]) -> dict[str, Any]:
    """argv as `invoke` parses it against the real task collection: {flag: value}."""
    ns = namespace(ROOT)
    (context,) = Parser(contexts=ns.to_contexts()).parse_argv(argv)
    return {name: arg.value for name, arg in context.args.items() if arg.got_value}


def test_the_add_variant_advice_is_the_command_that_adds_that_variant() -> None:
    """The row's `invoke add-variant V` parses as the task takes it, and adding V to the
    definition (add-variant's engine-free plan) makes V the row's variant: once released,
    the row says roll out, and once rolled out, up to date."""
    (_, job), *_ = objects(RAY_JOB)
    (row, _) = rows([("f", job)], facts()).rows
    command, _, rest = row.advice.partition(", then ")
    assert rest == "release and roll out"
    argv = command.split()
    assert argv[:2] == ["invoke", "add-variant"]
    assert parse(argv[1:]) == {"name": "2.52.0"}
    loaded = load_definition(ROOT / "images/ray-swe-fleet/image.yaml", ROOT)
    _, added = plan_variant(loaded, parse(argv[1:])["name"])
    assert added.ray_tag == row.variant
    released = f"{REG}/swe-fleet/ray:2.52.0-nats@sha256:{'f0' * 32}"
    after = Facts(
        {**definition_variants(), added.ray_tag: added.variant},
        {"2.49.2": REL_249, added.variant: released},
        Registry({released: RELEASE_LABELS | {L.VARIANT: added.ray_tag.canonical}}),
        "swe-fleet/ray",
    )
    assert {r.advice for r in rows([("f", job)], after).rows} == {f"roll out {released}"}
    moved = copy.deepcopy(dict(job))
    cluster = moved["spec"]["rayClusterSpec"]
    for group in (cluster["headGroupSpec"], *cluster["workerGroupSpecs"]):
        group["template"]["spec"]["containers"][0]["image"] = released
    assert {r.action for r in rows([("f", moved)], after).rows} == {"up-to-date"}


def test_add_variant_names_the_official_tag_the_group_runs() -> None:
    """`rayproject/ray:2.49.2-gpu` (Ray's alias of cu121): the variant to add is `2.49.2-gpu`,
    whose base is the very image the group runs; add-variant's plan takes that name."""
    result = rows(objects(DATA / "clusters/multi-group.yaml"), facts())
    (gpu,) = [r for r in result.rows if r.group == "gpu-a100"]
    assert (gpu.image, gpu.variant and gpu.variant.short) == (
        "rayproject/ray:2.49.2-gpu",
        "2.49.2-cu121",
    )
    assert gpu.advice == "invoke add-variant 2.49.2-gpu, then release and roll out"
    loaded = load_definition(ROOT / "images/ray-swe-fleet/image.yaml", ROOT)
    _, added = plan_variant(loaded, parse(gpu.advice.split(",")[0].split()[1:])["name"])
    assert added.ray_tag == gpu.variant
    assert str(added.base.image) == "docker.io/rayproject/ray:2.49.2-gpu"


def test_the_release_advice_parses_as_the_release_task_takes_it() -> None:
    (row, _) = rows(objects(PY311), facts()).rows
    command = row.advice.partition(", then ")[0].split()
    assert command[:2] == ["invoke", "release"]
    assert parse(command[1:]) == {"variant": "2.52.1-py311"}
    loaded = load_definition(ROOT / "images/ray-swe-fleet/image.yaml", ROOT)
    assert loaded.variant("2.52.1-py311").ray_tag == row.variant
