"""The input key (what goes in changes it; nothing else does) and the commit time."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ray_worker_image.build import build_args
from ray_worker_image.definition import load_definition
from ray_worker_image.inputs import (
    commit_epoch,
    input_files,
    input_key,
    lock_inputs_key,
    normalised_definition,
    rfc3339,
)

ROOT = Path(__file__).resolve().parents[2]
DEFINITION = load_definition(root=ROOT).variant(None)
BASE = "sha256:" + "b" * 64
FILES = {"ray-worker.txt": b"nats-py==2.10.0 --hash=sha256:x\n", "ray-worker.in": b"nats-py\n"}


def _key(**changes: object) -> str:
    parts: dict[str, object] = {
        "base_digest": BASE,
        "files": FILES,
        "dockerfile": "FROM x\n",
        "definition": {"variant": "2.49.2"},
        "revision": "0123456789ab",
    }
    parts.update(changes)
    return input_key(**parts)  # type: ignore[arg-type]


def test_the_key_is_stable_and_names_its_hash() -> None:
    assert _key() == _key()
    assert _key().startswith("sha256:") and len(_key()) == 71


@pytest.mark.parametrize(
    "change",
    [
        {"base_digest": "sha256:" + "c" * 64},
        {"files": {**FILES, "ray-worker.txt": b"nats-py==2.11.0\n"}},
        {"files": {**FILES, "ray-worker.in": b"nats-py\naiohttp\n"}},
        {"dockerfile": "FROM x\n# a comment\n"},
        {"definition": {"variant": "2.52.1-py311"}},
        {"revision": "0123456789ac"},
    ],
)
def test_every_input_changes_the_key(change: dict[str, object]) -> None:
    assert _key(**change) != _key()


def test_the_lock_key_ignores_the_template_and_follows_the_lock() -> None:
    assert lock_inputs_key(base_digest=BASE, files=FILES) == lock_inputs_key(
        base_digest=BASE, files=dict(FILES)
    )
    assert lock_inputs_key(base_digest=BASE, files=FILES) != lock_inputs_key(
        base_digest="sha256:" + "c" * 64, files=FILES
    )


def test_the_definition_is_normalised_without_where_it_lives(tmp_path: Path) -> None:
    data = normalised_definition(DEFINITION)
    assert "path" not in data and "root" not in data
    assert data["variant"] == DEFINITION.variant
    assert data["requirements"]["lock"] == "requirements/2.49.2/ray-worker.txt"
    assert set(input_files(DEFINITION)) == {
        "constraints.txt", "ray-worker.txt", "ray-worker-build.txt", "ray-worker.in", "build.in",
    }  # fmt: skip


def test_created_is_the_commit_time_not_the_clock() -> None:
    epoch = int(
        subprocess.run(
            ["git", "log", "-1", "--format=%ct"], cwd=ROOT, capture_output=True, text=True
        ).stdout
    )
    assert commit_epoch(ROOT) == epoch
    assert rfc3339(1767225600) == "2026-01-01T00:00:00Z"
    args = build_args("rev", rfc3339(commit_epoch(ROOT)), key="k", lock_key="l")
    assert args["CREATED"] == rfc3339(epoch)
    assert set(args) == {"REVISION", "CREATED", "INPUT_KEY", "LOCK_INPUTS", "BASE_SOURCE"}


def test_without_git_the_time_comes_from_source_date_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1767225600")
    assert commit_epoch(tmp_path) == 1767225600
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    with pytest.raises(Exception, match="SOURCE_DATE_EPOCH"):
        commit_epoch(tmp_path)


def test_the_template_reads_every_build_arg() -> None:
    template = (ROOT / "images/ray-swe-fleet/Dockerfile.j2").read_text()
    for name in (*build_args("r", "c"), "SOURCE_DATE_EPOCH"):
        assert f"ARG {name}" in template
