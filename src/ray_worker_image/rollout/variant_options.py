"""One rollout for a cluster whose groups run different variants of this release
(``--all-variants --from LIVE``): each group moves to the pushed image of the variant it runs.
"""

from __future__ import annotations

from dataclasses import replace

from ..definition import ImageDefinition
from ..errors import RolloutError
from ..raytag import RayTag
from ..refs import ImageRef
from .identity import Identity, LabelReader, tag_only
from .model import HEAD_GROUP, ClusterView
from .options import ClusterOptions, identified, judged, view_and_object, with_canary
from .plan import Accepted, Rollout, plan_rollout
from .variants import NewImage, classify


def images_by_variant(
    view: ClusterView,
    variants: list[tuple[RayTag, str]],
    *,
    groups: tuple[str, ...] | None,
    release_repository: str | None,
) -> dict[str, NewImage]:
    """Each template of ``view`` -> the image of the variant it runs now.

    ``variants``: (variant, pushed reference with digest) of every image of this release.
    The head always moves; worker groups as ``groups`` selects (None: all). A group's
    current image is classified (:func:`classify`); an unclassifiable one falls back to the
    one variant of ``spec.rayVersion``. No fitting variant: RolloutError naming the group,
    what it runs and the variant to add.
    """
    chosen = [g for g in view.groups if groups is None or g.name in groups]
    out: dict[str, NewImage] = {}
    for group in (view.head, *chosen):
        current = classify(group.image, release_repository=release_repository)
        if current is None:
            fits = [
                v for v in variants if view.ray_version and v[0].ray_version == view.ray_version
            ]
            if len(fits) != 1:
                raise RolloutError(
                    f"{view.source}: group {group.name} runs {group.image}, which does not say its"
                    f" variant, and spec.rayVersion {view.ray_version or '(missing)'} fits "
                    f"{len(fits)} variants of this release; pass --image {group.name}=REF"
                )
        else:
            fits = [v for v in variants if v[0] == current]
            if not fits:
                built = ", ".join(v[0].short for v in variants)
                raise RolloutError(
                    f"{view.source}: group {group.name} runs {group.image} ({current.short}); this"
                    f" release builds {built}; build variant {current.short}"
                    f" (invoke add-variant {current.short})"
                )
        tag, ref = fits[0]
        out[group.name] = NewImage(ref, tag)
    return out


def plan_for_variants(
    definitions: list[ImageDefinition],
    pushed: list[str],
    cluster: ClusterOptions,
    *,
    read: LabelReader = tag_only,
) -> Rollout:
    """One rollout for a cluster whose groups run different variants of this release.

    ``definitions[i]`` was pushed as ``pushed[i]`` (REPO:TAG@sha256:...). Needs the live
    object (``--from``): which group runs which variant is read from it. Each pushed
    image is identified by itself (``read``) and must be the variant of its definition.
    """
    if not cluster.source:
        raise RolloutError(
            "--all-variants patches one cluster from the images it runs now: give the live"
            " object with --from (kubectl get raycluster NAME -n NS -o json)"
        )
    if cluster.images:
        raise RolloutError("--all-variants picks each group's image itself; drop --image")
    first = definitions[0]
    view, obj = view_and_object(first, cluster)
    variants = [(d.ray_tag, ref) for d, ref in zip(definitions, pushed, strict=True)]
    images = images_by_variant(
        view,
        variants,
        groups=cluster.groups,
        release_repository=first.target.repository,
    )
    seen: list[Identity] = []
    for definition, ref in zip(definitions, pushed, strict=True):
        found = identified(
            ref, read, cluster, release_repository=definition.target.repository, seen=seen
        )
        if found.variant != definition.ray_tag:
            got = found.variant.short if found.variant else "unknown"
            raise RolloutError(
                f"{ref}: is variant {got} ({found.how}), not {definition.ray_tag.short} as"
                f" pushed for it; push variant {definition.ray_tag.short} again"
            )
    plan = plan_rollout(
        view,
        images,
        groups=tuple(k for k in images if k != HEAD_GROUP),
        restart=cluster.restart,
        force=cluster.force,
        accepted=Accepted(
            images=tuple(str(d.base.image) for d in definitions),
            release_name=ImageRef.parse(pushed[0]).name,
            release_tag=first.target.tag,
        ),
        release_repository=first.target.repository,
    )
    plan = replace(plan, warnings=(*judged(seen, cluster), *plan.warnings))
    return with_canary(plan, cluster, obj)
