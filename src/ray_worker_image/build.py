"""Build the rendered context with the chosen engine."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from . import console, proc
from .context import context_tar
from .definition import ImageDefinition
from .engine import Engine
from .errors import PipelineError
from .inputs import (
    commit_epoch,
    input_files,
    input_key,
    lock_inputs_key,
    normalised_definition,
    rfc3339,
)
from .refs import ImageRef
from .render import RenderedContext
from .state import BuiltImage, ResolvedBase

LOCAL_REGISTRY = "localhost"  # local names never resolve to a real registry by accident


def git_revision(root: Path) -> str:
    """The commit being built; ``-dirty`` when the work tree has uncommitted changes."""
    sha = proc.git(root, "rev-parse", "HEAD")
    dirty = proc.git(root, "status", "--porcelain", "--untracked-files=no")
    if not sha or dirty is None:
        sha = os.environ.get("GITHUB_SHA", "")
        dirty = ""
        if not sha:
            raise PipelineError(
                f"{root}: not a git checkout with a commit, so the image cannot carry its "
                "revision; build from a clone (or set GITHUB_SHA)"
            )
    return sha + ("-dirty" if dirty else "")


def local_tags(definition: ImageDefinition, revision: str) -> tuple[str, ...]:
    target = definition.target
    repo = f"{LOCAL_REGISTRY}/{target.repository}"
    immutable = target.immutable_tag(revision.removesuffix("-dirty"))
    if revision.endswith("-dirty"):
        immutable += "-dirty"
    return (f"{repo}:{target.tag}", f"{repo}:{immutable}")


INPUT_KEY = "io.github.ray-worker-image.input-key"
LOCK_INPUTS = "io.github.ray-worker-image.lock-inputs"


def build_args(
    revision: str, created: str, base_source: str = "", *, key: str = "", lock_key: str = ""
) -> dict[str, str]:
    """The per-build label values, as the build args the template's last LABEL reads.

    Build args, not API labels: podman applies API labels in Go map order (random), one
    history entry each, so two builds of one commit would differ. ``created`` is the
    commit time (:func:`.inputs.commit_epoch`), never the clock. Pure.
    """
    return {
        "REVISION": revision,
        "CREATED": created,
        "INPUT_KEY": key,
        "LOCK_INPUTS": lock_key,
        "BASE_SOURCE": base_source,  # where the base was pulled from (the stand-in registry)
    }


@dataclass(frozen=True)
class BuildInputs:
    """What a build is made of, known before it starts (no engine needed)."""

    revision: str
    epoch: int  # the commit time, Unix seconds
    key: str  # inputs.input_key
    lock_key: str  # inputs.lock_inputs_key


def build_inputs(
    definition: ImageDefinition, context: RenderedContext, base: ResolvedBase, revision: str
) -> BuildInputs:
    files = input_files(definition)
    key = input_key(
        base_digest=base.digest,
        files=files,
        dockerfile=context.dockerfile,
        definition=normalised_definition(definition),
        revision=revision,
    )
    lock_key = lock_inputs_key(base_digest=base.digest, files=files)
    return BuildInputs(revision, commit_epoch(definition.root), key, lock_key)


def build_image(
    definition: ImageDefinition,
    engine: Engine,
    context: RenderedContext,
    base: ResolvedBase,
    *,
    ca_cert: Path | None,
    no_cache: bool = False,
    inputs: BuildInputs | None = None,
) -> BuiltImage:
    """Build the rendered context; every timestamp is the commit time (reproducible)."""
    revision = inputs.revision if inputs else git_revision(definition.root)
    if revision.endswith("-dirty"):
        console.warn("the work tree has uncommitted changes; the immutable tag says -dirty")
    inputs = inputs or build_inputs(definition, context, base, revision)
    created = rfc3339(inputs.epoch)
    members: dict[str, bytes | Path] = {
        path.name: path for path in sorted(context.directory.iterdir()) if path.is_file()
    }
    # The CA travels only inside this in-memory tar, to the first stage (see Dockerfile.j2).
    members["ca-bundle.pem"] = ca_cert.read_bytes() if ca_cert else b""
    tags = local_tags(definition, revision)
    console.step(f"building {tags[0]} with {engine.name} (base {base.pinned})")
    image_id = engine.build(
        context_tar(members),
        tags[0],
        labels={},
        buildargs=build_args(
            revision, created, base.source, key=inputs.key, lock_key=inputs.lock_key
        ),
        on_line=console.info,
        no_cache=no_cache,
        epoch=inputs.epoch,
    )
    for tag in tags[1:]:
        engine.tag(image_id, ImageRef.parse(tag))
    console.step(f"built {image_id}")
    for tag in tags:
        console.info(f"tagged {tag}")
    return BuiltImage(
        image_id=image_id,
        engine=engine.name,
        tags=tags,
        revision=revision,
        created=created,
        lock_sha256=context.lock_sha256,
        base=base,
        input_key=inputs.key,
    )
