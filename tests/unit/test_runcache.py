"""Results kept for one run (runcache), and the SBOM of an image id made once per run.

The boundary stubbed for the SBOM is the container run itself (``sbom._make_sbom``); the
key, the folder and the reuse are the real ones. The real generator runs in
tests/engine/test_supply_chain.py.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from ray_worker_image import runcache
from ray_worker_image.definition import load_variant
from ray_worker_image.errors import PipelineError
from ray_worker_image.runcache import kept_or_computed
from ray_worker_image.supply import sbom

from ..conftest import ROOT

SBOM = json.dumps({"bomFormat": "CycloneDX", "components": []}).encode()


def test_a_result_is_computed_once_per_folder_and_a_bad_one_again(tmp_path: Path) -> None:
    calls: list[int] = []

    def compute() -> bytes:
        calls.append(1)
        return b"result %d" % len(calls)

    def ok(data: bytes) -> bool:
        return data.startswith(b"result")

    assert kept_or_computed(str(tmp_path), "k", compute, ok) == (b"result 1", False)
    assert kept_or_computed(str(tmp_path), "k", compute, ok) == (b"result 1", True)
    assert kept_or_computed(str(tmp_path), "other", compute, ok) == (b"result 2", False)
    (tmp_path / "k").write_bytes(b"older format")
    assert kept_or_computed(str(tmp_path), "k", compute, ok) == (b"result 3", False)
    assert kept_or_computed("", "k", compute, ok) == (b"result 4", False)  # no folder: no keeping
    assert kept_or_computed("", "k", compute, ok) == (b"result 5", False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k", "other"]  # no temporary left


def test_a_failed_computation_keeps_nothing(tmp_path: Path) -> None:
    def fail() -> bytes:
        raise PipelineError("cyclonedx-py failed")

    with pytest.raises(PipelineError):
        kept_or_computed(str(tmp_path), "k", fail, lambda _: True)
    assert list(tmp_path.iterdir()) == []


def _engine(ids: dict[str, str]) -> SimpleNamespace:
    return SimpleNamespace(image_attrs=lambda image: {"Id": ids.get(image, image)})


def test_the_sbom_of_an_image_id_is_made_once_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for folder in ("images", "requirements"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    definition = load_variant(root=tmp_path)
    made: list[str] = []

    def make(_definition: object, _engine: object, image: str, _ca: object) -> bytes:
        made.append(image)
        return SBOM

    monkeypatch.setattr(sbom, "_make_sbom", make)
    engine = _engine({"repo:tag": "sha256:" + "1" * 64})
    monkeypatch.delenv(sbom.CACHE_ENV, raising=False)
    sbom.generate_sbom(definition, engine, "sha256:" + "1" * 64, None)  # type: ignore[arg-type]
    sbom.generate_sbom(definition, engine, "sha256:" + "1" * 64, None)  # type: ignore[arg-type]
    assert len(made) == 2  # unset: every call makes it

    monkeypatch.setenv(sbom.CACHE_ENV, str(tmp_path / "cache"))
    made.clear()
    for image in ("sha256:" + "1" * 64, "repo:tag", "sha256:" + "2" * 64):
        assert sbom.generate_sbom(definition, engine, image, None) == SBOM  # type: ignore[arg-type]
    assert made == ["sha256:" + "1" * 64, "sha256:" + "2" * 64]  # a tag is keyed by its id
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    sbom.generate_sbom(definition, engine, "repo:tag", ca)  # type: ignore[arg-type]
    lock = sbom.sbom_lock(definition)
    lock.write_text(lock.read_text() + "\n# changed\n")
    sbom.generate_sbom(definition, engine, "repo:tag", None)  # type: ignore[arg-type]
    assert len(made) == 4  # another CA bundle, another generator lock: made again


def test_a_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(_src: object, _dst: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runcache.os, "replace", full)
    with pytest.raises(OSError, match="No space"):
        kept_or_computed(str(tmp_path), "k", lambda: b"result", lambda _: True)
    assert list(tmp_path.iterdir()) == []
