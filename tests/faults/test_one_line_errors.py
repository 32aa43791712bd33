"""One-line errors, always, through the real CLI entry (issue 12, items 5 and 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.registry import RegistryAccess

from .conftest import Registry, TinyImage, build_tiny, invoke, one_line_error, remove_tiny

engine_test = pytest.mark.engine


def test_markup_in_a_message_prints_intact(tmp_path: Path) -> None:
    """Rich markup is off for messages: `[/tmp/x]` used to raise inside the handler."""
    folder = tmp_path / "[/tmp/x]"
    folder.mkdir(parents=True)
    (folder / "pkg[extra].yaml").write_text("base: {pyhton: 1}\n")
    for name in ("pkg[extra].yaml", "missing[/tmp/x].yaml"):
        path = folder / name
        line = one_line_error(invoke(["render", "--definition", str(path)], tmp_path / "b"), 2)
        assert line.startswith(f"error: {path}: "), line


@engine_test
def test_missing_registry_ca_names_the_file(tiny: TinyImage, own_registry: Registry) -> None:
    ca = "/tmp/x/[/tmp/x]/pkg[extra].pem"
    result = invoke(tiny.push_args(own_registry.address, "--registry-ca", ca), tiny.build_dir)
    assert (
        one_line_error(result, 2)
        == f"error: --registry-ca {ca}: no such file; give the CA's PEM file"
    )


@engine_test
def test_push_with_another_engine_than_the_build_says_so(
    engine: engines.Engine, own_registry: Registry, tmp_path: Path
) -> None:
    other_name = next(n for n in engines.ENGINE_NAMES if n != engine.name)
    try:
        other = engines.ENGINES[other_name].connect()
    except engines.EngineError as exc:
        pytest.skip(f"needs both engines: {exc}")
    image = build_tiny(other, tmp_path / "build")
    try:
        access = RegistryAccess(own_registry.address)
        line = one_line_error(
            invoke(
                ["push", "--engine", engine.name, "--registry", own_registry.address],
                image.build_dir,
            )
        )
        assert f"built with {other_name}, not {engine.name}; pass --engine {other_name}" in line
        assert image.tag_list(access) == []
    finally:
        remove_tiny(image)
        other.close()


@engine_test
def test_push_of_a_removed_image_says_what_to_run(
    engine: engines.Engine, own_registry: Registry, tmp_path: Path
) -> None:
    image = build_tiny(engine, tmp_path / "build")
    remove_tiny(image)
    line = one_line_error(invoke(image.push_args(own_registry.address), image.build_dir))
    assert f"in {engine.name}'s storage" in line, line
    assert f"run `invoke build --engine {engine.name} --variant 2.49.2`" in line, line
    assert image.tag_list(RegistryAccess(own_registry.address)) == []
