"""Pure tests of the RayCluster patch planner: lookups, guards, errors, renderers."""

from __future__ import annotations

import copy
import importlib.metadata
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml

from ray_worker_image import rollout
from ray_worker_image.errors import RolloutError
from ray_worker_image.rollout import (
    POD_CHECK_SNIPPET,
    assumed_view,
    load_cluster,
    patch_argv,
    plan_rollout,
    render_shell,
    to_json,
    to_yaml,
    view_from_object,
    write_outputs,
)

DATA = Path(__file__).resolve().parents[1] / "data" / "kuberay"
CLUSTER_FILES = sorted((DATA / "samples").glob("*.yaml")) + sorted(
    (DATA / "clusters").glob("*.yaml")
)
DIGEST = "sha256:" + "3f" * 32
IMAGE = f"registry.example.com/swe/ray-swe-fleet:2.49.2-nats@{DIGEST}"
CONTAINER0 = "template/spec/containers/0"


def image_for(obj: dict[str, Any]) -> str:
    """An image whose Ray version matches the cluster (samples run other Ray versions)."""
    version = obj["spec"].get("rayVersion", "2.49.2")
    return f"registry.example.com/swe/ray-swe-fleet:{version}-nats@{DIGEST}"


def cluster(name: str) -> dict[str, Any]:
    return load_cluster(str(DATA / "clusters" / name))


def plan(obj: dict[str, Any], **kw: Any) -> rollout.Rollout:
    view = view_from_object(obj, source="rc.yaml")
    kw.setdefault("expected_ray_version", obj["spec"].get("rayVersion", "2.49.2"))
    return plan_rollout(view, kw.pop("image", image_for(obj)), **kw)


def paths(ops: list[dict[str, Any]], op: str) -> list[str]:
    return [o["path"] for o in ops if o["op"] == op]


# ------------------------------------------------------------------ load_cluster


def test_load_yaml_json_stdin_and_kubectl_list(tmp_path: Path) -> None:
    obj = cluster("multi-group.yaml")
    as_json = tmp_path / "rc.json"
    as_json.write_text(json.dumps(obj))
    as_list = json.dumps({"apiVersion": "v1", "kind": "List", "items": [obj]})
    assert load_cluster(str(as_json)) == obj
    assert load_cluster("-", stdin_text=yaml.safe_dump(obj)) == obj
    assert load_cluster("-", stdin_text=as_list) == obj


def test_multi_document_file_picks_the_raycluster() -> None:
    obj = load_cluster(str(DATA / "samples" / "ray-cluster.fluentbit.yaml"))
    assert obj["kind"] == "RayCluster"
    assert obj["metadata"]["name"] == "raycluster-fluentbit-sidecar-logs"


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    only_cm = tmp_path / "cm.yaml"
    only_cm.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n")
    with pytest.raises(
        RolloutError, match=r"cm\.yaml: no RayCluster, RayJob or RayService \(found: only"
    ):
        load_cluster(str(only_cm))
    with pytest.raises(RolloutError, match=r"cannot read .*missing\.yaml"):
        load_cluster(str(tmp_path / "missing.yaml"))
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: RayCluster\nspec: [\n")
    with pytest.raises(RolloutError, match=r"broken\.yaml: not valid YAML or JSON at line"):
        load_cluster(str(broken))
    two = tmp_path / "two.yaml"
    a, b = cluster("sidecars.yaml"), cluster("autoscaler.yaml")
    two.write_text(yaml.safe_dump_all([a, b]))
    with pytest.raises(RolloutError, match="holds 2 candidates"):
        load_cluster(str(two))
    assert load_cluster(str(two), name="ray-autoscaled") == b


# ------------------------------------------------------------------ view validation


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda o: o["spec"].pop("headGroupSpec"), r"rc\.yaml: spec\.headGroupSpec is missing"),
        (
            lambda o: o["spec"]["workerGroupSpecs"][1]["template"]["spec"].update(containers=[]),
            r"rc\.yaml: spec\.workerGroupSpecs\[1\]\.template\.spec\.containers is missing",
        ),
        (
            lambda o: o["spec"]["headGroupSpec"]["template"]["spec"]["containers"][0].pop("image"),
            r"spec\.headGroupSpec\.template\.spec\.containers\[0\]\.image is missing",
        ),
        (
            lambda o: o["spec"]["workerGroupSpecs"][2].pop("groupName"),
            r"spec\.workerGroupSpecs\[2\]\.groupName is missing",
        ),
        (
            lambda o: o["spec"]["workerGroupSpecs"][2].update(groupName="cpu-small"),
            r"groupName 'cpu-small' is used twice",
        ),
        (lambda o: o.update(kind="Deployment"), "expected kind RayCluster, RayJob or RayService"),
        (lambda o: o.update(apiVersion="ray.io/v2"), "apiVersion 'ray.io/v2' of RayCluster"),
        (lambda o: o["metadata"].pop("name"), r"metadata\.name None is missing"),
    ],
)
def test_shape_errors_name_the_json_path(mutate: Any, message: str) -> None:
    obj = cluster("multi-group.yaml")
    mutate(obj)
    with pytest.raises(RolloutError, match=message):
        view_from_object(obj, source="rc.yaml")


