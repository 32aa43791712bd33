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
from ..lanes import (
    LANES,
    auto_workers,
    check_loadgroup_works,
    chosen_lanes,
    ungrouped,
    warn_ungrouped,
)

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

IDS_PROBE = """
import os, pytest

@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    with open(os.path.join(os.environ["IDS_PROBE_DIR"], f"ids-{worker}.txt"), "w") as out:
        out.writelines(item.nodeid + "\\n" for item in items)
    items[:] = []  # run nothing
"""


def _pytest(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k != "RAY_IMAGE_TEST_LANES"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-n",
            "0",
            *args,
        ],  # a later -n wins
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


class _Item:
    """What ungrouped() reads of a pytest.Item: its node id and xdist_group marks."""

    def __init__(self, nodeid: str, *groups: str) -> None:
        self.nodeid = nodeid
        self._marks = [pytest.mark.xdist_group(g).mark for g in groups]

    def iter_markers(self, name: str) -> list[pytest.Mark]:
        return [m for m in self._marks if m.name == name]


def test_a_group_that_does_not_take_is_found_and_the_known_bad_pairing_refused() -> None:
    took = [
        _Item("t.py::a[podman]@podman", "podman"),
        _Item("t.py::b"),
        _Item("t.py::c@x_y", "y", "x"),
    ]
    lost = [_Item("t.py::a[podman]", "podman"), _Item("t.py::d[docker]@docker", "docker")]
    assert ungrouped(took) == []  # type: ignore[arg-type]
    assert ungrouped(lost) == ["t.py::a[podman]"]  # type: ignore[arg-type]
    with pytest.warns(pytest.PytestConfigWarning, match=r"not grouping 1 tests \(e\.g\. t\.py::a"):
        warn_ungrouped(lost)  # type: ignore[arg-type]
    check_loadgroup_works("9.1.1", "3.8.0")
    check_loadgroup_works("9.2.0", "3.9.0")
    with pytest.raises(
        pytest.UsageError, match=r"^pytest 9\.2\.0 with pytest-xdist 3\.8\.0: .*#1386"
    ):
        check_loadgroup_works("9.2.0", "3.8.0")


def test_the_installed_pytest_groups_engine_tests_on_one_worker(tmp_path: Path) -> None:
    """A real `-n 2 --dist loadgroup` run: each engine test's node id carries its group, and
    the Docker lane runs its clusters after its other work, the podman lane before."""
    (tmp_path / "ids_probe.py").write_text(IDS_PROBE)
    result = _pytest(
        *("-n", "2", "--dist", "loadgroup", "--all", "-p", "ids_probe"),
        *("tests/e2e/test_e2e.py", "tests/engine/test_lock_in_base.py"),
        "tests/engine/test_reproducible.py",
        env={"PYTHONPATH": str(tmp_path), "IDS_PROBE_DIR": str(tmp_path)},
    )
    assert result.returncode == 5, result.stdout[-2000:] + result.stderr[-2000:]  # none run
    (ids,) = {f.read_text() for f in tmp_path.glob("ids-gw*.txt")}  # both workers agree
    lanes: dict[str, list[str]] = {}
    for nodeid in ids.splitlines():  # test[podman]@podman, test[docker-x]@docker; a few none
        name, _, group = nodeid.rpartition("@")
        if "[" in name and group:
            assert name.split("[")[1].startswith(group), nodeid
            lanes.setdefault(group, []).append(name.split("/")[1])
    docker, podman = lanes["docker"], lanes["podman"]
    assert docker.index("e2e") > max(i for i, d in enumerate(docker) if d == "engine")
    assert podman.index("engine") > max(i for i, d in enumerate(podman) if d == "e2e")


def test_auto_starts_a_worker_per_engine_lane_and_one_for_the_rest() -> None:
    assert auto_workers(2, set(LANES), None) == 3
    assert auto_workers(8, set(LANES), None) == 8
    assert auto_workers(2, {"engine"}, None) == 3
    assert auto_workers(2, set(), None) is None  # the fast lane: one per core
    assert auto_workers(2, {"registry"}, None) is None
    assert auto_workers(2, set(LANES), "4") is None  # the user's own count wins
