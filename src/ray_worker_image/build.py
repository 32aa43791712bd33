"""Build the rendered context with the chosen engine."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
from pathlib import Path

from . import console
from .context import context_tar
from .definition import ImageDefinition
from .engine import Engine
from .errors import PipelineError
from .proc import GIT_TIMEOUT
from .refs import ImageRef
from .render import RenderedContext
from .state import BuiltImage, ResolvedBase

LOCAL_REGISTRY = "localhost"  # local names never resolve to a real registry by accident


def git_revision(root: Path) -> str:
    """The commit being built; ``-dirty`` when the work tree has uncommitted changes."""
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=GIT_TIMEOUT,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=GIT_TIMEOUT,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError, subprocess.TimeoutExpired):
        sha = os.environ.get("GITHUB_SHA", "")
        dirty = ""
        if not sha:
            raise PipelineError(
                f"{root}: not a git checkout with a commit, so the image cannot carry its "
                "revision; build from a clone (or set GITHUB_SHA)"
            ) from None
    return sha + ("-dirty" if dirty else "")


def local_tags(definition: ImageDefinition, revision: str) -> tuple[str, ...]:
    target = definition.target
    repo = f"{LOCAL_REGISTRY}/{target.repository}"
    immutable = target.immutable_tag(revision.removesuffix("-dirty"))
    if revision.endswith("-dirty"):
        immutable += "-dirty"
    return (f"{repo}:{target.tag}", f"{repo}:{immutable}")


def build_labels(
    definition: ImageDefinition, revision: str, created: str, base_source: str = ""
) -> dict[str, str]:
    """The labels that change per build; the static ones are in the rendered Dockerfile."""
    labels = {
        "org.opencontainers.image.revision": revision,
        "org.opencontainers.image.created": created,
    }
    if base_source:  # where the base was pulled from (the stand-in registry offline)
        labels["io.github.ray-worker-image.base.source"] = base_source
    return labels


def build_image(
    definition: ImageDefinition,
    engine: Engine,
    context: RenderedContext,
    base: ResolvedBase,
    *,
    ca_cert: Path | None,
    no_cache: bool = False,
) -> BuiltImage:
    revision = git_revision(definition.root)
    if revision.endswith("-dirty"):
        console.warn("the work tree has uncommitted changes; the immutable tag says -dirty")
    created = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
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
        labels=build_labels(definition, revision, created, base.source),
        on_line=console.info,
        no_cache=no_cache,
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
    )
