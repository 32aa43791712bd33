"""Issue 17 points 2 and 3 with the real kubectl: a patch made without --from applies to
every usual spelling of the current image; --write/--check through Kustomize (images:
entries, kustomization folders rendered by `kubectl kustomize`); symlinked manifests.

The new image lives on a registry where nothing listens (127.0.0.1:9): its labels cannot
be read, so its tag (this project's grammar) classifies it and the output says so.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml

from ray_worker_image.rollout import find_kubectl
from tests.inprocess import Ran, run_invoke

ROOT = Path(__file__).resolve().parents[2]
D = "sha256:" + "e7" * 32
OLD = "sha256:" + "0a" * 32
IMAGE = f"127.0.0.1:9/swe-fleet/ray:2.49.2-nats@{D}"
MANIFESTS = sorted((ROOT / "deploy/k8s").glob("*.yaml"))
SPELLINGS = [
    "rayproject/ray:2.49.2",
    "docker.io/rayproject/ray:2.49.2",
    "index.docker.io/rayproject/ray:2.49.2",
    f"rayproject/ray@{OLD}",
    f"docker.io/rayproject/ray:2.49.2@{OLD}",
    f"registry.example.com/swe-fleet/ray:2.49.2-nats-g0123456@{OLD}",  # an earlier release
]

pytestmark = pytest.mark.skipif(find_kubectl() is None, reason="no kubectl")


def patch(*args: str) -> Ran:
    return run_invoke(["patch", *args], ROOT)


def kubectl(*args: str) -> Ran:
    return subprocess.run([str(find_kubectl()), *args], capture_output=True, text=True, check=False)


def images(text: str) -> list[str]:
    out = []
    for doc in yaml.safe_load_all(text):
        if doc and doc.get("kind") == "RayCluster":
            spec = doc["spec"]
            for group in (spec["headGroupSpec"], *spec.get("workerGroupSpecs", [])):
                out.append(group["template"]["spec"]["containers"][0]["image"])
    return out


def respelled(manifest: Path, spelling: str) -> str:
    text = manifest.read_text()
    for image in set(images(text)):
        text = text.replace(f"image: {image}", f"image: {spelling}")
    return text


@pytest.fixture(scope="module")
def bare_patch() -> str:
    """`invoke patch --image IMAGE` without --from (name, namespace, groups: invoke.yaml)."""
    made = patch("--image", IMAGE, "--format", "json")
    assert made.returncode == 0, made.stderr
    return made.stdout


def test_the_tag_fallback_is_said() -> None:
    """Was: the unreadable image silently became the definition's variant."""
    made = patch("--image", IMAGE, "--format", "json")
    assert made.returncode == 0, made.stderr
    assert (
        f"{IMAGE}: variant 2.49.2 taken from its tag, because its labels could not be read"
        " (registry 127.0.0.1:9: ConnectionError" in made.stderr
    )


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: p.name)
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_a_patch_made_without_from_applies_to_every_spelling(
    bare_patch: str, manifest: Path, spelling: str, tmp_path: Path
) -> None:
    """Was: the patch tested image == docker.io/rayproject/ray:2.49.2, so kubectl refused
    the project's own manifest (rayproject/ray:2.49.2) and every other spelling."""
    cluster = tmp_path / manifest.name
    cluster.write_text(respelled(manifest, spelling))
    applied = kubectl(
        "patch", "--local", "--type=json", "-p", bare_patch, "-f", str(cluster), "-o", "yaml"
    )
    assert applied.returncode == 0, applied.stderr
    assert images(applied.stdout) == [IMAGE, IMAGE]


def test_the_project_manifest_as_it_is(bare_patch: str) -> None:
    for manifest in MANIFESTS:
        applied = kubectl(
            "patch", "--local", "--type=json", "-p", bare_patch, "-f", str(manifest), "-o", "json"
        )
        assert applied.returncode == 0, applied.stderr
    ops = json.loads(bare_patch)
    assert not [op for op in ops if op["op"] == "test" and op["path"].endswith("/image")]


def _tree(tmp_path: Path) -> Path:
    """A git repository: base/ (the project's manifest) and overlay/ overriding the image."""
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    base, overlay = tmp_path / "base", tmp_path / "overlay"
    base.mkdir()
    overlay.mkdir()
    (base / "ray-gpu.yaml").write_text((ROOT / "deploy/k8s/ray-gpu.yaml").read_text())
    (base / "kustomization.yaml").write_text("resources:\n- ray-gpu.yaml\n")
    (overlay / "kustomization.yaml").write_text(
        "# prod overlay\nresources:\n- ../base\nimages:\n"
        "# the Ray image, moved by CI\n- name: rayproject/ray\n  newTag: 2.49.2  # pinned\n"
    )
    return tmp_path


