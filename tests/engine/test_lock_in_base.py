"""`invoke lock` for real: pip-compile inside a container of the variant's base image."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ray_worker_image.definition import load_variant
from ray_worker_image.lock import compute_lock, parse_lock, stale_entries, write_lock

from ..conftest import ROOT, Built

pytestmark = pytest.mark.engine


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    """The files `invoke lock` reads and writes, in a scratch repository."""
    for folder in ("images", "requirements"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    return tmp_path


def test_committed_locks_are_current_and_edits_are_caught(built: Built, repo_copy: Path) -> None:
    s = built.session
    definition = load_variant(root=repo_copy)
    base = built.image.base
    fresh = compute_lock(definition, s.engine, base, s.ca_cert)
    assert stale_entries(definition, fresh) == []
    assert parse_lock(fresh.lock)["nats-py"].version == "2.10.0"
    assert "# Do not edit" in fresh.constraints

    # Edit the .in as a developer would: the committed lock is now stale, by name.
    in_file = definition.requirements.input
    in_file.write_text(in_file.read_text().replace("nats-py==2.10.0", "nats-py==2.9.0"))
    edited = compute_lock(definition, s.engine, base, s.ca_cert)
    assert stale_entries(definition, edited) == [
        "requirements/2.49.2/ray-worker.txt: nats-py 2.10.0 -> 2.9.0"
    ]

    # `invoke lock` writes it, and then the check passes again.
    write_lock(definition, edited)
    assert stale_entries(definition, edited) == []


def test_a_pin_that_fights_the_base_is_refused(built: Built, repo_copy: Path) -> None:
    """The constraints hold the base's packages: asking to move aiohttp cannot resolve."""
    definition = load_variant(root=repo_copy)
    in_file = definition.requirements.input
    in_file.write_text(in_file.read_text().replace("aiohttp\n", "aiohttp==3.10.0\n"))
    from ray_worker_image.errors import LockError

    with pytest.raises(LockError, match=r"pip-compile requirements/2\.49\.2/ray-worker\.in failed"):
        compute_lock(definition, built.session.engine, built.image.base, built.session.ca_cert)


def test_lock_check_json_prints_the_stale_entries(built: Built, tmp_path: Path) -> None:
    """`invoke lock --check --json`: {"ok", "stale"} on stdout, exit 0 when current."""
    s = built.session
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "invoke"), "lock", "--check", "--json",
            "--stand-in", "--stand-in-registry", s.options.stand_in_registry,
            "--engine", s.engine.name, "--variant", s.variant,
        ],
        cwd=ROOT, capture_output=True, text=True, timeout=900, check=False,
        env={**os.environ, "RAY_IMAGE_BUILD_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"stale": {s.variant: []}, "ok": True}
