"""The console script ``ray-worker-image``: an invoke Program over :data:`.TASKS`.

Differences from plain ``invoke`` in the clone (README "Exit codes"): parse errors exit 2;
a broken config file (``/etc/invoke.yaml``, ``~/.invoke.yaml``, a project or runtime file:
bad YAML or JSON, not UTF-8, a folder) is one line naming it, ``--list`` included; in a
clone its invoke.yaml is read as invoke would; ``--version`` prints the package version
and the git revision recorded at install.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import yaml
from invoke.config import Config as InvokeConfig
from invoke.exceptions import Exit, ParseError
from invoke.program import Program as InvokeProgram
from invoke.vendor import yaml as invoke_yaml  # the YAML parser invoke reads config with

from .. import console
from ..errors import PipelineError, UsageError
from . import exits, namespace
from .options import shown
from .task import PROGRAM_KEY, run_reporting
from .where import find_clone, version

YAML_ERRORS = (yaml.YAMLError, invoke_yaml.YAMLError)


def _broken(path: Any, exc: Exception) -> UsageError:
    if isinstance(exc, YAML_ERRORS):
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        reason = f"not valid YAML ({getattr(exc, 'problem', None) or type(exc).__name__})"
    elif isinstance(exc, UnicodeDecodeError):
        where, reason = "", "not UTF-8 text"
    elif isinstance(exc, OSError):
        where, reason = "", f"cannot read it ({exc.strerror or type(exc).__name__})"
    else:
        where, reason = "", f"cannot load it ({type(exc).__name__})"
    return UsageError(f"{shown(Path(path))}:{where} {reason}; fix or remove the file")


class Config(InvokeConfig):
    """invoke's Config, reading the same files, with a broken one as one UsageError."""

    prefix = "invoke"

    def _load_yaml(self, path: Any) -> Any:
        try:
            data = super()._load_yaml(path)
        except FileNotFoundError:  # invoke tries each suffix and skips the missing ones
            raise
        except (OSError, ValueError, *YAML_ERRORS) as exc:
            raise _broken(path, exc) from None
        if data is not None and not isinstance(data, dict):
            raise UsageError(
                f"{shown(Path(path))}: holds a YAML {type(data).__name__}, not a mapping of "
                "settings; fix or remove the file"
            )
        return data

    def load_runtime(self, merge: bool = True) -> None:
        """``-f FILE``: a missing file, a folder or an unknown suffix is one line (invoke
        skips a missing one silently and raises UnknownFileType for the others)."""
        path = self._runtime_path
        if path:
            given = Path(path)
            if not given.exists():
                raise UsageError(f"-f {path}: no such file; give an existing config file")
            if given.is_dir():
                raise UsageError(f"-f {path}: is a folder; give a config file")
            if given.suffix not in (".yaml", ".yml", ".json", ".py"):
                raise UsageError(f"-f {path}: unknown file type; use .yaml, .yml, .json or .py")
        super().load_runtime(merge=merge)

    _load_yml = _load_yaml

    def _load_json(self, path: Any) -> Any:
        try:
            return super()._load_json(path)
        except FileNotFoundError:  # invoke tries each suffix and skips the missing ones
            raise
        except (OSError, ValueError) as exc:
            raise _broken(path, exc) from None

    def _load_py(self, path: str) -> dict[str, Any]:
        try:
            return super()._load_py(path)
        except FileNotFoundError:  # invoke tries each suffix and skips the missing ones
            raise
        except Exception as exc:  # a user's Python file can raise anything
            raise _broken(path, exc) from None


class Program(InvokeProgram):
    """invoke's Program; usage errors exit 2, config errors are one line."""

    def __init__(self, clone: Path | None) -> None:
        self.clone = clone
        ns = namespace(clone)
        ns.configure({PROGRAM_KEY: "ray-worker-image"})
        super().__init__(
            name="ray-worker-image",
            binary="ray-worker-image",
            version=version(),
            namespace=ns,
            config_class=Config,
        )

    def print_version(self) -> None:
        print(f"{self.name} {self.version}")

    def create_config(self) -> None:
        super().create_config()
        if self.clone is not None:  # the clone's invoke.yaml, as `invoke` reads it
            self.config.set_project_location(str(self.clone))
            self.config.load_project()

    def parse_core(self, argv: list[str] | None) -> None:
        try:
            super().parse_core(argv)
        except ParseError as exc:
            raise Exit(str(exc), code=exits.USAGE) from None

    def parse_tasks(self) -> None:
        try:
            super().parse_tasks()
        except ParseError as exc:
            raise Exit(str(exc), code=exits.USAGE) from None

    def run(self, argv: list[str] | None = None, exit: bool = True) -> None:
        try:
            run_reporting(lambda: super(Program, self).run(argv, exit))
        except PipelineError as exc:  # pragma: no cover - run_reporting handles them
            console.error(str(exc))
            raise SystemExit(exits.code_for(exc)) from None


def main() -> None:
    """Entry point of ``ray-worker-image`` (``[project.scripts]``)."""
    os.environ.setdefault("PYTHONIOENCODING", "utf-8")
    if sys.stdout is None:  # started with stdout closed (`>&-`)
        console.error("cannot write to stdout: it is closed; send it to a file or a pipe")
        raise SystemExit(exits.UNAVAILABLE)
    try:
        here = Path.cwd()
    except FileNotFoundError:
        console.error("the current folder no longer exists; cd to an existing folder")
        raise SystemExit(exits.USAGE) from None
    Program(find_clone(here)).run(sys.argv)
