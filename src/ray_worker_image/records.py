"""What was built and pushed, as the engine and the registry say, not as files say.

A file under build/state/ can outlive what it describes (an image removed, or built
by another engine; a tag overwritten in the registry). The build and push records
are only pointers: the image's labels (engine) and the tags' digests (registry HEAD)
are read back and must agree, else one line says what to run.
"""

from __future__ import annotations

import dataclasses

from . import engine as engines
from .build import local_tags
from .definition import ImageDefinition
from .errors import PipelineError
from .refs import ImageRef
from .registry import RegistryAccess, RegistryClient
from .state import BuiltImage, PushRecord, ResolvedBase

REVISION = "org.opencontainers.image.revision"
CREATED = "org.opencontainers.image.created"
BASE_NAME = "org.opencontainers.image.base.name"
BASE_DIGEST = "org.opencontainers.image.base.digest"
BASE_SOURCE = "io.github.ray-worker-image.base.source"
STAND_IN = "io.github.ray-worker-image.stand-in"
LOCK_SHA = "io.github.ray-worker-image.requirements.sha256"


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
    )


def confirm_build(
    engine: engines.Engine, definition: ImageDefinition, record: BuiltImage
) -> BuiltImage:
    """The build ``record`` points at, as the engine describes it now (its labels).

    Raises PipelineError (one line) when the image is not in this engine's storage
    (naming the engine that built it) or its labels no longer match the record.
    """
    if not engine.image_exists(record.image_id):
        if record.engine and record.engine != engine.name:
            raise PipelineError(
                f"image {record.image_id[:19]} was built with {record.engine}, not "
                f"{engine.name}; pass --engine {record.engine} (or rebuild with `invoke build "
                f"--engine {engine.name}`)"
            )
        raise PipelineError(
            f"image {record.image_id[:19]} is no longer in {engine.name}'s storage; "
            "run `invoke build` again"
        )
    attrs = engine.image_attrs(record.image_id)
    labels = dict((attrs.get("Config") or {}).get("Labels") or {})
    built = built_image(labels, record.image_id, engine.name, definition)
    if built.revision != record.revision:
        raise PipelineError(
            f"image {record.image_id[:19]} says revision {built.revision}, the build record "
            f"{record.revision}; run `invoke build` again"
        )
    return dataclasses.replace(built, tags=record.tags, created=record.created or built.created)


def verify_push(record: PushRecord, access: RegistryAccess | None = None) -> PushRecord:
    """The push record, only if the registry still serves its digest under every tag."""
    client = RegistryClient(access or RegistryAccess(record.registry))
    for tag in record.tags:
        served = client.manifest_digest(ImageRef(record.registry, record.repository, tag))
        if served != record.digest:
            raise PipelineError(
                f"{record.registry}/{record.repository}:{tag} now serves "
                f"{served or 'nothing'}, not the recorded {record.digest}; run `invoke push`"
            )
    return record