def test_namespace_sources() -> None:
    sample = load_cluster(str(DATA / "samples" / "ray-cluster.sample.yaml"))
    view = view_from_object(sample, source="s.yaml")
    assert view.namespace == "default"
    assert "no metadata.namespace" in view.notes[0]
    assert view_from_object(sample, namespace="ray").namespace == "ray"
    with pytest.raises(RolloutError, match=r"metadata\.namespace is 'ray' but --namespace"):
        view_from_object(cluster("multi-group.yaml"), namespace="prod")


# ------------------------------------------------------------------ groups by name


def test_groups_are_found_by_name_not_position() -> None:
    obj = cluster("multi-group.yaml")
    r = plan(obj, groups=["gpu-a100"])
    gpu = "/spec/workerGroupSpecs/1"
    assert paths(r.patch, "replace") == [
        f"/spec/headGroupSpec/{CONTAINER0}/image",
        f"{gpu}/{CONTAINER0}/image",
    ]
    assert {"op": "test", "path": f"{gpu}/groupName", "value": "gpu-a100"} in r.patch
    assert {"op": "test", "path": f"{gpu}/{CONTAINER0}/name", "value": "ray-gpu-worker"} in r.patch
    assert {
        "op": "test",
        "path": f"{gpu}/{CONTAINER0}/image",
        "value": "rayproject/ray:2.49.2-gpu",
    } in r.patch

    # Same cluster with the groups in another order: the patch follows the names.
    obj["spec"]["workerGroupSpecs"].reverse()
    r = plan(obj, groups=["gpu-a100", "batch-cpu"])
    groups = obj["spec"]["workerGroupSpecs"]
    patched = jsonpatch.apply_patch(obj, r.patch)
    for i, g in enumerate(groups):
        want = (
            IMAGE
            if g["groupName"] in ("gpu-a100", "batch-cpu")
            else g["template"]["spec"]["containers"][0]["image"]
        )
        assert (
            patched["spec"]["workerGroupSpecs"][i]["template"]["spec"]["containers"][0]["image"]
            == want
        )


def test_default_is_every_group_in_spec_order() -> None:
    r = plan(cluster("multi-group.yaml"))
    assert [t.group.name for t in r.targets] == ["headgroup", "cpu-small", "gpu-a100", "batch-cpu"]
    assert len(paths(r.patch, "replace")) == 4


def test_unknown_group_lists_the_existing_ones() -> None:
    with pytest.raises(RolloutError) as err:
        plan(cluster("multi-group.yaml"), groups=["gpu-h100"])
    message = str(err.value)
    assert "'gpu-h100' not found" in message
    assert "cpu-small, gpu-a100, batch-cpu" in message
    assert "\n" not in message
    with pytest.raises(RolloutError, match="has no worker groups"):
        plan(cluster("head-only-recreate.yaml"), groups=["workers"])


def test_empty_group_list_patches_the_head_only() -> None:
    r = plan(cluster("multi-group.yaml"), groups=[])
    assert paths(r.patch, "replace") == [f"/spec/headGroupSpec/{CONTAINER0}/image"]


# ------------------------------------------------------------------ refusals


def test_image_must_carry_a_digest() -> None:
    obj = cluster("multi-group.yaml")
    with pytest.raises(RolloutError, match="has no digest"):
        plan(obj, image="registry.example.com/swe/ray-swe-fleet:2.49.2-nats")
    with pytest.raises(RolloutError, match="digest must be sha256"):
        plan(obj, image="registry.example.com/swe/ray@sha256:abc")
    # REPO@sha256 without a tag is fine too.
    assert plan(obj, image=f"registry.example.com/swe/ray-swe-fleet@{DIGEST}").patch


