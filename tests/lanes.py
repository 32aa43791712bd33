"""Test lanes: which tests need an engine, the loopback registry, a Ray cluster or root.

A bare ``pytest`` runs the fast lane only (every engine-free test) and skips the marked lanes
with the reason and the option that opts in; README's Quickstart line 2 and ``.ci/run`` pass
``--all``. Under pytest-xdist (``--dist loadgroup``) each engine's tests form one
``xdist_group`` named after the engine, so one worker runs them in turn: podman and Docker work
at once, but never two heavy tests on one engine. Resources with a fixed address (a port, a
repository in the shared registry) are taken with :func:`shared_lock` across workers.

See docs/testing.md.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from packaging.version import Version

from ray_worker_image.engine import ENGINE_NAMES
from ray_worker_image.proc import file_lock

LANES = ("engine", "e2e", "registry", "root")
ENV = "RAY_IMAGE_TEST_LANES"  # e.g. "all" or "registry,engine"
# Fixtures that put a test in a lane, by the conftest (baseid) that defines them: a test
# module's own stand-in of the same name (tests/unit/test_push_stream.py's fake `registry`)
# does not count.
LANE_FIXTURES = {
    ("engine", "tests"): "engine",
    ("builds", "tests"): "engine",
    ("tiny", "tests/faults"): "engine",
    ("registry", "tests"): "registry",
    ("own_registry", "tests/faults"): "registry",
}
LOCK_DIR = Path(os.environ.get("RAY_IMAGE_TEST_LOCKS", "/tmp"))
RUN_ENV = "RAY_IMAGE_TEST_RUN"  # this run's folder, made by the controller (tests/conftest.py)
CLEANUP = "registry-cleanup.tsv"


def chosen_lanes(option_all: bool, option_lanes: str | None, env: str | None) -> set[str]:
    """The lanes opted in by ``--all``, ``--lanes a,b`` or $RAY_IMAGE_TEST_LANES.

    Raises pytest.UsageError naming the source and the known lanes for an unknown name.
    """
    if option_all:
        return set(LANES)
    chosen: set[str] = set()
    for source, value in (("--lanes", option_lanes), (f"${ENV}", env)):
        for name in filter(None, (part.strip() for part in (value or "").split(","))):
            if name == "all":
                chosen |= set(LANES)
            elif name in LANES:
                chosen.add(name)
            else:
                raise pytest.UsageError(
                    f"{source}: unknown lane {name!r}; choose from all, {', '.join(LANES)}"
                )
    return chosen


def item_lanes(item: pytest.Item) -> set[str]:
    """The lanes a test is in: its markers, plus those its fixtures put it in."""
    lanes = {lane for lane in LANES if item.get_closest_marker(lane)}
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs if info is not None else {}
    for name in getattr(item, "fixturenames", ()):
        if name in defs and (lane := LANE_FIXTURES.get((name, defs[name][-1].baseid))):
            lanes.add(lane)
    if "e2e" in lanes:
        lanes.add("engine")
    return lanes


def engine_group(item: pytest.Item) -> str | None:
    """The engine a parametrized test runs on (its `engine` parameter), else None."""
    callspec = getattr(item, "callspec", None)
    value = callspec.params.get("engine") if callspec is not None else None
    return value if isinstance(value, str) else None


def sort_into_lanes(items: Iterable[pytest.Item], chosen: set[str]) -> None:
    """Mark each test with its lanes; skip those not chosen; group engine tests by engine."""
    for item in items:
        lanes = item_lanes(item)
        for lane in sorted(lanes):
            if not item.get_closest_marker(lane):
                item.add_marker(lane)
        missing = sorted(lanes - chosen)
        if missing:
            item.add_marker(
                pytest.mark.skip(
                    reason=f"{', '.join(missing)} lane: opt in with --all "
                    f"(or --lanes {','.join(missing)})"
                )
            )
        group = engine_group(item)
        if group and not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))


def auto_workers(cores: int, chosen: set[str], env: str | None) -> int | None:
    """How many workers ``-n auto`` starts: with the engine lane chosen, one per engine group
    and one more, so the engine-free tests run beside the two engine lanes from the start
    instead of after them (the lanes mostly wait on engines: about a third of two cores in
    use). None (xdist's own count, one per core): the fast lane, or
    $PYTEST_XDIST_AUTO_NUM_WORKERS set."""
    if env or "engine" not in chosen:
        return None
    return max(cores, len(ENGINE_NAMES) + 1)


def stagger_clusters(items: list[pytest.Item], late: Iterable[str]) -> None:
    """Move the e2e tests of the engine groups in ``late`` to the end of their lane, in place
    (a stable sort: modules stay whole, so module fixtures are set up once).

    e2e tests hold the machine-wide "ray-e2e-cluster" lock (one miniature Ray cluster at a
    time), and both lanes would otherwise start with them (tests/e2e sorts first) and take
    turns on that lock; staggered, one lane builds and pushes while the other runs clusters.
    """
    late = set(late)
    items.sort(key=lambda item: engine_group(item) in late and "e2e" in item_lanes(item))


def ungrouped(items: Iterable[pytest.Item]) -> list[str]:
    """Tests marked ``xdist_group`` whose node id lacks the ``@GROUP`` suffix by which
    pytest-xdist's ``--dist loadgroup`` schedules a group on one worker (xdist/remote.py,
    ``WorkerInteractor.pytest_collection_modifyitems``; xdist/scheduler/loadgroup.py,
    ``_split_scope``). Non-empty when that suffix no longer takes: pytest 9.2's structured node
    ids ignore xdist 3.8's ``item._nodeid`` (pytest-dev/pytest-xdist#1386), and every engine
    test is then scheduled on its own, on any worker, beside another on the same engine."""
    missing = []
    for item in items:
        names = sorted({str(m.args[0]) for m in item.iter_markers("xdist_group") if m.args})
        if names and not item.nodeid.endswith("@" + "_".join(names)):
            missing.append(item.nodeid)
    return missing


def warn_ungrouped(items: Iterable[pytest.Item]) -> None:
    """In an xdist worker: a PytestConfigWarning naming what :func:`ungrouped` finds."""
    if missing := ungrouped(items):
        warnings.warn(
            pytest.PytestConfigWarning(
                f"--dist loadgroup is not grouping {len(missing)} tests (e.g. {missing[0]}): "
                f"engine tests may run beside each other on one engine"
            ),
            stacklevel=1,
        )


def check_loadgroup_works(pytest_version: str, xdist_version: str) -> None:
    """Refuse, before anything runs, the one known pairing whose groups never take: pytest
    9.2+ with pytest-xdist 3.8 or older (pytest-dev/pytest-xdist#1386, fix not released).

    Raises pytest.UsageError (one line, pytest exits 4) naming the versions and the fix.
    """
    if Version(pytest_version) >= Version("9.2") and Version(xdist_version) <= Version("3.8"):
        raise pytest.UsageError(
            f"pytest {pytest_version} with pytest-xdist {xdist_version}: --dist loadgroup would "
            f"not group the engine lanes (pytest-dev/pytest-xdist#1386); install the locked "
            f"requirements/dev.txt (pytest<9.2)"
        )


@contextmanager
def shared_lock(name: str) -> Iterator[None]:
    """Hold a machine-wide lock on ``name`` (a port, a registry repository) while inside.

    Taken by each pytest-xdist worker (and any other run on the machine) that uses the same
    fixed resource; released when the block ends or the process dies (flock(2)).
    """
    LOCK_DIR.mkdir(parents=True, exist_ok=True)
    path = LOCK_DIR / f"ray-image-test.{name.replace('/', '_').replace(':', '_')}.lock"
    with file_lock(path):
        yield


def remove_at_run_end(registry: str, ref: str) -> bool:
    """Note ``registry``/``ref`` (a tag) for removal when the whole run ends, after every
    xdist worker is done with it; False (nothing noted) outside a run folder."""
    folder = os.environ.get(RUN_ENV)
    if not folder:
        return False
    with (Path(folder) / CLEANUP).open("a", encoding="utf-8") as out:
        out.write(f"{registry}\t{ref}\n")  # one short append: whole lines, even concurrently
    return True


def run_end_cleanup(folder: Path) -> None:
    """Delete from their registries the manifests noted by :func:`remove_at_run_end`."""
    from ray_worker_image.refs import ImageRef
    from tests.refclient import RefClient

    noted = folder / CLEANUP
    lines = noted.read_text("utf-8").splitlines() if noted.exists() else []
    for registry, ref in sorted({tuple(line.split("\t", 1)) for line in lines if "\t" in line}):
        client = RefClient(registry)
        parsed = ImageRef.parse(ref)
        if (digest := client.manifest_digest(parsed)) is not None:
            client.delete(parsed.with_digest(digest))
