"""From command-line options and the image definition to a :class:`Rollout`.

``invoke patch``, ``release`` and ``report`` all go through :func:`plan_from_options`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..definition import ImageDefinition
from ..errors import PipelineError, RolloutError
from ..kuberay.crd import HEAD_GROUP, KINDS
from ..raytag import RayTag
from ..refs import ImageRef
from .canary import CanaryOptions, carries_nats_url, plan_canary
from .canary_job import steps as canary_steps
from .commands import commands_for, patch_argv
from .files import load_cluster, load_objects, select
from .identity import Identity, LabelReader, check_stand_in, identify, tag_only
from .model import ClusterView
from .plan import ALL_GROUPS, Accepted, Rollout
from .planner import plan_rollout, require_digest
from .read import assumed_view, view_from_object
from .variants import NewImage


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
    canary: CanaryOptions = field(
        default_factory=CanaryOptions
    )  # --canary, --no-canary, --canary-subject, --nats-url


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


def view_and_object(
    definition: ImageDefinition, cluster: ClusterOptions
) -> tuple[ClusterView, Any]:
    """The live object's view (``--from``) and the object, else one assumed from the options
    and None."""
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
        return view_from_object(obj, source=source, namespace=cluster.namespace), obj
    view = assumed_view(
        cluster.name or "",
        cluster.namespace or "",
        cluster.groups or (),
        current_image=cluster.current_image or str(definition.base.image),
        kind=cluster.kind or "RayCluster",
    )
    return view, None


def with_canary(plan: Rollout, cluster: ClusterOptions, obj: Any) -> Rollout:
    """``plan`` with its canary stage (:func:`.canary.plan_canary`) and the commands in the
    canary's order; ``obj``: the object read (None: none, the script checks NATS_URL)."""
    group = cluster.canary.group
    nats = None
    if obj is not None:
        workers = [t for t in plan.restarted if not t.group.is_head]
        group = group or (workers[0].group.name if workers else None)
        nats = carries_nats_url(obj, plan.view.kind.spec_pointer, group) if group else False
    canary = plan_canary(plan, cluster.canary, nats_env=nats)
    plan = replace(plan, canary=canary)
    if not canary.active:
        return plan
    blocks = canary_steps(plan, patch_argv(plan.view, patch_file="canary.json"))
    commands = commands_for(plan, recreate=False, changed=bool(plan.patch), canary=blocks)
    return replace(plan, commands=commands)


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
    view, obj = view_and_object(definition, cluster)  # the file first: it needs no network
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
    plan = replace(plan, warnings=(*judged(seen, cluster), *plan.warnings))
    return with_canary(plan, cluster, obj)