def test_ray_version_must_agree() -> None:
    obj = cluster("multi-group.yaml")
    with pytest.raises(RolloutError) as err:
        plan(obj, expected_ray_version="2.52.0")
    message = str(err.value)
    for part in ("runs Ray 2.49.2 (rayproject/ray:2.49.2)", "Ray 2.52.0", "build variant 2.49.2"):
        assert part in message
    del obj["spec"]["rayVersion"]
    r = plan(obj, expected_ray_version="2.49.2")
    assert any("spec.rayVersion is not set" in w for w in r.warnings)
    assert "/spec/rayVersion" not in paths(r.patch, "test")


def test_restart_choice_is_checked() -> None:
    with pytest.raises(RolloutError, match="--restart 'pods' is not one of"):
        plan(cluster("multi-group.yaml"), restart="pods")


# ------------------------------------------------------------------ patch and rollback


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_rollback_inverts_the_patch(path: Path) -> None:
    obj = load_cluster(str(path))
    original = copy.deepcopy(obj)
    r = plan(obj)
    patched = jsonpatch.apply_patch(obj, r.patch)
    assert obj == original, "planning must not mutate the object"
    changed = {
        o["path"] for o in jsonpatch.make_patch(original, patched).patch if o["op"] != "test"
    }
    assert changed == set(paths(r.patch, "replace"))
    assert jsonpatch.apply_patch(patched, r.rollback) == original
    # The rollback is guarded by the new image: it cannot run twice.
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(original, r.rollback)


