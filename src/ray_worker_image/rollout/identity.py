"""What an image that goes into a cluster is, told by the image itself.

Every new image of a patch, rollout script, ``--write``, Helm values or ``release --from``
is identified here before it is planned:

1. its config labels, read from the registry (:data:`LabelReader`, the project's registry
   client with push's CA, insecure and credential settings and one timeout): this
   pipeline's ``variant`` / ``ray-version`` / ``python`` labels, else the OCI
   ``org.opencontainers.image.base.name`` (``docker.io/rayproject/ray:2.52.1-py311``) read
   in Ray's tag grammar; the stand-in label and the input key come along;
2. when the image cannot be read (unreachable, 401, 403, 404, timeout) or carries none of
   those labels (a foreign image): its tag, in Ray's grammar or this project's
   (``<variant>-nats[-g<rev>]``), and the identity says the tag was used and why;
3. else the variant the user declared (``--variant``), said as such;
4. else refused (:class:`RolloutError`, one line).

An image built on the offline stand-in is refused for a cluster unless ``allow_stand_in``.
Pure apart from the injected reader.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .. import labels as L
from ..errors import PipelineError, RolloutError
from ..raytag import RayTag
from ..refs import ImageRef
from .variants import classify

# ref -> the image's config labels; None when the registry has no such manifest (404) or
# the manifest is an index/has no config. Raises PipelineError when it cannot be read.
LabelReader = Callable[[ImageRef], Mapping[str, str] | None]


@dataclass(frozen=True)
class Identity:
    """One image as identified: ``variant`` None only when nothing could tell it.

    ``how``: "labels", "tag", "--variant" or "build" (the pipeline's own build, known
    before it is pushed). ``note``: one line for the user when the labels were not used.
    """

    ref: str
    variant: RayTag | None
    how: str
    stand_in: bool = False
    input_key: str = ""
    note: str | None = None


def variant_from_labels(labels: Mapping[str, str]) -> RayTag | None:
    """The variant the labels describe; None when they say nothing in Ray's grammar.

    ``io.github.ray-worker-image.variant`` first, then the base name's tag
    (``org.opencontainers.image.base.name``, any ``rayproject/*`` on Docker Hub).
    """
    own = RayTag.try_parse(labels.get(L.VARIANT))
    if own is not None:
        return own
    base = labels.get(L.BASE_NAME)
    return classify(base) if base else None


def identify(
    ref: str,
    read: LabelReader,
    *,
    release_repository: str | None,
    declared: RayTag | None = None,
) -> Identity:
    """Identify ``ref`` (labels, else tag, else ``declared``); RolloutError when none tells.

    A ``declared`` variant that contradicts the labels is refused, naming both.
    """
    parsed = ImageRef.parse(ref, what="--image")
    why: str
    try:
        found = read(parsed)
    except PipelineError as exc:
        found, why = None, f"its labels could not be read ({exc})"
    else:
        why = (
            "the registry has no image config for it (404 or a multi-platform index)"
            if found is None
            else "its labels do not say its variant (an image not built by this pipeline)"
        )
    stand_in = found is not None and found.get(L.STAND_IN, "false") == "true"
    if found is not None:
        variant = variant_from_labels(found)
        if variant is not None:
            if declared is not None and declared != variant:
                raise RolloutError(
                    f"{ref}: its labels say variant {variant.short} but --variant says"
                    f" {declared.short} ({'; '.join(variant.differences(declared))});"
                    f" drop --variant or pass an image of {declared.short}"
                )
            return Identity(ref, variant, "labels", stand_in, found.get(L.INPUT_KEY, ""))
    by_tag = classify(ref, release_repository=release_repository)
    if by_tag is not None:
        note = f"{ref}: variant {by_tag.short} taken from its tag, because {why}"
        return Identity(ref, by_tag, "tag", stand_in, note=note)
    if declared is not None:
        note = f"{ref}: variant {declared.short} as --variant says, because {why}"
        return Identity(ref, declared, "--variant", stand_in, note=note)
    raise RolloutError(
        f"{ref}: cannot tell which Ray variant it is: {why}, and its tag is not in Ray's"
        " grammar or this project's; pass --variant VARIANT (e.g. 2.52.1-py311) to say what"
        " it is, or give a reference with such a tag"
    )


def check_stand_in(identity: Identity, *, allow_stand_in: bool) -> None:
    """Refuse (RolloutError) an image built on the offline stand-in unless allowed."""
    if identity.stand_in and not allow_stand_in:
        raise RolloutError(
            f"{identity.ref} was built on the offline stand-in (label {L.STAND_IN}=true),"
            " not on rayproject/ray; rebuild without --stand-in, or pass --allow-stand-in"
            " to put it into a cluster anyway"
        )


def tag_only(ref: ImageRef) -> Mapping[str, str] | None:
    """A :data:`LabelReader` that reads nothing (no registry at hand): the tag decides."""
    raise PipelineError("no registry client was given")


def known(builds: list[Identity]) -> LabelReader:
    """A reader for images this run builds itself (release planning, before the push):
    their labels are the ones the definition renders; any other image reads as absent."""

    def read(ref: ImageRef) -> Mapping[str, str] | None:
        for build in builds:
            if ImageRef.parse(build.ref) == ref:
                variant = {L.VARIANT: build.variant.canonical} if build.variant else {}
                return {L.STAND_IN: str(build.stand_in).lower(), **variant}
        return None

    return read
