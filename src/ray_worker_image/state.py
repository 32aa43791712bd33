"""What one step hands to the next (frozen dataclasses), and the one record kept on disk.

What was built and pushed is derived from the engine and the registry (:mod:`.records`);
the only file kept is the in-image test verdict, ``build/<variant>/state/tests/<image id>.json``
(:meth:`StateStore.save_test`). Writes are atomic (temp file + rename), so an
interrupted step never leaves a half-written record for the next one to trust.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import PipelineError

BUILD_DIR = Path("build")
T = TypeVar("T")


def write_atomic(path: Path, text: str) -> None:
    write_atomic_group({path: text})


def write_atomic_group(texts: dict[Path, str]) -> None:
    """Replace every file, or none: the old set comes back if any step fails.

    All new contents are written to temp files first; each existing file is kept as
    a hard link (a copy where links fail) before the renames; when a rename fails
    the files already replaced are put back from those links and new ones removed.
    """
    staged: list[tuple[str, Path]] = []
    backups: dict[Path, str | None] = {}
    replaced: list[Path] = []
    try:
        for path, text in texts.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
            staged.append((tmp, path))
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text)
        for _, path in staged:
            backups[path] = _keep(path) if path.exists() else None
        for tmp, path in staged:
            os.replace(tmp, path)
            replaced.append(path)
    except BaseException:
        for path in reversed(replaced):
            backup = backups.get(path)
            if backup is not None:
                os.replace(backup, path)
                backups[path] = None
            else:
                path.unlink(missing_ok=True)
        raise
    finally:
        for tmp, _ in staged:
            Path(tmp).unlink(missing_ok=True)
        for backup in backups.values():
            if backup is not None:
                Path(backup).unlink(missing_ok=True)


def _keep(path: Path) -> str:
    """A second name for ``path``'s current content, next to it (rollback of a group)."""
    fd, keep = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.old.")
    os.close(fd)
    os.unlink(keep)
    try:
        os.link(path, keep)
    except OSError:
        shutil.copy2(path, keep)
    return keep


@dataclass(frozen=True)
class ResolvedBase:
    """The base image as pulled: where from, and the digest the registry served."""

    name: str  # what the definition asks for, e.g. docker.io/rayproject/ray:2.49.2
    source: str  # where it was pulled from (the stand-in registry in offline mode)
    digest: str
    stand_in: bool

    @property
    def pinned(self) -> str:
        return f"{self.source}@{self.digest}"


@dataclass(frozen=True)
class BuiltImage:
    image_id: str
    engine: str
    tags: tuple[str, ...]  # local names: localhost/<repository>:<tag>
    revision: str
    created: str
    lock_sha256: str
    base: ResolvedBase
    input_key: str = ""  # io.github.ray-worker-image.input-key (inputs.input_key)


@dataclass(frozen=True)
class TestRecord:
    __test__ = False  # not a pytest test class, despite the name

    image_id: str
    engine: str
    passed: bool
    count: int
    failed: int
    report: str  # path of the JUnit XML report


@dataclass(frozen=True)
class PushRecord:
    image_id: str
    engine: str
    registry: str
    repository: str
    tags: tuple[str, ...]
    digest: str

    @property
    def by_digest(self) -> str:
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def by_tag_and_digest(self) -> str:
        return f"{self.registry}/{self.repository}:{self.tags[0]}@{self.digest}"


def _to_json(record: Any) -> str:
    return json.dumps(dataclasses.asdict(record), indent=2, sort_keys=True) + "\n"


def _from_dict(cls: type[T], data: dict[str, Any]) -> T:
    kwargs: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        value = data[field.name]
        if field.name == "base":
            value = ResolvedBase(**value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[field.name] = value
    return cls(**kwargs)


class StateStore:
    """The in-image test verdicts of a variant, one file per image id."""

    def __init__(self, build_dir: Path) -> None:
        self.dir = build_dir / "state"

    def _path(self, kind: str) -> Path:
        return self.dir / f"{kind}.json"

    def save(self, kind: str, record: Any) -> None:
        write_atomic(self._path(kind), _to_json(record))

    def load(self, kind: str, cls: type[T], *, hint: str) -> T:
        path = self._path(kind)
        try:
            data = json.loads(path.read_text("utf-8"))
            return _from_dict(cls, data)
        except FileNotFoundError:
            raise PipelineError(f"{path}: not found; {hint}") from None
        except (ValueError, KeyError, TypeError):
            raise PipelineError(f"{path}: unreadable record; {hint}") from None

    def load_optional(self, kind: str, cls: type[T]) -> T | None:
        try:
            return self.load(kind, cls, hint="")
        except PipelineError:
            return None

    def test_kind(self, image_id: str) -> str:
        return f"tests/{image_id.removeprefix('sha256:')[:32]}"

    def save_test(self, record: TestRecord) -> None:
        self.save(self.test_kind(record.image_id), record)

    def load_test(self, image_id: str) -> TestRecord | None:
        return self.load_optional(self.test_kind(image_id), TestRecord)
