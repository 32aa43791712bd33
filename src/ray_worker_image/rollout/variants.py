"""Which variant of Ray an image runs, and whether a group may move to another image.

Ray needs the head, the workers and every client on the same Ray version and Python
(ray-project/ray#44063), so a group moves only to an image of the variant it runs now.
The variant of an image is read from its tag in Ray's grammar (:mod:`..raytag`) when it is
an official image (any ``rayproject/*`` repository on Docker Hub) or one of this
pipeline's releases (``<variant>-nats`` / ``<variant>-nats-g<rev>``); anything else (a
digest alone, a private name) cannot be classified.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import PipelineError, RolloutError
from ..raytag import OFFICIAL_NAMESPACE, RayTag
from ..refs import DOCKER_HUB, ImageRef
from .model import ClusterView, GroupView

_RELEASE_TAG = re.compile(r"^(?P<variant>.+)-nats(?:-g[0-9a-f]{7,40})?$")


@dataclass(frozen=True)
class NewImage:
    """What one group moves to: ``ref`` (with a digest) and the variant it was built on.

    ``variant`` None means unknown: only ``ray_version`` (if given) is checked.
    """

    ref: str
    variant: RayTag | None = None
    ray_version: str | None = None

    @property
    def version(self) -> str | None:
        """The Ray version inside the image: the variant's, else ``ray_version``."""
        return self.variant.ray_version if self.variant else self.ray_version


def official(ref: ImageRef) -> bool:
    """An official Ray image: any ``rayproject/*`` repository on Docker Hub."""
    return ref.registry == DOCKER_HUB and ref.repository.startswith(OFFICIAL_NAMESPACE)


def classify(image: str, *, release_repository: str | None = None) -> RayTag | None:
    """The :class:`RayTag` an image reference runs, or None when it cannot be told.

    Official repositories (every ``rayproject/*`` on Docker Hub: ``ray``, ``ray-ml``,
    ``ray-llm``): the tag itself (``rayproject/ray-llm:2.49.2-py311-cu128`` → 2.49.2-py311-cu128).
    ``release_repository`` (``swe-fleet/ray``, path without registry): its tags are
    ``<variant>-nats[-g<rev>]``. A digest alone, ``latest`` or a private name → None.
    """
    try:
        ref = ImageRef.parse(image)
    except PipelineError:
        return None
    if official(ref):
        return RayTag.try_parse(ref.tag)
    if release_repository and ref.repository == release_repository.strip("/") and ref.tag:
        match = _RELEASE_TAG.match(ref.tag)
        return RayTag.try_parse(match["variant"]) if match else None
    return None


def check_group(
    view: ClusterView,
    group: GroupView,
    new: NewImage,
    *,
    force: bool,
    release_repository: str | None = None,
) -> list[str]:
    """Refuse (RolloutError) or warn about moving ``group`` to ``new``; returns warnings.

    Mismatch in Ray version, Python, platform or architecture → refused, naming the
    group, what it runs and the variant to build; ``force`` turns it into a loud warning.
    Unclassifiable current image → rely on ``spec.rayVersion``; missing too → refused
    unless ``force``.
    """
    current = classify(group.image, release_repository=release_repository)
    where = f"{view.source}: {group.label} of {view.title}"
    if current is not None and new.variant is not None:
        diffs = current.differences(new.variant)
        if not diffs:
            return []
        message = (
            f"{where} runs {group.image} (variant {current.short}) but {new.ref} is variant"
            f" {new.variant.short} ({'; '.join(diffs)}); build variant {current.short} and roll"
            " that out (Ray needs the same Ray and Python on every node)"
        )
        if not force:
            raise RolloutError(message + ", or pass --force")
        return [f"FORCED (--force): {message}"]
    if current is not None and new.version and current.ray_version != new.version:
        message = (
            f"{where} runs Ray {current.ray_version} ({group.image}) but {new.ref} runs Ray"
            f" {new.version}; build variant {current.short}"
        )
        if not force:
            raise RolloutError(message + ", or pass --force")
        return [f"FORCED (--force): {message}"]
    if current is not None:
        return []
    if view.ray_version is not None or not view.live:
        return [
            f"{where} runs {group.image}: its Ray and Python cannot be told from the name"
            f" (a digest or a private image); relying on spec.rayVersion"
            f" {view.ray_version or '(guarded at apply time)'}, which cannot reveal a"
            " Python or platform mismatch"
        ]
    message = (
        f"{where} runs {group.image}, whose Ray and Python cannot be told from the name, and"
        f" {view.kind.spec_path}.rayVersion is not set; set rayVersion to the Ray version"
        " the cluster runs (or use a rayproject/ray tag)"
    )
    if not force:
        raise RolloutError(message + ", or pass --force")
    return [f"FORCED (--force): {message}"]
