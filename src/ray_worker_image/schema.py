"""JSON Schema validation of the image definition, reported as one line naming the field.

Field paths are spelled as in the YAML: ``base.user.uid``, ``variants[1].name``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema

from .errors import DefinitionError


def _schema() -> dict[str, Any]:
    text = resources.files(__package__).joinpath("image.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def field_name(parts: list[str | int]) -> str:
    """``["variants", 1, "name"]`` -> ``variants[1].name``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def _field(error: jsonschema.ValidationError) -> str:
    parts: list[str | int] = list(error.absolute_path)
    if error.validator == "required":
        parts.append(error.message.split("'")[1])
    elif error.validator == "additionalProperties" and isinstance(error.schema, dict):
        given = error.instance if isinstance(error.instance, dict) else {}
        extra = sorted(set(given) - set(error.schema.get("properties", {})))
        parts.append(extra[0] if extra else "?")
    return field_name(parts)


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
        case "enum":
            allowed = ", ".join(str(v) for v in schema.get("enum", []) if v is not None)
            return f"expected one of {allowed}, got {error.instance!r}"
        case "pattern" | "const":
            hint = schema.get("description", f"a value matching {schema.get('pattern')}")
            return f"expected {hint}, got {error.instance!r}"
        case _:
            return error.message


def first_violation(schema: dict[str, Any], raw: Any) -> tuple[str, str] | None:
    """(field, what is expected) of the first violation of ``schema`` (the shallowest
    first), or None when ``raw`` is valid. Field paths as in YAML: ``cluster.groups``."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(raw), key=lambda e: (len(e.absolute_path), str(e.path)))
    if not errors:
        return None
    return _field(errors[0]), _expected(errors[0])


def validate(raw: Any, path: Path) -> None:
    """Raise DefinitionError for the first schema violation, naming file and field."""
    found = first_violation(_schema(), raw)
    if found:
        field, expected = found
        raise DefinitionError(f"{path}: field '{field}': {expected}")
