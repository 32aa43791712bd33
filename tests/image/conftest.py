"""In-image tests: run by `invoke test` with testinfra's --hosts pointing at a container.

They read what to expect from the image definition and the lock files, never from
constants, so a change of pins changes the expectations with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ray_worker_image.definition import ImageDefinition, load_variant
from ray_worker_image.lock import parse_constraints, parse_lock


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--definition", required=True, help="path of the image definition YAML")
    parser.addoption("--repo-root", required=True, help="repository root (lock files are there)")
    parser.addoption("--variant", required=True, help="the variant of the definition under test")
    parser.addoption(
        "--image-config", required=True, help="JSON file: the image's stored config object"
    )


def _definition(config: pytest.Config) -> ImageDefinition:
    path = Path(config.getoption("definition"))
    root = Path(config.getoption("repo_root"))
    return load_variant(path, root=root, variant=config.getoption("variant"))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "import_pair" in metafunc.fixturenames:
        imports = _definition(metafunc.config).requirements.imports
        metafunc.parametrize("import_pair", sorted(imports.items()), ids=sorted(imports))


@pytest.fixture(scope="session")
def definition(request: pytest.FixtureRequest) -> ImageDefinition:
    return _definition(request.config)


@pytest.fixture(scope="session")
def image_config(request: pytest.FixtureRequest) -> dict[str, object]:
    """The image config as stored (Shell, Entrypoint, Cmd, User, WorkingDir, Env)."""
    config: dict[str, object] = json.loads(
        Path(request.config.getoption("image_config")).read_text()
    )
    return config


@pytest.fixture(scope="session")
def locked(definition: ImageDefinition) -> dict[str, str]:
    return {n: p.version for n, p in parse_lock(definition.requirements.lock.read_text()).items()}


@pytest.fixture(scope="session")
def constraints(definition: ImageDefinition) -> dict[str, str]:
    return parse_constraints(definition.requirements.constraints.read_text())


@pytest.fixture(scope="module")
def installed(host, definition: ImageDefinition) -> dict[str, str]:  # type: ignore[no-untyped-def]
    """Every distribution the image's Python sees, by normalised name."""
    script = (
        "import importlib.metadata as m, json, re; "
        "print(json.dumps({re.sub(r'[-_.]+', '-', d.metadata['Name']).lower(): d.version "
        "for d in m.distributions()}))"
    )
    out = host.check_output(f'{definition.base.python_path} -c "{script}"')
    return dict(json.loads(out))
