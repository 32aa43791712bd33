"""Rendering is pure and pinned: same inputs, same bytes; the output passes hadolint."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from ray_worker_image.definition import load_variant
from ray_worker_image.render import lock_digest, render_context, render_dockerfile
from ray_worker_image.state import ResolvedBase

ROOT = Path(__file__).resolve().parents[2]
DIGEST = "sha256:" + "ab" * 32
BASE = ResolvedBase(
    name="docker.io/rayproject/ray:2.49.2",
    source="docker.io/rayproject/ray:2.49.2",
    digest=DIGEST,
    stand_in=False,
)


@pytest.fixture(scope="module")
def definition():
    return load_variant(root=ROOT)


def test_same_inputs_give_identical_bytes(definition, tmp_path: Path) -> None:
    first = render_context(definition, BASE, tmp_path / "a")
    second = render_context(definition, BASE, tmp_path / "b")
    for name in ("Dockerfile", "requirements.txt", "build-requirements.txt"):
        assert (first.directory / name).read_bytes() == (second.directory / name).read_bytes()


def test_base_is_pinned_by_tag_and_digest(definition) -> None:
    text = render_dockerfile(definition, BASE, lock_digest(definition))
    froms = [line for line in text.splitlines() if line.startswith("FROM ")]
    assert froms and all(f"docker.io/rayproject/ray:2.49.2@{DIGEST}" in line for line in froms)
    assert f'org.opencontainers.image.base.digest="{DIGEST}"' in text
    assert 'io.github.ray-worker-image.stand-in="false"' in text


def test_every_install_verifies_hashes(definition) -> None:
    text = render_dockerfile(definition, BASE, lock_digest(definition))
    installs = [line for line in text.replace("\\\n", " ").splitlines() if " install " in line]
    assert installs
    for command in " ".join(installs).split(";"):
        if "pip install" in command:
            assert "--require-hashes" in command and "--no-cache-dir" in command


def test_inputs_change_the_output(definition) -> None:
    one = render_dockerfile(definition, BASE, lock_digest(definition))
    other = render_dockerfile(
        definition, BASE.__class__(**{**BASE.__dict__, "stand_in": True}), "x"
    )
    assert one != other


def test_final_stage_copies_only_the_install_prefix(definition) -> None:
    text = render_dockerfile(definition, BASE, lock_digest(definition))
    final = text.split("\nFROM ")[-1]
    assert "ca-bundle" not in final and "RUN" not in final
    assert final.count("COPY --from=install") == 2
    assert final.rstrip().endswith("USER 1000")


def test_rendered_dockerfile_passes_hadolint(definition, tmp_path: Path) -> None:
    hadolint = shutil.which("hadolint") or str(Path(ROOT / ".venv/bin/hadolint"))
    rendered = render_context(definition, BASE, tmp_path)
    result = subprocess.run(
        [hadolint, "--no-color", str(rendered.directory / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_missing_lock_is_a_clear_error(definition, tmp_path: Path) -> None:
    import dataclasses

    from ray_worker_image.errors import PipelineError

    reqs = dataclasses.replace(definition.requirements, lock=ROOT / "requirements/missing.txt")
    broken = dataclasses.replace(definition, requirements=reqs)
    with pytest.raises(
        PipelineError,
        match=r"requirements/missing.txt: lock file missing; run `invoke lock --variant 2\.49\.2`",
    ):
        render_context(broken, BASE, tmp_path)
    assert not (tmp_path / "context").exists()
