"""`invoke add-variant NAME`: a new variant of the base, resolved, locked and added for review.

Order, so that a failure leaves nothing half-done: check the name and build the new variant
in memory (the whole definition revalidated); in offline mode refuse what has no stand-in and
pin the stand-in's ``ray[default]`` with pip where ``images/stand-in/<name>/pins.txt`` is
missing; resolve the base (the stand-in is built there); lock inside it; then write the locks
and, last, the definition (a ruamel.yaml round trip: comments and layout kept). Files created
before a failure are removed again. The result is a diff to review and commit.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from . import console
from .definition import Definition, ImageDefinition, parse_definition, read_yaml
from .errors import DefinitionError, PipelineError
from .lock import compute_lock, write_lock
from .raytag import RayTag
from .session import Connection, Options, Session
from .standin import check_stand_in, stand_in_dir

PLATFORM = "manylinux2014_x86_64"


def _round_trip() -> YAML:
    yaml = YAML()  # round-trip mode: comments, order and quoting survive
    yaml.preserve_quotes = True
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def added_text(text: str, name: str) -> str:
    """The definition's YAML text with ``- name: "<name>"`` appended to ``variants``. Pure."""
    yaml = _round_trip()
    data = yaml.load(text)
    data["variants"].append({"name": name})
    out = io.StringIO()
    yaml.dump(data, out)
    return out.getvalue().replace(f"- name: {name}\n", f'- name: "{name}"\n')


def plan_variant(definition: Definition, name: str) -> tuple[str, ImageDefinition]:
    """(new YAML text, the new variant) after every check that needs no engine."""
    RayTag.parse(name)  # one line naming Ray's grammar when it is not a tag
    wanted = RayTag.parse(name).canonical
    for existing in definition.variants:
        if existing.ray_tag.canonical == wanted:
            raise DefinitionError(
                f"{definition.path}: variant {name!r} is already there as "
                f"{existing.variant!r}; nothing to add"
            )
    text = added_text(definition.path.read_text("utf-8"), name)
    _, raw = read_yaml(definition.path, definition.root)
    raw["variants"].append({"name": name})
    updated = parse_definition(raw, definition.path, definition.root)
    return text, updated.variant(name)


def pip_resolution(variant: ImageDefinition) -> str:
    """pins.txt for the stand-in: what pip resolves for ``ray[default]==V`` on its Python."""
    spec = f"ray[default]=={variant.base.ray_version}"
    with tempfile.TemporaryDirectory(prefix="add-variant-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--dry-run",
            "--ignore-installed",
            "--disable-pip-version-check",
            "--report",
            str(report),
            "--python-version",
            variant.base.python,
            "--implementation",
            "cp",
            "--platform",
            PLATFORM,
            "--only-binary=:all:",
            spec,
        ]
        console.info(f"resolving {spec} for Python {variant.base.python} with pip")
        result = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=600)
        if result.returncode != 0:
            tail = [line for line in result.stderr.splitlines() if "ERROR" in line][-1:]
            raise PipelineError(
                f"add-variant: pip cannot resolve {spec} for Python {variant.base.python} "
                f"({tail[0] if tail else 'no output'}); is it on PyPI for that Python?"
            )
        installs: list[dict[str, Any]] = json.loads(report.read_text())["install"]
    pins = sorted(f"{i['metadata']['name']}=={i['metadata']['version']}" for i in installs)
    today = dt.date.today().isoformat()
    header = [
        f"# {spec} for Python {variant.base.python} as pip resolved it from PyPI on {today}",
        "# (`invoke add-variant`). Ray's own requirements_compiled.txt for this version is not",
        "# known offline, so the whole set is pinned here: the stand-in is the same every day.",
    ]
    return "\n".join([*header, *pins]) + "\n"


def add_variant(options: Options, definition: Definition, name: str) -> ImageDefinition:
    """Resolve, lock and add variant ``name``; raises PipelineError with nothing left behind."""
    text, variant = plan_variant(definition, name)
    if options.stand_in:
        check_stand_in(variant)
    created: list[Path] = []
    folder = stand_in_dir(variant)
    session = Session(options, variant, connection=Connection(options))
    try:
        if options.stand_in and not (folder / "pins.txt").exists():
            folder.mkdir(parents=True)
            created.append(folder)
            (folder / "pins.txt").write_text(pip_resolution(variant), "utf-8")
        base = session.resolve_base()
        console.step(f"{name}: locking inside {base.pinned}")
        result = compute_lock(variant, session.engine, base, session.ca_cert)
        lock_dir = variant.requirements.lock_dir
        if not lock_dir.exists():
            created.append(lock_dir)
        write_lock(variant, result)
        definition.path.write_text(text, "utf-8")
    except BaseException:
        for path in reversed(created):
            shutil.rmtree(path, ignore_errors=True)
        raise
    finally:
        session.close()
    console.step(f"added variant {name}: review with `git diff` and `git status`, then commit")
    return variant
