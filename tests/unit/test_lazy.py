"""Lazy imports (src/ray_worker_image/lazy.py, docs/layers.md "Lazy imports"): the command
loads only what the task it runs needs (issue 19 point 3: lazy imports so the command starts
fast)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ray_worker_image import lazy

from ..conftest import ROOT

# What `invoke build` never runs: the other tasks' modules and the libraries only they use.
NOT_FOR_BUILD = (
    "ray_worker_image.rollout",
    "ray_worker_image.e2e",
    "ray_worker_image.supply",
    "ray_worker_image.rehearsal",
    "ray_worker_image.status",
    "ray_worker_image.release",
    "ray_worker_image.release_plan",
    "ray_worker_image.report",
    "ray_worker_image.patching",
    "ray_worker_image.addvariant",
    "ray_worker_image.push",
    "ray_worker_image.push_all",
    "ray_worker_image.lock",
    "ray_worker_image.imagetest",
    "nats",
    "cryptography",
)


def _loaded_after(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys; print(json.dumps(sorted(sys.modules)))"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return list(json.loads(out.stdout.splitlines()[-1]))


def test_the_task_list_imports_no_module_of_the_other_tasks() -> None:
    """`import tasks` is what `invoke build`, `invoke --list` and `--help` load first."""
    loaded = _loaded_after("import tasks")
    found = [name for name in NOT_FOR_BUILD if name in loaded]
    assert found == [], f"imported by `import tasks`: {found}"


def test_a_task_that_runs_a_module_imports_it() -> None:
    loaded = _loaded_after(
        "from ray_worker_image.cli import options\nassert options.rollout.CanaryOptions"
    )
    assert "ray_worker_image.rollout" in loaded


def test_the_stand_in_imports_at_first_use_and_forwards(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "lazy_probe_mod.py").write_text(
        "VALUE = 1\nimport sys\nsys.lazy_probe_ran = True\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "lazy_probe_mod", raising=False)
    probe = lazy.module("lazy_probe_mod")
    assert (
        "lazy_probe_mod" not in sys.modules and repr(probe) == "<deferred module 'lazy_probe_mod'>"
    )
    assert probe.VALUE == 1
    real = sys.modules["lazy_probe_mod"]
    probe.VALUE = 2  # writes and deletes reach the module itself
    assert real.VALUE == 2 and probe.VALUE == 2
    del probe.VALUE
    assert not hasattr(real, "VALUE")
    sys.modules.pop("lazy_probe_mod", None)


def test_a_missing_module_fails_at_first_use_as_an_import_would() -> None:
    probe = lazy.module("ray_worker_image.no_such_module")
    with pytest.raises(ModuleNotFoundError):
        probe.anything  # noqa: B018
