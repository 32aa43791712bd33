"""The definition is validated on load and errors name the file, the field and the fix."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from ray_worker_image.definition import DEFAULT_DEFINITION, load_definition
from ray_worker_image.errors import DefinitionError

ROOT = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, mutate) -> Path:
    raw = yaml.safe_load((ROOT / DEFAULT_DEFINITION).read_text())
    mutate(raw)
    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_real_definition_loads_frozen() -> None:
    d = load_definition(root=ROOT)
    assert str(d.base.image) == "docker.io/rayproject/ray:2.49.2"
    assert d.base.user.uid == 1000 and d.base.user.gid == 100
    assert d.base.pip_path == "/home/ray/anaconda3/bin/pip"
    assert d.requirements.imports["nats-py"] == "nats"
    assert d.target.immutable_tag("0123456789abcdef") == "2.49.2-nats-g0123456789ab"
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        d.requirements.imports["x"] = "y"  # type: ignore[index]


@pytest.mark.parametrize(
    ("mutate", "field", "hint"),
    [
        (lambda r: r.update(colour="blue"), "colour", "unknown field"),
        (lambda r: r["base"].update(pyhton="3.9"), "base.pyhton", "unknown field"),
        (lambda r: r["base"].pop("pip_path"), "base.pip_path", "required"),
        (lambda r: r["base"]["user"].update(uid="1000"), "base.user.uid", "expected integer"),
        (lambda r: r["base"].update(python=3.9), "base.python", "expected string"),
        (
            lambda r: r["base"].update(image="rayproject/ray"),
            "base.image",
            "registry/repository:tag",
        ),
        (lambda r: r["target"].update(repository="Swe Fleet"), "target.repository", "expected"),
        (lambda r: r["requirements"].update(imports={}), "requirements.imports", ""),
        (lambda r: r.pop("target"), "target", "required"),
    ],
)
def test_schema_errors_name_file_and_field(tmp_path: Path, mutate, field: str, hint: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(DefinitionError) as info:
        load_definition(path, root=ROOT)
    message = str(info.value)
    assert message.startswith(f"{path}: field '{field}'"), message
    assert hint in message
    assert "\n" not in message


def test_requirement_paths_must_stay_in_the_repo(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda r: r["requirements"].update(lock="../../etc/passwd"))
    with pytest.raises(DefinitionError, match="must be a path inside the repository"):
        load_definition(path, root=ROOT)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="file not found"):
        load_definition(tmp_path / "nope.yaml", root=ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"bad.yaml: line \d+: not valid YAML"):
        load_definition(bad, root=ROOT)
