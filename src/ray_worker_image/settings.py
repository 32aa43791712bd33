"""Settings precedence in one place: command-line flag, environment, invoke.yaml, default.

Pure: the environment and invoke.yaml's ``ray_image:`` section are passed in, so the rule
is unit-tested without touching either. tasks.py calls :func:`resolve` once per task.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import PipelineError

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
    raise PipelineError(f"{source}: {value!r} is not a boolean for {name}; use true or false")


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


def resolve_all(
    flags: Mapping[str, Any], env: Mapping[str, str], config: Mapping[str, Any] | None
) -> dict[str, Any]:
    """:func:`resolve` for every setting; ``flags`` maps setting names to flag values."""
    return {name: resolve(name, flags.get(name), env, config) for name in SETTINGS}
