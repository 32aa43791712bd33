"""The image definition: loaded once, validated against a schema, frozen.

Nothing downstream reads the YAML; every step takes an :class:`ImageDefinition`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jsonschema
import yaml

from .errors import DefinitionError
from .refs import ImageRef

DEFAULT_DEFINITION = Path("images/ray-swe-fleet/image.yaml")


@dataclass(frozen=True)
class User:
    uid: int
    gid: int


@dataclass(frozen=True)
class BaseImage:
    image: ImageRef
    python: str
    ray_version: str
    user: User
    home: str
    python_path: str
    pip_path: str
    site_packages: str


@dataclass(frozen=True)
class Target:
    repository: str
    tag: str
    source: str

    def immutable_tag(self, revision: str) -> str:
        """The tag that never moves: the release tag plus the git revision it was built from."""
        return f"{self.tag}-g{revision[:12]}"


@dataclass(frozen=True)
class Requirements:
    input: Path
    lock: Path
    constraints: Path
    imports: MappingProxyType[str, str]


@dataclass(frozen=True)
class ImageDefinition:
    path: Path
    root: Path
    name: str
    base: BaseImage
    target: Target
    requirements: Requirements

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def template(self) -> Path:
        return self.directory / "Dockerfile.j2"


def _schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("image.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _field(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    if error.validator == "required":
        missing = error.message.split("'")[1]
        parts.append(missing)
    elif error.validator == "additionalProperties" and isinstance(error.schema, dict):
        given = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(set(given) - set(error.schema.get("properties", {})))
        parts.append(extra[0] if extra else "?")
    return ".".join(parts) or "(top level)"


def _expected(error: jsonschema.ValidationError) -> str:
    schema: dict[str, Any] = error.schema if isinstance(error.schema, dict) else {}
    match error.validator:
        case "required":
            return "this field is required; add it"
        case "additionalProperties":
            allowed = ", ".join(sorted(schema.get("properties", {})))
            return f"unknown field; remove it (allowed here: {allowed})"
        case "type":
            return (
                f"expected {schema['type']}, got {type(error.instance).__name__} {error.instance!r}"
            )
        case "pattern":
            hint = schema.get("description", f"a value matching {schema['pattern']}")
            return f"expected {hint}, got {error.instance!r}"
        case _:
            return error.message


def validate(raw: Any, path: Path) -> None:
    """Raise DefinitionError for the first schema violation, naming file and field."""
    validator = jsonschema.Draft202012Validator(_schema())
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), e.path))
    if errors:
        first = errors[0]
        raise DefinitionError(f"{path}: field '{_field(first)}': {_expected(first)}")


def load_definition(path: Path = DEFAULT_DEFINITION, root: Path | None = None) -> ImageDefinition:
    """Read, validate and freeze the definition. Relative paths inside it are repo-relative."""
    root = (root or Path.cwd()).resolve()
    full = path if path.is_absolute() else root / path
    try:
        raw = yaml.safe_load(full.read_text("utf-8"))
    except FileNotFoundError:
        raise DefinitionError(
            f"{path}: file not found; pass --definition PATH or run from the repository root"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DefinitionError(
            f"{path}:{where}: not valid YAML ({exc.__class__.__name__})"
        ) from None
    validate(raw, path)

    base, target, reqs = raw["base"], raw["target"], raw["requirements"]
    try:
        base_ref = ImageRef.parse(base["image"], what=f"{path}: field 'base.image'")
    except Exception as exc:
        raise DefinitionError(str(exc)) from None
    for name in (reqs["input"], reqs["lock"], reqs["constraints"]):
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise DefinitionError(
                f"{path}: field 'requirements': {name!r} must be a path inside the repository"
            )
    return ImageDefinition(
        path=full,
        root=root,
        name=raw["name"],
        base=BaseImage(
            image=base_ref,
            python=base["python"],
            ray_version=base["ray_version"],
            user=User(**base["user"]),
            home=base["home"],
            python_path=base["python_path"],
            pip_path=base["pip_path"],
            site_packages=base["site_packages"],
        ),
        target=Target(**target),
        requirements=Requirements(
            input=root / reqs["input"],
            lock=root / reqs["lock"],
            constraints=root / reqs["constraints"],
            imports=MappingProxyType(dict(reqs["imports"])),
        ),
    )
