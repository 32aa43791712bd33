"""Shared fixtures. Engine-dependent tests run once per engine present.

Tests never touch the user's build/ state or image names: they build under a unique
repository name into a temporary build dir, and remove what they created.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image import lockcache
from ray_worker_image.cli import TASKS
from ray_worker_image.definition import ImageDefinition, load_definition, load_variant
from ray_worker_image.session import Options, Session
from ray_worker_image.state import BuiltImage, TestRecord
from ray_worker_image.steps import do_build, do_test
from ray_worker_image.supply.sbom import CACHE_ENV as SBOM_CACHE_ENV
from tests.refclient import RefClient

from . import lanes

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = os.environ.get("RAY_IMAGE_TEST_REGISTRY", "127.0.0.1:5000")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("lanes", "test lanes (docs/testing.md)")
    group.addoption(
        "--all",
        action="store_true",
        dest="all_lanes",
        help="run every lane: engine, e2e, registry and root tests too (README line 2, CI)",
    )
    group.addoption(
        "--lanes",
        metavar="LANE[,LANE]",
        help=f"opt in to some lanes ({', '.join(lanes.LANES)}); also ${lanes.ENV}",
    )


_RUN = pytest.StashKey[Path]()


def pytest_configure(config: pytest.Config) -> None:
    """This run's folder (the controller's; xdist workers and the invoke subprocesses of the
    tests inherit it): the lock results (each lock input pip-compiled once per run), the
    SBOMs (each image id's made once), and the registry tags to remove when every worker is
    done (lanes.remove_at_run_end). First, a pytest/xdist pairing whose groups would not take
    is refused (lanes.check_loadgroup_works)."""
    if config.getoption("dist", None) == "loadgroup" and not hasattr(config, "workerinput"):
        lanes.check_loadgroup_works(pytest.__version__, version("pytest-xdist"))
    if hasattr(config, "workerinput") or os.environ.get(lanes.RUN_ENV):
        return
    run = Path(tempfile.mkdtemp(prefix="ray-image-test-run-"))
    config.stash[_RUN] = run
    os.environ[lanes.RUN_ENV] = str(run)
    os.environ.setdefault(lockcache.ENV, str(run / "lock-cache"))
    os.environ.setdefault(SBOM_CACHE_ENV, str(run / "sbom-cache"))


def pytest_unconfigure(config: pytest.Config) -> None:
    run = config.stash.get(_RUN, None)
    if run is None:
        return
    try:
        lanes.run_end_cleanup(run)
    finally:
        shutil.rmtree(run, ignore_errors=True)
        for name in (lanes.RUN_ENV, lockcache.ENV, SBOM_CACHE_ENV):
            os.environ.pop(name, None)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int | None:
    """`-n auto` (pyproject's addopts): see lanes.auto_workers."""
    chosen = lanes.chosen_lanes(
        config.getoption("all_lanes"), config.getoption("lanes"), os.environ.get(lanes.ENV)
    )
    return lanes.auto_workers(
        os.cpu_count() or 1, chosen, os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS")
    )


@pytest.hookimpl(tryfirst=True)  # before xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    chosen = lanes.chosen_lanes(
        config.getoption("all_lanes"), config.getoption("lanes"), os.environ.get(lanes.ENV)
    )
    lanes.sort_into_lanes(items, chosen)
    lanes.stagger_clusters(items, late=engines.ENGINE_NAMES[1:])  # Docker's clusters last


def pytest_collection_finish(session: pytest.Session) -> None:
    """In an xdist worker, after xdist named each grouped test: its groups took."""
    if hasattr(session.config, "workerinput") and session.config.getvalue("loadgroup"):
        lanes.warn_ungrouped(session.items)


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def definition() -> ImageDefinition:
    """The definition's default variant (2.49.2)."""
    return load_variant(root=ROOT)


VARIANTS = load_definition(root=ROOT).names


@pytest.fixture(scope="session")
def registry() -> str:
    if not RefClient(REGISTRY).ping():
        pytest.skip(f"no registry at {REGISTRY} (scripts/setup-host.sh starts one)")
    return REGISTRY


def _engine_or_skip(name: str) -> engines.Engine:
    try:
        return engines.ENGINES[name].connect()
    except engines.EngineError as exc:
        pytest.skip(f"{name} not available: {exc}")


@functools.cache
def first_engine() -> str:
    """The engine that runs the tests proving an engine-independent fact once per run
    (a release chain, a rollout script's ordering): podman when it answers, else Docker.
    Asked once per process, so every such test of a worker agrees."""
    try:
        engines.ENGINES["podman"].connect().close()
    except engines.EngineError:
        return "docker"
    return "podman"


def once_per_run(engine: engines.Engine, why: str) -> None:
    """Skip, saying ``why``, unless ``engine`` is :func:`first_engine`."""
    if engine.name != first_engine():
        pytest.skip(f"runs on {first_engine()} only: {why}")


@pytest.fixture(scope="session", params=engines.ENGINE_NAMES)
def engine(request: pytest.FixtureRequest) -> Iterator[engines.Engine]:
    """Every engine present; absent ones are skipped with the reason."""
    connected = _engine_or_skip(request.param)
    yield connected
    connected.close()


def isolated_definition(definition: ImageDefinition, label: str) -> ImageDefinition:
    """The real definition under a throwaway repository name, so user tags are never touched."""
    target = dataclasses.replace(
        definition.target, repository=f"{definition.target.repository}-test-{label}"
    )
    return dataclasses.replace(definition, target=target)


@dataclasses.dataclass
class Built:
    session: Session
    image: BuiltImage


class Builds:
    """Each variant built once per engine session (offline mode), shared by every test."""

    def __init__(self, engine: engines.Engine, registry: str, tmp: pytest.TempPathFactory):
        self.engine, self.registry, self.tmp = engine, registry, tmp
        self.done: dict[str, Built] = {}
        self.tests: dict[str, TestRecord] = {}

    def get(self, variant: str) -> Built:
        if variant not in self.done:
            label = f"{self.engine.name}-{uuid.uuid4().hex[:6]}"
            options = Options(
                root=ROOT,
                engine=self.engine.name,
                stand_in=True,
                stand_in_registry=self.registry,
                build_dir=self.tmp.mktemp(f"build-{self.engine.name}"),
            )
            chosen = isolated_definition(load_variant(root=ROOT, variant=variant), label)
            session = Session(options, definition=chosen, engine=self.engine)
            self.done[variant] = Built(session, do_build(session))
        return self.done[variant]

    def tested(self, variant: str) -> TestRecord:
        if variant not in self.tests:
            self.tests[variant] = do_test(self.get(variant).session)
        return self.tests[variant]

    def remove_all(self) -> None:
        for done in self.done.values():
            for tag in done.image.tags:
                self.engine.remove_image(tag)


@pytest.fixture(scope="session")
def builds(
    engine: engines.Engine, registry: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Builds]:
    """Per engine: variant -> its build (made on first use), all removed at the end."""
    cache = Builds(engine, registry, tmp_path_factory)
    yield cache
    cache.remove_all()


@pytest.fixture(scope="session")
def built(builds: Builds, definition: ImageDefinition) -> Built:
    """The default variant built by the real pipeline on this engine (offline mode)."""
    return builds.get(definition.variant)


@pytest.fixture(scope="session")
def tested(builds: Builds, definition: ImageDefinition) -> TestRecord:
    """The in-image suite run once on the built image (push needs its record)."""
    return builds.tested(definition.variant)


@pytest.fixture(scope="session")
def base_image(built: Built) -> str:
    """The plain base (no nats-py), pinned, as the pipeline resolved it."""
    return built.image.base.pinned


@pytest.fixture(autouse=True)
def _task_help_kept() -> Iterator[None]:
    """invoke pops each option's help text from its Task the first time it parses
    (``Task.arg_opts``); a process does that once, the tests share one process and its
    tasks, so each test gets the texts back (``tests/inprocess.py`` does it per run too)."""
    saved = [(task, dict(task.help)) for task in TASKS]
    yield
    for task, texts in saved:
        task.help = texts
