"""State that cannot lie: the build is the engine's image, the push the registry's tag.

Once per engine (the builder); the other engine must be present too. Runs the CLI as a
user does, under a private copy of the definition and a private build folder.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.refs import ImageRef
from tests.refclient import RefClient

from .test_cli import _invoke, private_definition  # noqa: F401 - the fixture

pytestmark = pytest.mark.engine


def _error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def test_build_and_push_are_read_from_the_engine_and_the_registry(
    engine: engines.Engine,
    private_definition: Path,  # noqa: F811 - the fixture imported above
    registry: str,
    tmp_path: Path,
) -> None:
    other_name = next(n for n in engines.ENGINE_NAMES if n != engine.name)
    try:
        other = engines.ENGINES[other_name].connect()
    except engines.EngineError as exc:
        pytest.skip(f"{other_name} not available: {exc}")
    build_dir = tmp_path / "build"
    common = [
        "--definition",
        str(private_definition),
        "--stand-in",
        "--stand-in-registry",
        registry,
    ]
    where = ["--registry", registry]
    client = RefClient(registry)
    built = _invoke("build", "--engine", engine.name, *common, build_dir=build_dir)
    assert built.returncode == 0, built.stderr[-2000:]
    image_id = built.stdout.strip().splitlines()[-1]
    tags = engine.image_attrs(image_id)["RepoTags"]
    repository = ImageRef.parse(tags[0]).repository
    try:
        # Another engine than the builder: one line naming the builder, nothing pushed.
        for task in ("push", "report"):
            done = _invoke(task, "--engine", other_name, *common, *where, build_dir=build_dir)
            assert done.returncode == 1, done.stderr[-2000:]
            lines = _error_lines(done.stderr)
            assert len(lines) == 1, done.stderr[-2000:]
            assert f"was built with {engine.name}, not {other_name}" in lines[0]
            assert f"pass --engine {engine.name}" in lines[0]
            assert "Traceback" not in done.stderr
        assert client.tags(repository) == []
        # Pushed by the builder: patch finds it in the registry, by digest.
        pushed = _invoke(
            "push", "--engine", engine.name, "--skip-tests", *common, *where, build_dir=build_dir
        )
        assert pushed.returncode == 0, pushed.stderr[-2000:]
        patch_args = [
            "--engine", engine.name, *common, *where, "--name", "c", "--namespace", "n",
            "--allow-stand-in",  # a stand-in build into a cluster (issue 17)
        ]  # fmt: skip
        patched = _invoke("patch", *patch_args, build_dir=build_dir)
        assert patched.returncode == 0, patched.stderr[-2000:]
        immutable = next(t for t in client.tags(repository) if "-g" in t)
        digest = client.manifest_digest(ImageRef(registry, repository, immutable))
        assert f"@{digest}" in patched.stdout
        # The registry's tag deleted: patch says run push.
        client.delete(ImageRef(registry, repository, digest=digest))
        assert client.tags(repository) == []
        gone = _invoke("patch", *patch_args, build_dir=build_dir)
        assert gone.returncode == 1
        (line,) = _error_lines(gone.stderr)
        assert "is not in the registry" in line and "run `invoke push" in line
        # The image deleted: report says run build.
        for tag in engine.image_attrs(image_id)["RepoTags"]:
            engine.untag(tag)
        engine.remove_image(image_id)
        report = _invoke("report", "--engine", engine.name, *common, *where, build_dir=build_dir)
        assert report.returncode == 1
        (line,) = _error_lines(report.stderr)
        assert "run `invoke build" in line, line
    finally:
        for digest in {
            client.manifest_digest(ImageRef(registry, repository, t))
            for t in client.tags(repository)
        }:
            if digest:
                client.delete(ImageRef(registry, repository, digest=digest))
        if engine.image_exists(image_id):
            for tag in engine.image_attrs(image_id)["RepoTags"]:
                engine.untag(tag)
            engine.remove_image(image_id)
        other.close()
