"""The test lanes (tests/lanes.py): a bare pytest runs the fast lane only; --all opts in.

Checked through real pytest runs on the project's own test files (collection only, or tests
that are skipped), so no engine or registry is touched.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..conftest import ROOT
from ..lanes import LANES, chosen_lanes

PROBE = """
import pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    for item in items:
        groups = [m.args[0] for m in item.iter_markers("xdist_group")]
        lanes = sorted(m.name for m in item.iter_markers() if m.name in {lanes!r})
        skipped = any(m.name == "skip" for m in item.iter_markers())
        print("PROBE", item.nodeid, ",".join(lanes), ",".join(groups), skipped, sep="|")
"""


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RAY_IMAGE_TEST_LANES"}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-n", "0", *args],
        cwd=ROOT,
        env={**environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def _probe(tmp_path: Path, *args: str) -> dict[str, tuple[str, str, bool]]:
    (tmp_path / "lane_probe.py").write_text(PROBE.replace("{lanes!r}", repr(set(LANES))))
    result = _pytest(
        "-p", "lane_probe", "--collect-only", "-q", *args, env={"PYTHONPATH": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    rows = [line.split("|") for line in result.stdout.splitlines() if line.startswith("PROBE|")]
    return {row[1]: (row[2], row[3], row[4] == "True") for row in rows}


def test_lanes_are_chosen_by_option_or_environment() -> None:
    assert chosen_lanes(False, None, None) == set()
    assert chosen_lanes(True, None, None) == set(LANES)
    assert chosen_lanes(False, "engine, registry", None) == {"engine", "registry"}
    assert chosen_lanes(False, None, "all") == set(LANES)
    assert chosen_lanes(False, "e2e", "root") == {"e2e", "root"}
    with pytest.raises(pytest.UsageError, match=r"^--lanes: unknown lane 'engin'; choose from"):
        chosen_lanes(False, "engin", None)
    with pytest.raises(pytest.UsageError, match=r"^\$RAY_IMAGE_TEST_LANES: unknown lane 'x'"):
        chosen_lanes(False, None, "x")


def test_a_bare_pytest_skips_the_registry_lane_naming_the_option() -> None:
    """tests/engine/test_release_plan.py needs only the loopback registry: skipped, with how
    to opt in, unless --all (then it is collected to run, not skipped)."""
    bare = _pytest("-q", "-rs", "tests/engine/test_release_plan.py")
    assert bare.returncode == 0, bare.stdout[-2000:]
    assert " passed" not in bare.stdout
    assert "registry lane: opt in with --all (or --lanes registry)" in bare.stdout


def test_an_unknown_lane_is_one_usage_line() -> None:
    result = _pytest("--lanes", "engin", "tests/engine/test_release_plan.py")
    assert result.returncode == 4
    errors = [line for line in result.stderr.splitlines() if "unknown lane" in line]
    assert errors == ["ERROR: --lanes: unknown lane 'engin'; choose from all, " + ", ".join(LANES)]


def test_engine_tests_are_marked_and_grouped_by_engine(tmp_path: Path) -> None:
    files = (
        "tests/engine/test_lock_in_base.py",
        "tests/engine/test_reproducible.py",
        "tests/faults/test_injected_faults.py",
    )
    bare = _probe(tmp_path, *files, "tests/host/test_self_check.py")
    lock = {k: v for k, v in bare.items() if "test_lock_in_base" in k}
    assert lock and all(v[2] for v in lock.values())  # skipped without --all
    assert all("engine" in v[0].split(",") for v in lock.values())
    assert {v[1] for v in lock.values()} == {"podman", "docker"}  # one group per engine
    for nodeid, (_, group, _) in lock.items():
        assert nodeid.split("[")[-1].startswith(group)  # the group is the test's engine
    podman_only = [v for k, v in bare.items() if "test_reproducible" in k]
    assert podman_only and all(v[1] == "podman" for v in podman_only)  # picks podman itself
    own = [v for k, v in bare.items() if "test_404_is_an_absent_tag_at_once" in k]
    assert own == [("registry", "", True)]  # own docker-registry, no engine: no group
    root = [v for k, v in bare.items() if "test_unreachable_registry" in k]
    assert root and root[0][0] == "engine,root" and root[0][2]
    shellcheck = [v for k, v in bare.items() if "pass_shellcheck" in k]
    assert shellcheck == [("", "", False)]  # engine-free: the fast lane
    opted = _probe(tmp_path, *files, "--all")
    assert opted.keys() == {k for k in bare if "test_self_check" not in k}
    assert not any(skipped for _, _, skipped in opted.values())
