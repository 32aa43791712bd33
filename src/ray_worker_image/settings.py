"""Settings precedence in one place: command-line flag, environment, invoke.yaml, default.

Pure: the environment and invoke.yaml's ``ray_image:`` section are passed in, so the rule
is unit-tested without touching either. The command (:mod:`.cli.options`) calls
:func:`resolve` per setting, on the section :func:`config_section` validated against
:data:`CONFIG_SCHEMA` (an unknown key, a wrong type: one line naming the config file, the
field and the fix); :func:`source` names where a value came from.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import UsageError
from .preflight import check_groups
from .schema import first_violation

CONFIG_FILE = "invoke.yaml"
TRUE = ("1", "true", "yes", "on")
FALSE = ("0", "false", "no", "off", "")


@dataclass(frozen=True)
class Setting:
    """One setting: its invoke.yaml key (None: not configurable there), variable and default."""

    key: str | None
    env: str | None
    default: Any
    boolean: bool = False


SETTINGS: Mapping[str, Setting] = {
    "engine": Setting("engine", "RAY_IMAGE_ENGINE", "podman"),
    "stand_in": Setting("stand_in", "RAY_IMAGE_STAND_IN", False, boolean=True),
    "stand_in_registry": Setting(
        "stand_in_registry", "RAY_IMAGE_STAND_IN_REGISTRY", "127.0.0.1:5000"
    ),
    "registry": Setting("registry", "RAY_IMAGE_REGISTRY", ""),
    "variant": Setting("variant", "RAY_IMAGE_VARIANT", None),
    "definition": Setting("definition", "RAY_IMAGE_DEFINITION", None),
    "build_dir": Setting(None, "RAY_IMAGE_BUILD_DIR", None),
}


def _boolean(name: str, source: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    raise UsageError(f"{source}: {value!r} is not a boolean for {name}; use true or false")


def resolve(name: str, flag: Any, env: Mapping[str, str], config: Mapping[str, Any] | None) -> Any:
    """The value of setting ``name``: a given flag (not None, not False), then ``env``, then
    invoke.yaml's ``ray_image:`` mapping, then the default. Booleans accept 1/true/yes/on."""
    setting = SETTINGS[name]
    if flag is not None and flag is not False and flag != "":
        return flag
    section = config or {}
    candidates = (
        (f"${setting.env}", env.get(setting.env) if setting.env else None),
        (
            f"invoke.yaml ray_image.{setting.key}",
            section.get(setting.key) if setting.key else None,
        ),
    )
    for source, value in candidates:
        if value is not None and (value != "" or setting.boolean):
            return _boolean(name, source, value) if setting.boolean else value
    return setting.default


def source(name: str, flag: Any, env: Mapping[str, str], config_file: str = CONFIG_FILE) -> str:
    """Where :func:`resolve` took setting ``name`` from, as the user would write it:
    ``--variant``, ``$RAY_IMAGE_VARIANT``, ``<config_file> ray_image.variant`` or ``default``.
    ``config_file`` is the file that set the key (the caller knows invoke's layers)."""
    setting = SETTINGS[name]
    if flag is not None and flag is not False and flag != "":
        return "--" + name.replace("_", "-")
    if setting.env and env.get(setting.env):
        return f"${setting.env}"
    return f"{config_file} ray_image.{setting.key}"