def test_stale_view_fails_instead_of_clobbering() -> None:
    obj = cluster("multi-group.yaml")
    r = plan(obj)
    someone_else = copy.deepcopy(obj)
    someone_else["spec"]["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["image"] = (
        "rayproject/ray:2.49.2-cu124"
    )
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(someone_else, r.patch)
    renamed = copy.deepcopy(obj)
    renamed["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["name"] = "ray"
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(renamed, r.patch)


def test_sidecars_and_init_containers_keep_their_images() -> None:
    for name in ("sidecars.yaml", "init-ray-image.yaml"):
        obj = cluster(name)
        patched = jsonpatch.apply_patch(obj, plan(obj).patch)
        for before, after in zip(
            [obj["spec"]["headGroupSpec"], *obj["spec"]["workerGroupSpecs"]],
            [patched["spec"]["headGroupSpec"], *patched["spec"]["workerGroupSpecs"]],
            strict=True,
        ):
            assert after["template"]["spec"]["containers"][0]["image"] == IMAGE
            assert (
                after["template"]["spec"]["containers"][1:]
                == before["template"]["spec"]["containers"][1:]
            )
            assert after["template"]["spec"].get("initContainers") == before["template"][
                "spec"
            ].get("initContainers")
    warnings = plan(cluster("init-ray-image.yaml")).warnings
    assert any(
        "initContainers[0] 'ray-head-tls' also runs rayproject/ray:2.49.2" in w for w in warnings
    )
    assert any("initContainers[1] 'ray-worker-tls'" in w for w in warnings)


def test_templates_already_on_the_image_are_skipped() -> None:
    obj = cluster("multi-group.yaml")
    obj["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]["image"] = IMAGE
    r = plan(obj)
    assert "/spec/workerGroupSpecs/0" not in json.dumps(r.patch)
    assert any("worker group 'cpu-small' already uses" in w for w in r.warnings)
    done = jsonpatch.apply_patch(obj, r.patch)
    again = plan(done)
    assert again.patch == []
    assert again.rollback == []
    assert any("nothing to patch" in w for w in again.warnings)
    assert not [c for c in again.commands if c.title.startswith("Apply")]


def test_assumed_view_guards_every_index() -> None:
    live = cluster("multi-group.yaml")
    live["spec"]["workerGroupSpecs"][1]["template"]["spec"]["containers"][0]["image"] = (
        "rayproject/ray:2.49.2"
    )
    view = assumed_view(
        "ray-gpu", "ray", ["cpu-small", "gpu-a100"], current_image="rayproject/ray:2.49.2"
    )
    r = plan_rollout(view, IMAGE, expected_ray_version="2.49.2")
    assert r.patch[0] == {"op": "test", "path": "/spec/rayVersion", "value": "2.49.2"}
    assert {"op": "test", "path": "/spec/workerGroupSpecs/1/groupName", "value": "gpu-a100"} in (
        r.patch
    )
    assert not [p for p in paths(r.patch, "test") if p.endswith("/name")]
    patched = jsonpatch.apply_patch(live, r.patch)
    assert jsonpatch.apply_patch(patched, r.rollback) == live
    # A wrong guess about the order fails instead of patching the wrong group.
    wrong = assumed_view(
        "ray-gpu", "ray", ["gpu-a100", "cpu-small"], current_image="rayproject/ray:2.49.2"
    )
    with pytest.raises(jsonpatch.JsonPatchTestFailed):
        jsonpatch.apply_patch(live, plan_rollout(wrong, IMAGE, expected_ray_version="2.49.2").patch)
    assert "made without the live object" in r.warnings[0]
    with pytest.raises(RolloutError, match="names a group twice"):
        assumed_view("ray-gpu", "ray", ["a", "a"], current_image="rayproject/ray:2.49.2")


# ------------------------------------------------------------------ commands


def shell_of(r: rollout.Rollout, phase: str = "rollout") -> str:
    return "\n".join(c.shell for c in r.commands if c.phase == phase)


def test_restart_choices_use_kuberay_labels() -> None:
    obj = cluster("multi-group.yaml")
    head_sel = "ray.io/cluster=ray-gpu,ray.io/node-type=head"
    gpu_sel = "ray.io/cluster=ray-gpu,ray.io/node-type=worker,ray.io/group=gpu-a100"
    deletes = {
        restart: [
            c.argv
            for c in plan(obj, restart=restart, groups=["gpu-a100"]).commands
            if c.argv and c.argv[1] == "delete" and c.phase == "rollout"
        ]
        for restart in rollout.RESTART_CHOICES
    }
    base = ("kubectl", "delete", "pod", "-n", "ray", "-l")
    assert deletes["workers"] == [(*base, gpu_sel)]
    assert deletes["head"] == [(*base, head_sel)]
    assert deletes["all"] == [(*base, head_sel), (*base, gpu_sel)]
    assert deletes["none"] == []
    for restart in rollout.RESTART_CHOICES:
        text = json.dumps([c.shell for c in plan(obj, restart=restart).commands])
        assert "groupName=" not in text.replace('groupName==\\"', "")
    workers = plan(obj, restart="workers")
    assert any("head pod keeps running rayproject/ray:2.49.2" in w for w in workers.warnings)
    assert any("cluster state is lost" in w for w in workers.warnings)


def test_head_restart_states_its_cost() -> None:
    r = plan(cluster("multi-group.yaml"), restart="head")
    (head,) = [c for c in r.commands if c.title == "Restart the head" and c.phase == "rollout"]
    assert "all cluster state is lost" in head.why
    assert "upgradeStrategy.type: Recreate" in head.why
    assert "KubeRay >= 1.6" in head.why


def test_recreate_strategy_waits_instead_of_deleting() -> None:
    r = plan(cluster("head-only-recreate.yaml"), restart="all")
    assert not [c for c in r.commands if c.argv and c.argv[1] == "delete"]
    assert [c.title for c in r.commands if c.title.startswith("Wait")] == [
        "Wait for the head on its template's image",
        "Wait for the head on its template's image",
    ]
    assert any("KubeRay (>= 1.6) deletes and recreates every pod" in w for w in r.warnings)
    assert any("restored from Redis" in w for w in r.warnings), "GCS FT is configured"


def test_wait_cannot_race_pod_creation() -> None:
    r = plan(cluster("autoscaler.yaml"))
    waits = [c.shell for c in r.commands if c.title.startswith("Wait") and c.phase == "rollout"]
    assert len(waits) == 2
    for block in waits:
        poll = block.index("while :; do")
        wait = block.index("kubectl wait pod")
        assert poll < block.index("have == want && on_image == want") < wait
        assert "{.spec.containers[0].image}" in block
    assert '[?(@.groupName=="multihost")]}{.replicas},{.numOfHosts},{.suspend}' in waits[1]
    assert any("autoscaler sidecar has no autoscalerOptions.image" in w for w in r.warnings)


def test_suspended_cluster_restarts_nothing() -> None:
    obj = cluster("multi-group.yaml")
    obj["spec"]["suspend"] = True
    r = plan(obj, restart="all")
    assert r.restarted == ()
    assert r.patch
    assert not [c for c in r.commands if c.argv and c.argv[1] == "delete"]


def test_owned_cluster_is_refused_unless_forced() -> None:
    obj = cluster("multi-group.yaml")
    obj["metadata"]["ownerReferences"] = [{"kind": "RayService", "name": "serve", "uid": "u"}]
    with pytest.raises(
        RolloutError, match=r"owned by RayService/serve.*get rayservice serve -n ray"
    ):
        plan(obj)
    forced = plan(obj, force=True)
    assert any(w.startswith("FORCED") and "RayService/serve" in w for w in forced.warnings)


def test_patch_argv_live_and_local() -> None:
    r = plan(cluster("multi-group.yaml"))
    assert patch_argv(r) == [
        "kubectl",
        "patch",
        "raycluster",
        "ray-gpu",
        "-n",
        "ray",
        "--type=json",
        "--patch-file=patch.json",
    ]
    assert patch_argv(r, rollback=True, dry_run=True)[-2:] == [
        "--patch-file=rollback.json",
        "--dry-run=server",
    ]
    assert patch_argv(r, local_file="rc.json", kubectl="/k") == [
        "/k",
        "patch",
        "--local",
        "--dry-run=client",
        "-f",
        "rc.json",
        "--type=json",
        "--patch-file=patch.json",
        "-o",
        "json",
    ]


# ------------------------------------------------------------------ renderers and files


def test_json_and_yaml_renderers() -> None:
    r = plan(cluster("multi-group.yaml"))
    text = to_json(r.patch)
    assert text.endswith("}\n]\n")
    assert json.loads(text) == r.patch
    assert to_json(r.patch) == text
    assert yaml.safe_load(to_yaml(r.patch)) == r.patch
    assert to_json([]) == "[]\n"


@pytest.mark.parametrize("path", CLUSTER_FILES, ids=lambda p: p.name)
def test_rollout_script_holds_every_command(path: Path, tmp_path: Path) -> None:
    r = plan(load_cluster(str(path)), restart="all")
    script = render_shell(r)
    assert script.startswith("#!/usr/bin/env bash\n")
    assert "\nset -euo pipefail\n" in script
    assert "upgradeStrategy.type: Recreate" in script
    assert "KubeRay >= 1.6" in script
    assert "GCS fault tolerance" in script
    for c in r.commands:
        assert c.shell in script
    for w in r.warnings:
        assert w.split()[0] in script
    target = tmp_path / "rollout.sh"
    target.write_text(script)
    subprocess.run(["bash", "-n", str(target)], check=True)


def test_write_outputs(tmp_path: Path) -> None:
    r = plan(cluster("sidecars.yaml"))
    written = write_outputs(r, tmp_path / "out")
    assert sorted(written) == ["patch.json", "rollback.json", "rollout.sh"]
    assert json.loads(written["patch.json"].read_text()) == r.patch
    assert json.loads(written["rollback.json"].read_text()) == r.rollback
    assert written["rollout.sh"].stat().st_mode & stat.S_IXUSR
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(written)


def test_write_outputs_leaves_nothing_half_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "patch.json").write_text("old\n")
    calls = []

    def failing_fsync(fd: int) -> None:
        calls.append(fd)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")

    monkeypatch.setattr(rollout.output.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="No space left"):
        write_outputs(plan(cluster("sidecars.yaml")), tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["patch.json"]
    assert (tmp_path / "patch.json").read_text() == "old\n"


# ------------------------------------------------------------------ pod check snippet


def test_pod_check_snippet_prints_the_nats_version() -> None:
    done = subprocess.run(
        [sys.executable, "-c", POD_CHECK_SNIPPET], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"nats-py {importlib.metadata.version('nats-py')} imports from")


def test_pod_check_snippet_fails_cleanly_without_nats() -> None:
    # -S: no site-packages, so nats-py is absent, as in an image built without it.
    done = subprocess.run(
        [sys.executable, "-S", "-c", POD_CHECK_SNIPPET],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith("nats-py check FAILED: ModuleNotFoundError")
    assert "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1


def test_find_kubectl_prefers_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    fake = tmp_path / "kubectl"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert rollout.find_kubectl() == str(fake)
    monkeypatch.setenv("PATH", os.devnull)
    bundled = Path(rollout.output.sysconfig.get_path("scripts")) / "kubectl"
    assert rollout.find_kubectl() == (str(bundled) if bundled.is_file() else None)


def test_printed_rollout_without_the_live_object_points_only_at_rollout_sh(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without --from, patch.json exists only once rollout.sh has read the cluster."""
    from ray_worker_image.output import print_rollout

    view = assumed_view("ray-gpu", "ray", ["cpu-small"], current_image="rayproject/ray:2.49.2")
    print_rollout(plan_rollout(view, IMAGE, expected_ray_version="2.49.2"), tmp_path)
    printed = capsys.readouterr().out
    assert "patch.json" not in printed.replace("its own patch.json", "")
    assert f"bash {tmp_path / 'rollout.sh'}\n" in printed
    assert f"bash {tmp_path / 'rollout.sh'} rollback" in printed