def test_an_overlay_images_entry_is_updated_and_rendered(tmp_path: Path) -> None:
    """Was: --write on a kustomization folder was refused ("is a folder")."""
    tree = _tree(tmp_path)
    overlay = tree / "overlay"
    before = (tree / "base/ray-gpu.yaml").read_text()
    stale = patch("--write", str(overlay), "--check", "--image", IMAGE)
    assert stale.returncode == 1 and "not on the image" in stale.stderr
    written = patch("--write", str(overlay), "--image", IMAGE)
    assert written.returncode == 0, written.stderr
    text = (overlay / "kustomization.yaml").read_text()
    assert "# the Ray image, moved by CI" in text and "# pinned" in text  # comments kept
    entry = yaml.safe_load(text)["images"][0]
    assert entry == {
        "name": "rayproject/ray",
        "newName": "127.0.0.1:9/swe-fleet/ray",
        "newTag": "2.49.2-nats",
        "digest": D,
    }
    assert images(kubectl("kustomize", str(overlay)).stdout) == [IMAGE, IMAGE]
    assert (tree / "base/ray-gpu.yaml").read_text() == before  # the base is not touched
    again = patch("--write", str(overlay), "--check", "--image", IMAGE)
    assert again.returncode == 0 and "already on the image" in again.stderr


def test_write_on_an_overridden_manifest_edits_the_entry(tmp_path: Path) -> None:
    """Was: the manifest was edited, --check said "already on the image", and
    `kubectl kustomize` still rendered the entry's old image."""
    tree = _tree(tmp_path)
    app = tree / "overlay"
    (app / "ray-gpu.yaml").write_text((ROOT / "deploy/k8s/ray-gpu.yaml").read_text())
    (app / "kustomization.yaml").write_text(
        "resources:\n- ray-gpu.yaml\nimages:\n- name: rayproject/ray\n"
        "  newName: docker.io/rayproject/ray\n  newTag: 2.49.2\n"
    )
    before = (app / "ray-gpu.yaml").read_text()
    written = patch("--write", str(app / "ray-gpu.yaml"), "--image", IMAGE)
    assert written.returncode == 0, written.stderr
    assert (app / "ray-gpu.yaml").read_text() == before
    assert images(kubectl("kustomize", str(app)).stdout) == [IMAGE, IMAGE]
    check = patch("--write", str(app / "ray-gpu.yaml"), "--check", "--image", IMAGE)
    assert check.returncode == 0, check.stderr


def test_a_kustomization_without_an_entry_gets_one(tmp_path: Path) -> None:
    base = _tree(tmp_path) / "base"
    written = patch("--write", str(base), "--image", IMAGE)
    assert written.returncode == 0, written.stderr
    entries = yaml.safe_load((base / "kustomization.yaml").read_text())["images"]
    assert [e["name"] for e in entries] == ["rayproject/ray"]
    assert images(kubectl("kustomize", str(base)).stdout) == [IMAGE, IMAGE]


def test_an_entry_that_would_move_a_group_left_alone_is_refused(tmp_path: Path) -> None:
    overlay = _tree(tmp_path) / "overlay"
    before = (overlay / "kustomization.yaml").read_text()
    refused = patch("--write", str(overlay), "--groups", "", "--image", IMAGE)
    errors = [line for line in refused.stderr.splitlines() if line.startswith("error:")]
    assert refused.returncode == 2 and len(errors) == 1, (
        refused.stderr
    )  # a refused patch: an input error
    assert "images[0] (name rayproject/ray) also sets the image of worker group" in errors[0]
    assert (overlay / "kustomization.yaml").read_text() == before


def test_write_follows_a_symlink(tmp_path: Path) -> None:
    """Was: the link was replaced by a file and the real manifest kept the old image."""
    real = tmp_path / "shared" / "ray-gpu.yaml"
    real.parent.mkdir()
    real.write_text((ROOT / "deploy/k8s/ray-gpu.yaml").read_text())
    link = tmp_path / "app" / "ray-gpu.yaml"
    link.parent.mkdir()
    link.symlink_to("../shared/ray-gpu.yaml")
    written = patch("--write", str(link), "--image", IMAGE)
    assert written.returncode == 0, written.stderr
    assert link.is_symlink() and link.readlink() == Path("../shared/ray-gpu.yaml")
    assert images(real.read_text()) == [IMAGE, IMAGE]


