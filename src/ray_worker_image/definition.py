"""The image definition (version 2): the shared part once, plus one variant per base tag.

Loaded once, validated against ``image.schema.json``, frozen. Nothing downstream reads the
YAML: every step takes the :class:`ImageDefinition` of one variant, which
:meth:`Definition.variant` resolves. A variant is named by its base tag in Ray's grammar
(:mod:`raytag`); what Ray's conventions fix follows from the name:

- the base image ``<base.repository>:<name>`` (e.g. ``docker.io/rayproject/ray:2.52.1-py311``);
- Python ``X.Y`` and Ray version (``RayTag.python``, ``RayTag.ray_version``);
- interpreter, pip and site-packages under ``base.prefix`` (``/home/ray/anaconda3``, the
  Miniforge prefix of ``docker/base-deps/Dockerfile``, ray-2.49.2/FACTS.md section 1):
  ``<prefix>/bin/python``, ``<prefix>/bin/pip``, ``<prefix>/lib/pythonX.Y/site-packages``;
- the target tag ``<name>-<target.tag_suffix>`` and its locks in ``<requirements.locks>/<name>/``.

Everything else (user, home, prefix, the paths, the image, the tag, extra requirements and
imports) may be overridden per variant.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from .errors import DefinitionError
from .raytag import RayTag
from .refs import ImageRef
from .schema import validate

DEFAULT_DEFINITION = Path("images/ray-swe-fleet/image.yaml")
FORMAT_VERSION = 2
ASCII_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
UPGRADE_HINT = (
    "a version 1 definition (one image: base/target); add `version: 2`, give base.repository "
    "and base.prefix, target.tag_suffix, requirements.build_input/locks, and list the images "
    "under `variants:` by base tag (README 'Configuration' shows the file)"
)


@dataclass(frozen=True)
class User:
    uid: int
    gid: int


@dataclass(frozen=True)
class BaseImage:
    """The base of one variant; ``python`` is "X.Y", ``ray_version`` "X.Y.Z"."""

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
    """Shared inputs, and this variant's locks (all absolute paths)."""

    input: Path  # shared .in: what every variant needs
    build_input: Path  # shared .in of build backends for sdists
    extra: tuple[str, ...]  # this variant's own requirement lines
    constraints: Path  # what this variant's base ships
    lock: Path
    build_lock: Path
    imports: MappingProxyType[str, str]  # distribution -> module, shared plus the variant's

    @property
    def lock_dir(self) -> Path:
        return self.lock.parent


@dataclass(frozen=True)
class ImageDefinition:
    """One variant, fully resolved: what every step (lock, build, test, push) works on."""

    path: Path
    root: Path
    name: str
    variant: str  # the name in the definition, e.g. "2.52.1-py311"
    ray_tag: RayTag
    base: BaseImage
    target: Target
    requirements: Requirements

    @property
    def directory(self) -> Path:
        return self.path.parent

    @property
    def template(self) -> Path:
        return self.directory / "Dockerfile.j2"


