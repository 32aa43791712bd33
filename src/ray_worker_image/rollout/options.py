"""From command-line options and the image definition to a :class:`Rollout`.

``invoke patch``, ``release`` and ``report`` all go through :func:`plan_from_options`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from ..definition import ImageDefinition
from ..errors import PipelineError, RolloutError
from ..kuberay.crd import HEAD_GROUP, KINDS
from ..raytag import RayTag
from ..refs import ImageRef
from .files import load_cluster, load_objects, select
from .identity import Identity, LabelReader, check_stand_in, identify, tag_only
from .model import ClusterView
from .plan import ALL_GROUPS, Accepted, Rollout
from .planner import plan_rollout, require_digest
from .read import assumed_view, view_from_object
from .variants import NewImage, classify


@dataclass(frozen=True)
class ClusterOptions:
    """Where the patch goes: a live object (--from), or name/namespace/groups without one."""

    source: str | None = None  # path or "-"
    name: str | None = None
    namespace: str | None = None
    groups: tuple[str, ...] | None = None  # None: every worker group (with --from)
    restart: str = "workers"
    current_image: str | None = None  # without --from: what the cluster runs today
    images: tuple[str, ...] = ()  # --image values: "REF" or "GROUP=REF"
    force: bool = False
    kind: str | None = None  # RayCluster (default), RayJob or RayService
    allow_stand_in: bool = False  # --allow-stand-in: a stand-in build may go into the cluster
    declared_variant: str | None = None  # --variant given: what an unreadable image is
    rendered: tuple[str, str] | None = None  # (label, YAML): read this instead of source


def declared(cluster: ClusterOptions) -> RayTag | None:
    """The variant ``--variant`` declares for images that cannot tell it themselves."""
    if cluster.declared_variant is None:
        return None
    try:
        return RayTag.parse(cluster.declared_variant)
    except PipelineError as exc:
        raise RolloutError(f"--variant: {exc}") from None


def identified(
    ref: str,
    read: LabelReader,
    cluster: ClusterOptions,
    *,
    release_repository: str | None,
    seen: list[Identity],
) -> Identity:
    """:func:`.identity.identify` with ``cluster``'s ``--variant``; appended to ``seen``."""
    found = identify(ref, read, release_repository=release_repository, declared=declared(cluster))
    seen.append(found)
    return found


def judged(seen: list[Identity], cluster: ClusterOptions) -> list[str]:
    """The stand-in refusal (after the cluster's own checks, which name the file or flag
    to fix first), then what to say about each image: tag or --variant used, stand-in."""
    notes = []
    for found in seen:
        check_stand_in(found, allow_stand_in=cluster.allow_stand_in)
        if found.stand_in:
            notes.append(
                f"{found.ref} was built on the offline stand-in; going on (--allow-stand-in)"
            )
        if found.note:
            notes.append(found.note)
    return notes


def new_images(
    definition: ImageDefinition,
    raw: tuple[str, ...],
    default: str | None,
    *,
    read: LabelReader = tag_only,
    cluster: ClusterOptions | None = None,
    seen: list[Identity] | None = None,
) -> dict[str, NewImage]:
    """``--image`` values (``REF`` or ``GROUP=REF``, ``head=REF`` for the head) as a mapping.

    Each image is identified by itself (:mod:`.identity`: its labels through ``read``, else
    its tag, else ``cluster.declared_variant``); each identity is appended to ``seen``
    (:func:`judged` refuses stand-in builds and says what was used).
    ``default`` (the last push) applies to every group when no plain ``--image`` is given
    and no ``GROUP=REF`` either. Raises RolloutError (one line).
    """
    options = cluster or ClusterOptions()
    found_so_far = seen if seen is not None else []
    release_repository = definition.target.repository

    def new(ref: str, what: str) -> NewImage:
        try:
            ImageRef.parse(ref, what=what)
        except PipelineError as exc:
            raise RolloutError(str(exc)) from None
        require_digest(ref, what)  # before the registry is asked anything
        found = identified(
            ref, read, options, release_repository=release_repository, seen=found_so_far
        )
        return NewImage(ref, found.variant)

    out: dict[str, NewImage] = {}
    for item in raw:
        group, eq, ref = item.partition("=")
        if not eq:
            group, ref = ALL_GROUPS, item
        elif not group or not ref:
            raise RolloutError(f"--image {item!r}: use REF or GROUP=REF (head=REF for the head)")
        key = HEAD_GROUP if group == "head" else group
        if key in out:
            raise RolloutError(f"--image gives {group!r} twice; give each group one image")
        out[key] = new(ref, f"--image {group}=" if eq else "--image")  # parse adds the REF
    if not out:
        if default is None:
            raise RolloutError("no image: run `invoke push` first, or pass --image REF@sha256:...")
        out[ALL_GROUPS] = new(default, "the pushed image")
    return out


def view_from_options(definition: ImageDefinition, cluster: ClusterOptions) -> ClusterView:
    """The live object's view (``--from``), else one assumed from the options."""
    if cluster.source and cluster.current_image:
        raise RolloutError(
            "--current-image is for patches made without --from; the object given with --from"
            " says what runs, drop --current-image"
        )
    if cluster.kind is not None and cluster.kind not in KINDS:
        raise RolloutError(f"--kind {cluster.kind!r}: use one of {', '.join(KINDS)}")
    if cluster.rendered is not None:  # a kustomization's render, or a file with its images:
        source, text = cluster.rendered
        obj = select(
            load_objects("-", text), source, name=cluster.name, namespace=cluster.namespace
        )
    elif cluster.source:
        obj = load_cluster(cluster.source, name=cluster.name, namespace=cluster.namespace)
        source = "<stdin>" if cluster.source == "-" else cluster.source
    if cluster.rendered is not None or cluster.source:
        if cluster.kind is not None and obj.get("kind") != cluster.kind:
            raise RolloutError(
                f"{source}: holds a {obj.get('kind')}, not a {cluster.kind}; drop --kind"
            )
        return view_from_object(obj, source=source, namespace=cluster.namespace)
    return assumed_view(
        cluster.name or "",
        cluster.namespace or "",
        cluster.groups or (),
        current_image=cluster.current_image or str(definition.base.image),
        kind=cluster.kind or "RayCluster",
    )


def plan_from_options(
    definition: ImageDefinition,
    cluster: ClusterOptions,
    *,
    default_image: str | None,
    read: LabelReader = tag_only,
) -> Rollout:
    """The rollout for these options; ``default_image`` is the last push (or None).

    ``read``: the new images' labels (:data:`.identity.LabelReader`); the default reads
    nothing, so only tags (or ``--variant``) can tell a variant.
    """
    view = view_from_options(definition, cluster)  # the file first: it needs no network
    seen: list[Identity] = []
    images = new_images(
        definition, cluster.images, default_image, read=read, cluster=cluster, seen=seen
    )
    release = next(iter(images.values())).ref
    accepted = Accepted(
        images=(str(definition.base.image),),
        release_name=ImageRef.parse(release).name,
        release_tag=definition.target.tag,
    )
    plan = plan_rollout(
        view,
        images,
        groups=cluster.groups,
        restart=cluster.restart,
        force=cluster.force,
        accepted=accepted,
        release_repository=definition.target.repository,
    )
    return replace(plan, warnings=(*judged(seen, cluster), *plan.warnings))


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
    view = view_from_options(first, cluster)
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
    return replace(plan, warnings=(*judged(seen, cluster), *plan.warnings))