def resolve_all(
    flags: Mapping[str, Any], env: Mapping[str, str], config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """:func:`resolve` for every setting; ``flags`` maps setting names to flag values."""
    return {name: resolve(name, flags.get(name), env, config) for name in SETTINGS}


def definition_path(
    flag: str | None,
    env: Mapping[str, str],
    config: Mapping[str, Any] | None,
    *,
    root: Path,
    cwd: Path,
    default: Path,
) -> Path:
    """Where the image definition is: ``--definition`` and ``$RAY_IMAGE_DEFINITION`` are
    relative to the current directory (as ``--from``, ``--out`` and ``--write`` are);
    invoke.yaml's ``definition`` to the repository (``root``, where invoke.yaml lives);
    the default is the repository's ``images/ray-swe-fleet/image.yaml``."""
    if flag:
        return cwd / flag
    if env.get("RAY_IMAGE_DEFINITION"):
        return cwd / env["RAY_IMAGE_DEFINITION"]
    configured = (config or {}).get("definition")
    return root / str(configured) if configured else root / default


_TEXT = {"type": ["string", "null"]}
CONFIG_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "engine": {"enum": ["podman", "docker", "auto", None]},
        "stand_in": {"type": ["boolean", "string", "integer", "null"]},
        "stand_in_registry": _TEXT,
        "registry": _TEXT,
        "variant": _TEXT,
        "definition": _TEXT,
        "cluster": {
            "type": ["object", "null"],
            "additionalProperties": False,
            "properties": {
                "name": _TEXT,
                "namespace": _TEXT,
                "groups": {"type": ["array", "null"], "items": {"type": "string"}},
                "kind": {"enum": ["RayCluster", "RayJob", "RayService", None]},
            },
        },
    },
}
HINTS = {  # field -> how to write it, for type errors
    "ray_image": "a mapping of settings (engine: podman, registry: ..., cluster: {...})",
    "ray_image.cluster": "a mapping: name, namespace, groups, kind",
    "ray_image.cluster.groups": "a list of group names, e.g. groups: [gpu-workers]",
}


def _plain(value: Any) -> Any:
    """invoke's DataProxy (and nested ones) as plain dicts and lists, for the schema."""
    if isinstance(value, Mapping) or hasattr(value, "keys"):
        return {key: _plain(value[key]) for key in value.keys()}  # noqa: SIM118 - DataProxy
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    return value


def config_section(raw: Any, file: str = CONFIG_FILE) -> dict[str, Any]:
    """invoke.yaml's ``ray_image:`` section, validated, as a plain dict ({} when absent).

    ``file`` names where the section came from (``~/.invoke.yaml``, ``$INVOKE_RUNTIME_CONFIG``
    ...). Raises UsageError: ``<file>: field 'ray_image.<field>': <what to write>``.
    """
    section = _plain(raw)
    if section is None:
        return {}
    found = first_violation({"properties": {"ray_image": CONFIG_SCHEMA}}, {"ray_image": section})
    if found is None:
        groups = (section.get("cluster") or {}).get("groups")
        check_groups(groups, file + ": field 'ray_image.cluster.groups[{index}]':")
        return dict(section)
    field, expected = found
    if expected.startswith("expected") and field in HINTS:
        expected = f"expected {HINTS[field]}, got {type(_at(section, field)).__name__}"
    if expected.startswith("unknown field"):
        allowed = _allowed(field)
        close = difflib.get_close_matches(field.rsplit(".", 1)[-1], allowed, n=1)
        expected += f"; did you mean {close[0]!r}?" if close else ""
    raise UsageError(f"{file}: field '{field}': {expected}")


def _at(section: Any, field: str) -> Any:
    value: Any = {"ray_image": section}
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _allowed(field: str) -> list[str]:
    schema: dict[str, Any] = {"properties": {"ray_image": CONFIG_SCHEMA}}
    for part in field.split(".")[:-1]:
        schema = schema["properties"][part]
    return sorted(schema.get("properties", {}))


def check_project_file(folder: Path) -> None:
    """invoke reads ``folder/invoke.yaml`` with its own parser and shows a traceback when the
    YAML is broken; this reads it first (:func:`.cli.namespace`, when tasks.py builds the
    collection) and says where, in one line (UsageError)."""
    for name in ("invoke.yaml", "invoke.yml"):
        path = folder / name
        if not path.is_file():
            continue
        try:
            yaml.safe_load(path.read_text("utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or exc.__class__.__name__
            raise UsageError(f"{path}:{where}: not valid YAML ({problem}); fix the file") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"{path}: cannot read it ({reason})") from None
