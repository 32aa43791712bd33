"""Resolve the base image to a digest: from its registry, or from the stand-in in offline mode."""

from __future__ import annotations

from pathlib import Path

from . import console
from .definition import ImageDefinition
from .engine import Engine
from .errors import PipelineError
from .registry import Destination
from .standin import DEFAULT_STAND_IN_REGISTRY, ensure_stand_in, stand_in_ref
from .state import ResolvedBase


def resolve_base(
    definition: ImageDefinition,
    engine: Engine,
    *,
    stand_in: bool,
    stand_in_registry: str = DEFAULT_STAND_IN_REGISTRY,
    ca_cert: Path | None = None,
) -> ResolvedBase:
    """Pin the base by the digest its registry served; pull it unless the engine holds it.

    The engine is asked for ``<name>@<digest>`` (a digest names exactly one image), so a
    base already pulled by that digest is used without asking its registry for layers.
    """
    wanted = definition.base.image
    if stand_in:
        built = ensure_stand_in(definition, engine, registry=stand_in_registry, ca_cert=ca_cert)
        source = stand_in_ref(definition, stand_in_registry)
        console.warn(
            f"offline mode: the base is a STAND-IN for {wanted}, served as {source}; "
            "it is not the image your cluster runs"
        )
    else:
        source = wanted
    # The registry's digest is what a Kubernetes node will pull; an engine's local
    # RepoDigests can differ (podman converts manifests on push).
    try:
        digest = (
            Destination.of(source.registry).repository(source.repository).manifest_digest(source)
        )
    except PipelineError as exc:
        if stand_in:
            raise
        raise PipelineError(
            f"base {source}: {exc}; without access to it, use the offline stand-in (--stand-in)"
        ) from None
    if digest is None:
        raise PipelineError(f"base {source}: the registry has no such tag; check base.image")
    if stand_in and built.ref.digest != digest:
        raise PipelineError(f"stand-in: registry digest moved during resolution ({digest})")
    if engine.image_exists(f"{source.name}@{digest}"):  # pinned by digest: nothing to fetch
        console.info(f"base {source}@{digest} already in {engine.name}'s storage; no pull")
    else:
        console.step(f"pulling {source}@{digest} with {engine.name}")
        engine.pull(source.with_digest(digest))
    console.info(f"base pinned: {source}@{digest}")
    return ResolvedBase(name=str(wanted), source=str(source), digest=digest, stand_in=stand_in)
