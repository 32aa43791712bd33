"""The definition (v2) is validated on load; errors name the file, the field and the fix;
what Ray's conventions fix follows from each variant's name."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from ray_worker_image.definition import (
    DEFAULT_DEFINITION,
    load_definition,
    load_variant,
    parse_definition,
)
from ray_worker_image.errors import DefinitionError
from ray_worker_image.raytag import RayTag

ROOT = Path(__file__).resolve().parents[2]


def _raw() -> dict:
    return yaml.safe_load((ROOT / DEFAULT_DEFINITION).read_text())


def _write(tmp_path: Path, mutate) -> Path:
    raw = _raw()
    mutate(raw)
    path = tmp_path / "image.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_the_real_definition_loads_frozen() -> None:
    d = load_definition(root=ROOT)
    assert d.names == ("2.49.2", "2.52.1-py311")
    assert d.default == "2.49.2"
    v = d.variant()
    assert v.variant == "2.49.2"
    assert str(v.base.image) == "docker.io/rayproject/ray:2.49.2"
    assert v.base.user.uid == 1000 and v.base.user.gid == 100
    assert v.base.pip_path == "/home/ray/anaconda3/bin/pip"
    assert v.requirements.imports["nats-py"] == "nats"
    assert v.target.tag == "2.49.2-nats"
    assert v.target.immutable_tag("0123456789abcdef") == "2.49.2-nats-g0123456789ab"
    assert v.requirements.lock == ROOT / "requirements/2.49.2/ray-worker.txt"
    with pytest.raises(dataclasses.FrozenInstanceError):
        d.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        v.base = v.base  # type: ignore[misc]
    with pytest.raises(TypeError):
        v.requirements.imports["x"] = "y"  # type: ignore[index]


def test_what_follows_from_the_name() -> None:
    v = load_variant(root=ROOT, variant="2.52.1-py311")
    assert v.ray_tag == RayTag("2.52.1", "3.11", "cpu", "x86_64")
    assert str(v.base.image) == "docker.io/rayproject/ray:2.52.1-py311"
    assert v.base.python == "3.11"
    assert v.base.ray_version == "2.52.1"
    assert v.base.python_path == "/home/ray/anaconda3/bin/python"
    assert v.base.site_packages == "/home/ray/anaconda3/lib/python3.11/site-packages"
    assert v.target.repository == "swe-fleet/ray"
    assert v.target.tag == "2.52.1-py311-nats"
    assert v.requirements.constraints == ROOT / "requirements/2.52.1-py311/constraints.txt"
    assert v.requirements.build_lock == ROOT / "requirements/2.52.1-py311/ray-worker-build.txt"


def test_a_variant_overrides_what_the_name_does_not_fix(tmp_path: Path) -> None:
    def mutate(raw: dict) -> None:
        raw["variants"].append(
            {
                "name": "2.52.1-py312-cu128",
                "image": "mirror.example.com/ray/ray:2.52.1-py312-cu128",
                "tag": "gpu-nats",
                "prefix": "/opt/conda",
                "user": {"uid": 1001, "gid": 1001},
                "requirements": ["uvloop==0.21.0"],
                "imports": {"uvloop": "uvloop"},
            }
        )

    v = load_definition(_write(tmp_path, mutate), root=ROOT).variant("2.52.1-py312-cu128")
    assert v.ray_tag.platform == "cu128" and v.base.python == "3.12"
    assert str(v.base.image) == "mirror.example.com/ray/ray:2.52.1-py312-cu128"
    assert v.base.site_packages == "/opt/conda/lib/python3.12/site-packages"
    assert v.base.pip_path == "/opt/conda/bin/pip"
    assert v.base.user.uid == 1001
    assert v.target.tag == "gpu-nats"
    assert v.requirements.extra == ("uvloop==0.21.0",)
    assert v.requirements.imports["uvloop"] == "uvloop"
    assert v.requirements.imports["nats-py"] == "nats"  # the shared ones stay


@pytest.mark.parametrize(
    ("mutate", "field", "hint"),
    [
        (lambda r: r.update(colour="blue"), "colour", "unknown field"),
        (lambda r: r["base"].update(pyhton="3.9"), "base.pyhton", "unknown field"),
        (lambda r: r["base"].pop("prefix"), "base.prefix", "required"),
        (lambda r: r["base"]["user"].update(uid="1000"), "base.user.uid", "expected integer"),
        (lambda r: r.update(version=3), "version", "expected 2"),
        (lambda r: r["target"].update(repository="Swe Fleet"), "target.repository", "expected"),
        (lambda r: r["target"].update(tag_suffix="nats-ñ"), "target.tag_suffix", "ASCII"),
        (lambda r: r["requirements"].update(imports={}), "requirements.imports", ""),
        (lambda r: r.pop("target"), "target", "required"),
        (lambda r: r["variants"][1].update(name="2.52.1-py3.11"), "variants[1].name", "grammar"),
        (lambda r: r["variants"][1].update(name=2.52), "variants[1].name", "expected string"),
        (lambda r: r["variants"][0].update(pyhton="3.9"), "variants[0].pyhton", "unknown field"),
        (lambda r: r["variants"][1].update(tag="2.52-ñ"), "variants[1].tag", "ASCII"),
        (lambda r: r["variants"][1].update(image="ray"), "variants[1].image", "no digest"),
        (lambda r: r.update(variants=[]), "variants", ""),
        (lambda r: r["variants"].append({"name": "2.49.2-py39-cpu"}), "variants[2].name", "same"),
        (lambda r: r.update(default_variant="2.50.0"), "default_variant", "not a variant"),
        (lambda r: r["target"].update(tag_suffix="x" * 40), "", ""),  # still fits: no error
    ],
)
def test_errors_name_file_and_field(tmp_path: Path, mutate, field: str, hint: str) -> None:
    path = _write(tmp_path, mutate)
    if not field:
        load_definition(path, root=ROOT)
        return
    with pytest.raises(DefinitionError) as info:
        load_definition(path, root=ROOT)
    message = str(info.value)
    assert message.startswith(f"{path}: field '{field}'"), message
    assert hint in message, message
    assert "\n" not in message


def test_an_ascii_check_beyond_the_schema_names_the_field(tmp_path: Path) -> None:
    path = _write(tmp_path, lambda r: r["variants"][1].update(tag="a" * 120))
    with pytest.raises(DefinitionError, match=r"field 'variants\[1\]\.tag': .* at most 114"):
        load_definition(path, root=ROOT)


def test_an_old_definition_says_how_to_upgrade(tmp_path: Path) -> None:
    old = (ROOT / "tests/data/definition-v1.yaml").read_text()
    path = tmp_path / "image.yaml"
    path.write_text(old)
    with pytest.raises(DefinitionError) as info:
        load_definition(path, root=ROOT)
    message = str(info.value)
    assert message.startswith(f"{path}: field 'version': a version 1 definition"), message
    assert "add `version: 2`" in message and "variants:" in message
    assert "\n" not in message


def test_unknown_variant_names_the_known_ones() -> None:
    d = load_definition(root=ROOT)
    with pytest.raises(DefinitionError, match=r"--variant 2\.53\.0-py311: .*2\.49\.2, 2\.52\.1"):
        d.variant("2.53.0-py311")
    with pytest.raises(DefinitionError, match=r"invoke add-variant 2\.53\.0-py311`$"):
        d.variant("2.53.0-py311")
    # a name that is no Ray base tag is not offered to add-variant
    with pytest.raises(DefinitionError, match="base tag in Ray's grammar") as caught:
        d.variant("banana")
    assert "add-variant" not in str(caught.value)
    assert [v.variant for v in d.select(None, all_variants=True)] == list(d.names)
    with pytest.raises(DefinitionError, match="one or the other"):
        d.select("2.49.2", all_variants=True)


def test_requirement_paths_must_stay_in_the_repo() -> None:
    raw = _raw()
    raw["requirements"]["locks"] = "../../etc"
    with pytest.raises(DefinitionError, match=r"'requirements\.locks'.*inside the repository"):
        parse_definition(raw, ROOT / "x.yaml", ROOT)


def test_missing_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match="file not found"):
        load_definition(tmp_path / "nope.yaml", root=ROOT)
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(DefinitionError, match=r"bad.yaml: line \d+: not valid YAML"):
        load_definition(bad, root=ROOT)
