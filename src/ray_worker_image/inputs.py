"""What an image is made of: its input key, and the commit time its timestamps come from.

Pure functions (unit-tested) plus two small readers (git, the files of a definition).
The input key is recorded on the image as the label :data:`.records.INPUT_KEY`, so
"nothing changed" needs nothing but the engine (labels) or the registry (config blob).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import proc
from .definition import ImageDefinition
from .errors import PipelineError

KEY_VERSION = "ray-worker-image/input-key/v1"
SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"


def rfc3339(epoch: int) -> str:
    """``1767225600`` -> ``2026-01-01T00:00:00Z`` (UTC, seconds). Pure."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def commit_epoch(root: Path) -> int:
    """Seconds since the epoch of HEAD's committer date (`git log -1 --format=%ct`).

    Every timestamp of a build derives from it (the ``created`` label, the config's
    ``created`` and history, file times on podman), so two builds of one commit agree.
    Without git, ``$SOURCE_DATE_EPOCH`` (reproducible-builds.org). Raises PipelineError.
    """
    out = proc.git(root, "log", "-1", "--format=%ct") or ""
    if out.isdigit():
        return int(out)
    value = os.environ.get(SOURCE_DATE_EPOCH, "")
    if value.isdigit():
        return int(value)
    raise PipelineError(
        f"{root}: no git commit to take the build time from; build from a clone "
        f"(or set ${SOURCE_DATE_EPOCH} to the commit's Unix time)"
    )


def normalised_definition(definition: ImageDefinition) -> dict[str, Any]:
    """The variant's definition as plain JSON data, paths relative to the root. Pure."""

    def plain(value: Any) -> Any:
        if isinstance(value, Path):
            return (
                value.relative_to(definition.root).as_posix()
                if value.is_relative_to(definition.root)
                else value.name
            )
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in sorted(value.items())}
        if isinstance(value, tuple | list):
            return [plain(v) for v in value]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return value

    data = plain(definition)
    # Where the definition file sits says nothing about the image (tests use copies).
    data.pop("path", None)
    data.pop("root", None)
    return dict(data)


def input_key(
    *,
    base_digest: str,
    files: Mapping[str, bytes],
    dockerfile: str,
    definition: Mapping[str, Any],
    revision: str,
) -> str:
    """``sha256:<hex>`` over everything an image is built from. Pure.

    What goes in, in this order, as one canonical JSON document (sorted keys):
    ``version`` (:data:`KEY_VERSION`), ``base`` (the base's digest as its registry serves
    it), ``files`` (name -> sha256 of the bytes of the variant's ``constraints.txt``,
    ``ray-worker.txt``, ``ray-worker-build.txt`` and the shared ``.in`` files: see
    :func:`input_files`), ``dockerfile`` (sha256 of the rendered Dockerfile, which holds
    the template's text, the base reference, uid/gid, paths and static labels),
    ``definition`` (:func:`normalised_definition`) and ``revision`` (git, ``-dirty``
    included). The per-build labels (revision, created, input key) are not inside.
    """
    document = {
        "version": KEY_VERSION,
        "base": base_digest,
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
        "dockerfile": hashlib.sha256(dockerfile.encode("utf-8")).hexdigest(),
        "definition": definition,
        "revision": revision,
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode("ascii")).hexdigest()


def lock_inputs_key(*, base_digest: str, files: Mapping[str, bytes]) -> str:
    """What the lock check depends on (base digest, lock and .in files): ``sha256:<hex>``.

    Recorded as :data:`.records.LOCK_INPUTS`; when a release's lock inputs equal those of
    the image the registry serves, the slow pip-compile check is skipped. Pure.
    """
    return input_key(
        base_digest=base_digest, files=files, dockerfile="", definition={}, revision="lock"
    )


def input_files(definition: ImageDefinition) -> dict[str, bytes]:
    """name -> bytes of the lock files and ``.in`` files (a missing one: PipelineError)."""
    req = definition.requirements
    paths = {
        "constraints.txt": req.constraints,
        "ray-worker.txt": req.lock,
        "ray-worker-build.txt": req.build_lock,
        "ray-worker.in": req.input,
        "build.in": req.build_input,
    }
    out: dict[str, bytes] = {}
    for name, path in paths.items():
        try:
            out[name] = path.read_bytes()
        except FileNotFoundError:
            raise PipelineError(
                f"{path}: missing; run `invoke lock --variant {definition.variant}` and commit "
                "requirements/"
            ) from None
    return out
