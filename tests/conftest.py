"""Shared fixtures. Engine-dependent tests run once per engine present.

Tests never touch the user's build/ state or image names: they build under a unique
repository name into a temporary build dir, and remove what they created.
"""

from __future__ import annotations

import dataclasses
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.definition import ImageDefinition, load_definition
from ray_worker_image.pipeline import Options, Session, do_build, do_test
from ray_worker_image.registry import RegistryClient
from ray_worker_image.state import BuiltImage, TestRecord

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = os.environ.get("RAY_IMAGE_TEST_REGISTRY", "127.0.0.1:5000")


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def definition() -> ImageDefinition:
    return load_definition(root=ROOT)


@pytest.fixture(scope="session")
def registry() -> str:
    if not RegistryClient(REGISTRY).ping():
        pytest.skip(f"no registry at {REGISTRY} (scripts/setup-host.sh starts one)")
    return REGISTRY


def _engine_or_skip(name: str) -> engines.Engine:
    try:
        return engines.ENGINES[name].connect()
    except engines.EngineError as exc:
        pytest.skip(f"{name} not available: {exc}")


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


@pytest.fixture(scope="session")
def built(
    engine: engines.Engine,
    definition: ImageDefinition,
    registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Built]:
    """The image built by the real pipeline on this engine (offline mode), removed afterwards."""
    label = f"{engine.name}-{uuid.uuid4().hex[:6]}"
    options = Options(
        root=ROOT,
        engine=engine.name,
        stand_in=True,
        stand_in_registry=registry,
        build_dir=tmp_path_factory.mktemp(f"build-{engine.name}"),
    )
    session = Session(options, definition=isolated_definition(definition, label), engine=engine)
    image = do_build(session)
    yield Built(session, image)
    for tag in image.tags:
        engine.remove_image(tag)


@pytest.fixture(scope="session")
def tested(built: Built) -> TestRecord:
    """The in-image suite run once on the built image (push needs its record)."""
    return do_test(built.session)


@pytest.fixture(scope="session")
def base_image(built: Built) -> str:
    """The plain base (no nats-py), pinned, as the pipeline resolved it."""
    return built.image.base.pinned
