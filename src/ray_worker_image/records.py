"""What was built and pushed, derived from the engine and the registry, never from files.

Nothing under ``build/`` says what was built or pushed (only the in-image test verdict is
kept there, keyed by image id). For the current git revision:

- the **built image** of a variant is the engine's image under the variant's local
  immutable tag (:func:`.build.local_tags`), described by its labels (:func:`built_image`);
- the **pushed image** is what the registry serves (HEAD) under that revision's immutable
  tag, and it counts only when its config digest is the local image id
  (:func:`pushed_image`).

Both engines keep the config bytes on push: the image id Docker Engine and podman show
is sha256 of the config blob they upload (moby ``image/image.go`` ``ID``; containers/image
``copy`` copies the config blob as is when no conversion is asked for, and a single-arch
build needs none), so comparing the registry manifest's ``config.digest`` with the local
image id is exact on both; tests/engine/test_state_derived.py checks it on each engine.
"""

from __future__ import annotations

from collections.abc import Callable

from . import engine as engines
from .build import INPUT_KEY, local_tags
from .definition import ImageDefinition
from .errors import PipelineError
from .refs import ImageRef
from .registry import Destination
from .state import BuiltImage, PushRecord, ResolvedBase

REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_SOURCE = "io.github.ray-worker-image.base.source"
STAND_IN = "io.github.ray-worker-image.stand-in"
LOCK_SHA = "io.github.ray-worker-image.requirements.sha256"

# Asks another engine whether it holds a local name; None when that engine is not reachable.
OtherEngine = Callable[[str], str | None]


def built_image(
    labels: dict[str, str], image_id: str, engine: str, definition: ImageDefinition
) -> BuiltImage:
    """The BuiltImage an image's labels describe (pure; unit-tested)."""
    missing = [key for key in (REVISION, BASE_NAME, BASE_DIGEST) if not labels.get(key)]
    if missing:
        raise PipelineError(
            f"image {image_id[:19]} lacks the pipeline's labels ({', '.join(missing)}); "
            "run `invoke build`"
        )
    base = ResolvedBase(
        name=labels[BASE_NAME],
        source=labels.get(BASE_SOURCE) or labels[BASE_NAME],
        digest=labels[BASE_DIGEST],
        stand_in=labels.get(STAND_IN, "false") == "true",
    )
    return BuiltImage(
        image_id=image_id,
        engine=engine,
        tags=local_tags(definition, labels[REVISION]),
        revision=labels[REVISION],
        created=labels.get(CREATED, ""),
        lock_sha256=labels.get(LOCK_SHA, ""),
        base=base,
        input_key=labels.get(INPUT_KEY, ""),
    )


def labels_of(engine: engines.Engine, ref_or_id: str) -> tuple[str, dict[str, str]]:
    """(image id, labels) of a local image."""
    attrs = engine.image_attrs(ref_or_id)
    return str(attrs.get("Id", "")), dict((attrs.get("Config") or {}).get("Labels") or {})


def find_built(
    engine: engines.Engine,
    definition: ImageDefinition,
    revision: str,
    other: OtherEngine | None = None,
) -> BuiltImage:
    """The variant's image for ``revision`` in ``engine``: its local immutable tag, its labels.

    Raises PipelineError (one line): built with the other engine (``other(tag)`` names
    it) -> pass --engine; nowhere -> run `invoke build`; labels of another revision ->
    rebuild.
    """
    tag = local_tags(definition, revision)[1]
    if not engine.image_exists(tag):
        found_in = other(tag) if other else None
        if found_in:
            raise PipelineError(
                f"image {tag} was built with {found_in}, not {engine.name}; pass --engine "
                f"{found_in} (or rebuild with `invoke build --engine {engine.name} "
                f"--variant {definition.variant}`)"
            )
        raise PipelineError(
            f"no image {tag} in {engine.name}'s storage (revision {revision[:12]}); run "
            f"`invoke build --engine {engine.name} --variant {definition.variant}`"
        )
    image_id, labels = labels_of(engine, tag)
    built = built_image(labels, image_id, engine.name, definition)
    if built.revision != revision:
        raise PipelineError(
            f"image {tag} says revision {built.revision}, the work tree is {revision}; run "
            f"`invoke build --variant {definition.variant}` again"
        )
    return built


def pushed_refs(definition: ImageDefinition, registry: str, revision: str) -> tuple[ImageRef, ...]:
    """(floating, immutable) references of ``revision`` in ``registry`` (pure)."""
    return tuple(
        ImageRef.parse(t).with_registry(registry) for t in local_tags(definition, revision)
    )


def pushed_image(
    destination: Destination, definition: ImageDefinition, built: BuiltImage
) -> PushRecord:
    """The push of ``built``, as the registry serves it now (HEAD of the immutable tag).

    Counts only when the manifest's config digest is ``built.image_id``. Raises
    PipelineError (one line naming `invoke push`) when the tag is absent or holds
    another image.
    """
    refs = pushed_refs(definition, destination.registry, built.revision)
    immutable = refs[1]
    repository = destination.repository(immutable.repository)
    variant = definition.variant
    digest = repository.manifest_digest(immutable)
    if digest is None:
        raise PipelineError(
            f"{immutable} is not in the registry: nothing of revision {built.revision[:12]} "
            f"was pushed there; run `invoke push --variant {variant} --registry "
            f"{destination.registry}`"
        )
    config = repository.config_digest(digest)
    if config != built.image_id:
        raise PipelineError(
            f"{immutable} serves image {(config or 'unknown')[:19]}, not the local build "
            f"{built.image_id[:19]}; run `invoke push --variant {variant}` (--force to replace it)"
        )
    return PushRecord(
        image_id=built.image_id,
        engine=built.engine,
        registry=destination.registry,
        repository=immutable.repository,
        tags=tuple(ref.tag or "" for ref in refs),
        digest=digest,
    )
