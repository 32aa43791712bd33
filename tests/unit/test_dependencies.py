"""Every third-party import in src/ is a dependency in pyproject.toml (issue 20 point 3), so
`pip install .` gives a working command."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"
# Imported only by code that runs inside the image (the e2e driver's agent task), never
# by the command itself: the image provides them.
IN_IMAGE = {"ray": "e2e/job.py (runs in the image)", "aiohttp": "e2e/job.py (runs in the image)"}


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def third_party_imports(folder: Path) -> dict[str, str]:
    """Top-level module -> first file importing it, for every absolute import in ``folder``
    that is neither the standard library nor ray_worker_image."""
    found: dict[str, str] = {}
    for path in sorted(folder.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "ray_worker_image":
                    found.setdefault(top, str(path.relative_to(folder)))
    return found


def declared(pyproject: Path) -> set[str]:
    data = tomllib.loads(pyproject.read_text("utf-8"))
    return {
        _normal(re.split(r"[\s<>=!~;\[]", d, maxsplit=1)[0])
        for d in data["project"]["dependencies"]
    }


def missing(imports: dict[str, str], dependencies: set[str]) -> list[str]:
    """Imports whose distribution is not declared, as `module (file): distribution`."""
    owners = packages_distributions()
    out = []
    for module, where in sorted(imports.items()):
        if module in IN_IMAGE:
            continue
        dists = owners.get(module) or [module]
        if not any(_normal(d) in dependencies for d in dists):
            out.append(f"{module} ({where}): {', '.join(dists)}")
    return out


def test_every_third_party_import_is_a_declared_dependency() -> None:
    assert missing(third_party_imports(SRC), declared(ROOT / "pyproject.toml")) == []


def test_a_missing_dependency_is_found(tmp_path: Path) -> None:
    """The check itself: drop one dependency from a copy of pyproject.toml."""
    text = (ROOT / "pyproject.toml").read_text("utf-8")
    (tmp_path / "pyproject.toml").write_text(text.replace('"tenacity>=', '"not-tenacity>='))
    problems = missing(third_party_imports(SRC), declared(tmp_path / "pyproject.toml"))
    assert [p.split(" ")[0] for p in problems] == ["tenacity"]


def test_the_package_never_imports_its_command_layer() -> None:
    """cli/ sits on top (docs/command.md): nothing below imports it, so there is no cycle."""
    package = SRC / "ray_worker_image"
    upward = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "cli"):
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                absolute = node.level == 0 and module.startswith("ray_worker_image.cli")
                relative = node.level > 0 and (module == "cli" or module.startswith("cli."))
                names = {a.name for a in node.names}
                if absolute or relative or (node.level > 0 and not module and "cli" in names):
                    upward.append(str(path.relative_to(package)))
    assert upward == []
    assert not (package / "pipeline.py").exists()  # the re-export shim is gone