def _one_error(result: Ran) -> str:
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2 and len(errors) == 1, (
        result.stderr
    )  # a refused patch: an input error
    return errors[0]


def test_a_ray_llm_cluster_is_refused_for_the_cpu_image() -> None:
    """Was: exit 0, the GPU Python 3.11 ray-llm cluster patched to the CPU Python 3.9 image."""
    llm = ROOT / "tests/data/kuberay/variants/ray-llm-2.49.2-py311-cu128.yaml"
    error = _one_error(patch("--from", str(llm), "--image", IMAGE))
    assert "rayproject/ray-llm:2.49.2-py311-cu128 (variant 2.49.2-py311-cu128)" in error
    assert "build variant 2.49.2-py311-cu128" in error


def test_an_unreadable_digest_only_image_needs_variant() -> None:
    """Was: a digest alone was taken for the definition's variant, exit 0."""
    bare = f"127.0.0.1:9/swe-fleet/ray@{D}"
    manifest = str(ROOT / "deploy/k8s/ray-gpu.yaml")
    error = _one_error(patch("--from", manifest, "--image", bare))
    assert "cannot tell which Ray variant it is: its labels could not be read" in error
    assert "pass --variant VARIANT" in error
    declared = patch("--from", manifest, "--image", bare, "--variant", "2.49.2")
    assert declared.returncode == 0, declared.stderr
    assert "variant 2.49.2 as --variant says" in declared.stderr
    wrong = _one_error(patch("--from", manifest, "--image", bare, "--variant", "2.52.1-py311"))
    assert "is variant 2.52.1-py311" in wrong and "build variant 2.49.2" in wrong


@pytest.mark.parametrize("fmt", ["helm-values", "shell", "yaml"])
def test_every_output_format_identifies_the_image(fmt: str) -> None:
    """helm-values and rollout.sh put the image into the cluster as the patch does."""
    bare = f"127.0.0.1:9/swe-fleet/ray@{D}"
    manifest = str(ROOT / "deploy/k8s/ray-gpu.yaml")
    assert "pass --variant" in _one_error(
        patch("--from", manifest, "--image", bare, "--format", fmt)
    )
    llm = str(ROOT / "tests/data/kuberay/variants/ray-llm-2.49.2-py311-cu128.yaml")
    assert "build variant 2.49.2-py311-cu128" in _one_error(
        patch("--from", llm, "--image", IMAGE, "--format", fmt)
    )


def test_parents_are_searched_up_to_the_git_root_only(tmp_path: Path) -> None:
    """An entry in a parent folder (inside the repository) is edited; one above the git
    root is not searched, so the manifest itself is edited there."""
    from ray_worker_image.rollout.kustomize import chain

    outside = tmp_path / "kustomization.yaml"
    outside.write_text("images:\n- name: rayproject/ray\n  newTag: 2.49.2\n")
    repo = tmp_path / "repo"
    deep = repo / "apps" / "ray"
    deep.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    manifest = deep / "ray-gpu.yaml"
    manifest.write_text((ROOT / "deploy/k8s/ray-gpu.yaml").read_text())
    assert list(chain(deep)) == []  # the one above the git root is not searched
    written = patch("--write", str(manifest), "--image", IMAGE)
    assert written.returncode == 0, written.stderr
    assert images(manifest.read_text()) == [IMAGE, IMAGE]
    assert "newTag: 2.49.2\n" in outside.read_text()
    parent = repo / "apps" / "kustomization.yaml"
    parent.write_text("resources:\n- ray\nimages:\n- name: 127.0.0.1:9/swe-fleet/ray\n")
    (deep / "kustomization.yaml").write_text("resources:\n- ray-gpu.yaml\n")
    newer = IMAGE.replace("e7" * 32, "e8" * 32)
    written = patch("--write", str(manifest), "--image", newer)
    assert written.returncode == 0, written.stderr
    assert images(manifest.read_text()) == [IMAGE, IMAGE]  # the entry decides, not the file
    assert images(kubectl("kustomize", str(repo / "apps")).stdout) == [newer, newer]
