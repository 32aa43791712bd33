"""GitOps mode: put the new image into the manifest file itself (``invoke patch --write``).

ruamel.yaml's round-trip loader finds each Ray container's ``image`` scalar (line and
column, across every document of the file); only that scalar's text is replaced, in the
quoting style it had, so comments, key order, quoting and indentation elsewhere stay
byte for byte. The result is parsed again and must hold exactly the planned images.
"""

from __future__ import annotations

import difflib
import os
import re
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from ..errors import RolloutError
from ..kuberay.crd import RAY_CONTAINER
from .plan import FIXED_PULL_POLICY, Rollout

_SCALAR = re.compile(r"\"[^\"\n]*\"|'[^'\n]*'|[^\s,\]}#]+")


@dataclass
class ManifestEdit:
    """The edited text of one file; ``changed`` lists (line number, old, new) per scalar."""

    path: Path
    original: str
    text: str
    changed: list[tuple[int, str, str]] = field(default_factory=list)

    @property
    def diff(self) -> str:
        """A unified diff of the file (empty when nothing changes)."""
        return "".join(
            difflib.unified_diff(
                self.original.splitlines(keepends=True),
                self.text.splitlines(keepends=True),
                fromfile=f"a/{self.path}",
                tofile=f"b/{self.path}",
            )
        )

    def save(self) -> None:
        """Replace the file atomically (same mode), only when something changed.

        A symlink is followed: the link stays, the file it points at is replaced
        (Kustomize trees link manifests between folders).
        """
        if not self.changed:
            return
        real = Path(os.path.realpath(self.path))
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name}.", dir=real.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
                fh.write(self.text)
            os.chmod(tmp, real.stat().st_mode & 0o7777)
            os.replace(tmp, real)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def _objects(docs: list[Any]) -> Iterator[Any]:
    for doc in docs:
        if isinstance(doc, Mapping):
            items = doc.get("items")
            if str(doc.get("kind", "")).endswith("List") and isinstance(items, list):
                yield from _objects(items)
            else:
                yield doc


def _load(text: str, where: str) -> list[Any]:
    try:
        return list(YAML(typ="rt").load_all(text))
    except YAMLError as exc:
        raise RolloutError(f"{where}: not valid YAML ({type(exc).__name__})") from None


def _find(docs: list[Any], plan: Rollout) -> Any:
    view = plan.view
    for obj in _objects(docs):
        meta = obj.get("metadata") or {}
        if (
            obj.get("kind") == view.kind.name
            and meta.get("name") == view.name
            and meta.get("namespace") in (None, "", view.namespace)
        ):
            return obj
    raise RolloutError(f"{view.source}: {view.title} not found when editing the file")


def _container(obj: Any, plan: Rollout, index: int | None) -> Any:
    spec: Any = obj
    for part in plan.view.kind.spec_pointer.strip("/").split("/"):
        spec = spec[part]
    group = spec["headGroupSpec"] if index is None else spec["workerGroupSpecs"][index]
    return group["template"]["spec"]["containers"][RAY_CONTAINER]


def edit_manifest(path: str | os.PathLike[str], plan: Rollout) -> ManifestEdit:
    """The file at ``path`` with ``plan``'s images (and pull-policy fixes) written in.

    ``plan`` must have been made from this very file (``--from FILE``). Raises
    RolloutError when the file cannot be read or the edit would not round-trip.
    """
    file = Path(path)
    try:
        original = file.read_bytes().decode("utf-8")  # not read_text: keep CRLF line ends
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise RolloutError(f"cannot read {file}: {reason}") from None
    obj = _find(_load(original, str(file)), plan)
    lines = original.splitlines(keepends=True)
    edits: list[tuple[int, int, str, str]] = []
    for t in plan.targets:
        node = _container(obj, plan, t.group.index)
        wanted = [("image", t.new_image)]
        if t.fix_pull_policy:
            wanted.append(("imagePullPolicy", FIXED_PULL_POLICY))
        for key, new in wanted:
            if node.get(key) == new:
                continue
            line, col = node.lc.value(key)
            edits.append((line, col, key, new))
    changed = []
    for line, col, key, new in sorted(edits, reverse=True):
        text = lines[line]
        match = _SCALAR.match(text, col)
        if match is None:
            raise RolloutError(f"{file}:{line + 1}: cannot find the {key} value to replace")
        old = match.group()
        quote = old[0] if old[0] in "\"'" else ""
        lines[line] = text[: match.start()] + f"{quote}{new}{quote}" + text[match.end() :]
        changed.append((line + 1, old.strip("\"'"), new))
    edit = ManifestEdit(file, original, "".join(lines), sorted(changed))
    after = _find(_load(edit.text, str(file)), plan)
    for t in plan.targets:
        if _container(after, plan, t.group.index).get("image") != t.new_image:
            raise RolloutError(f"{file}: editing {t.group.label}'s image did not round-trip")
    return edit