@dataclass(frozen=True)
class Definition:
    """The whole file: every variant resolved and validated at load time."""

    path: Path
    root: Path
    name: str
    default: str
    variants: tuple[ImageDefinition, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(v.variant for v in self.variants)

    def variant(self, name: str | None = None, label: str = "--variant") -> ImageDefinition:
        """The variant ``name`` (None: the default); DefinitionError names the known ones and
        ``label``, where the name came from (``$RAY_IMAGE_VARIANT``, a config file...)."""
        wanted = name or self.default
        for candidate in self.variants:
            if candidate.variant == wanted:
                return candidate
        advice = (
            f"add it with `invoke add-variant {wanted}`"
            if RayTag.try_parse(wanted)
            else "a variant is named by its base tag in Ray's grammar, e.g. 2.52.1-py311"
        )
        raise DefinitionError(
            f"{label if name else 'default_variant'} {wanted}: not in {self.path.name} "
            f"(variants: {', '.join(self.names)}); {advice}"
        )

    def select(
        self, name: str | None, *, all_variants: bool, label: str = "--variant"
    ) -> tuple[ImageDefinition, ...]:
        """``--all-variants`` gives every variant in file order, else the one asked for."""
        if all_variants and name:
            raise DefinitionError("--variant and --all-variants: give one or the other")
        return self.variants if all_variants else (self.variant(name, label),)


def _repo_path(path: Path, field: str, value: str, root: Path, *, file: bool = False) -> Path:
    """``root / value``; ``file``: it must be an existing file (checked at load time, so a
    missing input is refused before any slow step, naming the field)."""
    if Path(value).is_absolute() or ".." in Path(value).parts:
        raise DefinitionError(
            f"{path}: field '{field}': {value!r} must be a path inside the repository"
        )
    full = root / value
    if file and not full.is_file():
        raise DefinitionError(
            f"{path}: field '{field}': {value} is not a file in {root}; create it or fix the path"
        )
    return full


def _variant(
    path: Path, full: Path, root: Path, raw: dict[str, Any], index: int
) -> ImageDefinition:
    item = raw["variants"][index]
    where = f"variants[{index}]"
    name = item["name"]
    ray_tag = RayTag.parse(name)
    base, target, reqs = raw["base"], raw["target"], raw["requirements"]
    prefix = item.get("prefix", base["prefix"])
    image_text = item.get("image", f"{base['repository']}:{name}")
    try:
        image = ImageRef.parse(image_text, what=f"{path}: field '{where}.image'")
    except Exception as exc:
        raise DefinitionError(str(exc)) from None
    tag = item.get("tag", f"{name}-{target['tag_suffix']}")
    if not ASCII_TAG.match(tag) or not ASCII_TAG.match(f"{tag}-g0123456789ab"):
        field = f"{where}.tag" if "tag" in item else "target.tag_suffix"
        raise DefinitionError(
            f"{path}: field '{field}': tag {tag!r} must be ASCII letters, digits, _ . - "
            "and at most 114 characters (the immutable tag adds -g<12 hex>)"
        )
    locks = _repo_path(path, "requirements.locks", reqs["locks"], root) / name
    return ImageDefinition(
        path=full,
        root=root,
        name=raw["name"],
        variant=name,
        ray_tag=ray_tag,
        base=BaseImage(
            image=image,
            python=ray_tag.python,
            ray_version=ray_tag.ray_version,
            user=User(**item.get("user", base["user"])),
            home=item.get("home", base["home"]),
            python_path=item.get("python_path", f"{prefix}/bin/python"),
            pip_path=item.get("pip_path", f"{prefix}/bin/pip"),
            site_packages=item.get(
                "site_packages", f"{prefix}/lib/python{ray_tag.python}/site-packages"
            ),
        ),
        target=Target(repository=target["repository"], tag=tag, source=target["source"]),
        requirements=Requirements(
            input=_repo_path(path, "requirements.input", reqs["input"], root, file=True),
            build_input=_repo_path(
                path, "requirements.build_input", reqs["build_input"], root, file=True
            ),
            extra=tuple(item.get("requirements", ())),
            constraints=locks / "constraints.txt",
            lock=locks / "ray-worker.txt",
            build_lock=locks / "ray-worker-build.txt",
            imports=MappingProxyType(dict(reqs["imports"]) | dict(item.get("imports", {}))),
        ),
    )


def read_yaml(path: Path, root: Path) -> tuple[Path, Any]:
    """(absolute path, parsed YAML); one-line DefinitionError when missing or malformed."""
    full = path if path.is_absolute() else root / path
    try:
        return full, yaml.safe_load(full.read_text("utf-8"))
    except FileNotFoundError:
        raise DefinitionError(
            f"{path}: file not found; pass --definition PATH or run from the repository root"
        ) from None
    except IsADirectoryError:
        raise DefinitionError(
            f"{path}: is a folder; pass the definition file itself, e.g. {path}/image.yaml"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DefinitionError(
            f"{path}: cannot read it ({reason}); pass --definition PATH"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise DefinitionError(
            f"{path}:{where}: not valid YAML ({exc.__class__.__name__})"
        ) from None


def parse_definition(raw: Any, full: Path, root: Path, shown: Path | None = None) -> Definition:
    """Validate parsed YAML and resolve every variant; DefinitionError names file and field.

    ``full`` is the file's absolute path; ``shown`` the path as the user gave it (messages).
    """
    path = shown or full
    if isinstance(raw, dict) and "version" not in raw and "variants" not in raw:
        raise DefinitionError(f"{path}: field 'version': {UPGRADE_HINT}")
    validate(raw, path)
    names = [item["name"] for item in raw["variants"]]
    canon: dict[str, int] = {}
    for index, name in enumerate(names):
        key = RayTag.parse(name).canonical
        if key in canon:
            raise DefinitionError(
                f"{path}: field 'variants[{index}].name': {name!r} is the same base as "
                f"variants[{canon[key]}] ({names[canon[key]]!r}); remove one"
            )
        canon[key] = index
    default = raw.get("default_variant", names[0])
    if default not in names:
        raise DefinitionError(
            f"{path}: field 'default_variant': {default!r} is not a variant "
            f"(variants: {', '.join(names)})"
        )
    variants = tuple(_variant(path, full, root, raw, i) for i in range(len(names)))
    return Definition(path=full, root=root, name=raw["name"], default=default, variants=variants)


def load_definition(path: Path = DEFAULT_DEFINITION, root: Path | None = None) -> Definition:
    """Read, validate and freeze the definition. Relative paths inside it are repo-relative."""
    root = (root or Path.cwd()).resolve()
    full, raw = read_yaml(path, root)
    return parse_definition(raw, full, root, shown=path)


def load_variant(
    path: Path = DEFAULT_DEFINITION, root: Path | None = None, variant: str | None = None
) -> ImageDefinition:
    """Shorthand: ``load_definition(path, root).variant(variant)``."""
    return load_definition(path, root).variant(variant)
