"""Render the Dockerfile and the build context from the template, the definition and the lock.

Same inputs, same bytes: nothing here reads the clock, the environment or the engine.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from jinja2 import Environment, FileSystemLoader, StrictUndefined, TemplateError

from .definition import ImageDefinition
from .errors import PipelineError
from .inputs import normalised_definition
from .state import ResolvedBase


@dataclass(frozen=True)
class RenderedContext:
    directory: Path
    dockerfile: str
    lock_sha256: str


def lock_digest(definition: ImageDefinition) -> str:
    """Identifies the exact package set: both lock files, hashed together."""
    digest = hashlib.sha256()
    for path in (definition.requirements.lock, definition.requirements.build_lock):
        digest.update(_read_lock(path, definition))
    return digest.hexdigest()


# -- provenance labels (issue 22): what the SLSA provenance states, on the image too --------
LOCK_FILE_SHA = "io.github.ray-worker-image.requirements.lock.sha256"
BUILD_LOCK_FILE_SHA = "io.github.ray-worker-image.build-requirements.lock.sha256"
DEFINITION_SHA = "io.github.ray-worker-image.definition.sha256"


def provenance_labels(definition: ImageDefinition) -> dict[str, str]:
    """Label -> ``sha256:<hex>`` of each hash-locked requirement file's bytes and of the
    variant's image definition (canonical JSON of :func:`.inputs.normalised_definition`:
    the variant's own part, so adding another variant changes no image): what the
    provenance statement names, so `invoke verify` can compare the two. PipelineError when
    a lock is missing."""
    files = (
        (LOCK_FILE_SHA, definition.requirements.lock),
        (BUILD_LOCK_FILE_SHA, definition.requirements.build_lock),
    )
    out = {key: _sha(_read_lock(path, definition)) for key, path in files}
    out[DEFINITION_SHA] = _sha(
        json.dumps(
            normalised_definition(definition), sort_keys=True, separators=(",", ":")
        ).encode()
    )
    return out


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _read_lock(path: Path, definition: ImageDefinition) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        rel = path.relative_to(definition.root)
        raise PipelineError(
            f"{rel}: lock file missing; run `invoke lock --variant {definition.variant}` "
            "and commit it"
        ) from None


def _display(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def template_env(folder: Path) -> Environment:
    """StrictUndefined: a missing value is an error, never an empty string in a Dockerfile."""
    return Environment(
        loader=FileSystemLoader(folder),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # noqa: S701 - renders a Dockerfile, not HTML
    )


def render_dockerfile(definition: ImageDefinition, base: ResolvedBase, lock_sha256: str) -> str:
    env = template_env(definition.directory)
    b = definition.base
    site = PurePosixPath(b.site_packages)
    prefix = PurePosixPath(b.python_path).parent.parent
    try:
        template = env.get_template(definition.template.name)
        return template.render(
            definition_path=_display(definition.path, definition.root),
            base_source=base.pinned,
            base_name=base.name,
            base_digest=base.digest,
            stand_in=str(base.stand_in).lower(),
            variant=definition.ray_tag.canonical,
            ray_version=definition.ray_tag.ray_version,
            python=definition.ray_tag.python,
            uid=b.user.uid,
            gid=b.user.gid,
            pip=b.pip_path,
            site_packages=str(site),
            site_packages_in_prefix=str(site.relative_to(prefix)),
            bin_dir=str(PurePosixPath(b.python_path).parent),
            name=definition.name,
            version=definition.target.tag,
            source=definition.target.source,
            lock_sha256=lock_sha256,
            provenance=provenance_labels(definition),
        )
    except TemplateError as exc:
        raise PipelineError(f"{definition.template}: cannot render: {exc}") from None


def render_context(
    definition: ImageDefinition, base: ResolvedBase, build_dir: Path
) -> RenderedContext:
    """Write Dockerfile and locks into <build_dir>/context/, swapped in only when complete."""
    lock_sha256 = lock_digest(definition)
    dockerfile = render_dockerfile(definition, base, lock_sha256)
    target = build_dir / "context"
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".context-", dir=target.parent))
    try:
        (staging / "Dockerfile").write_text(dockerfile, "utf-8")
        shutil.copyfile(definition.requirements.lock, staging / "requirements.txt")
        shutil.copyfile(definition.requirements.build_lock, staging / "build-requirements.txt")
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return RenderedContext(target, dockerfile, lock_sha256)
