"""Plan a rollout: per-group images, variant checks, guards, the patch and its rollback.

Pure: :func:`plan_rollout` takes a :class:`ClusterView` and the new image(s) and returns a
:class:`Rollout`; it raises ``RolloutError`` (one line) on any refusal.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from ..errors import RolloutError
from ..raytag import RayTag
from .canary import Canary
from .model import HEAD_GROUP, ClusterView, GroupView
from .read import parse_image
from .variants import NewImage, check_group

PatchOp = dict[str, Any]
RESTART_CHOICES: Final = ("workers", "head", "all", "none")
ALL_GROUPS: Final = "*"  # key of the images mapping that applies to every template
FIXED_PULL_POLICY: Final = "IfNotPresent"


@dataclass(frozen=True)
class Accepted:
    """Current images rollout.sh accepts when it reads the live object at apply time.

    ``images``: references by meaning (``docker.io/rayproject/ray:2.49.2``), with any digest.
    ``release_name`` + ``release_tag``: earlier releases of this image (``REG/swe-fleet/ray``
    with ``2.49.2-nats``, ``2.49.2-nats-g<rev>`` or a digest alone).
    """

    images: tuple[str, ...] = ()
    release_name: str | None = None
    release_tag: str | None = None


@dataclass(frozen=True)
class Target:
    """One template the rollout points at a new image."""

    group: GroupView
    old_image: str
    new_image: str
    fix_pull_policy: bool = False  # imagePullPolicy Never -> IfNotPresent

    @property
    def changed(self) -> bool:
        return self.old_image != self.new_image or self.fix_pull_policy


@dataclass(frozen=True)
class Command:
    """One copy-pasteable shell block (bash), in the order it must run."""

    phase: str  # "rollout" (default run), "check" (per-pod check), "rollback"
    title: str
    shell: str
    why: str
    argv: tuple[str, ...] | None = None  # the same command as argv, when it is a single one


@dataclass(frozen=True)
class Rollout:
    """The plan: patch, its inverse, commands and warnings. Render with ``output``."""

    view: ClusterView
    image: str  # the image of the head (every template's, unless per-group images differ)
    images: Mapping[str, NewImage]  # group name (HEAD_GROUP for the head) -> new image
    restart: str
    targets: tuple[Target, ...]  # the head first, then the chosen groups in spec order
    restarted: tuple[Target, ...]  # pods replaced and waited for
    patch: list[PatchOp]
    rollback: list[PatchOp]
    commands: tuple[Command, ...]
    warnings: tuple[str, ...]
    ray_version: str | None  # the Ray version the images run (guarded at apply time)
    accepted: Accepted = Accepted()
    force: bool = False
    canary: Canary = field(
        default_factory=Canary
    )  # the canary stage (none unless planned: .canary.plan_canary)


def normalise_images(
    image: str | NewImage | Mapping[str, NewImage],
    *,
    expected_ray_version: str | None = None,
    variant: RayTag | None = None,
) -> dict[str, NewImage]:
    """``image`` as a mapping group -> NewImage (``ALL_GROUPS`` for the default)."""
    if isinstance(image, str):
        return {ALL_GROUPS: NewImage(image, variant, expected_ray_version)}
    if isinstance(image, NewImage):
        return {ALL_GROUPS: image}
    return {("headgroup" if k == "head" else k): v for k, v in image.items()}


def require_digest(image: str, what: str = "--image") -> None:
    """RolloutError unless ``image`` parses and carries a digest (what every pod must run)."""
    if not parse_image(image, what).digest:
        raise RolloutError(
            f"{what} {image!r} has no digest; pass the pushed reference"
            " REPO[:TAG]@sha256:<digest> so every pod runs exactly the image that was tested"
        )


def plan_rollout(
    view: ClusterView,
    image: str | NewImage | Mapping[str, NewImage],
    *,
    expected_ray_version: str | None = None,
    variant: RayTag | None = None,
    groups: Sequence[str] | None = None,
    restart: str = "workers",
    force: bool = False,
    accepted: Accepted = Accepted(),
    release_repository: str | None = None,
) -> Rollout:
    """Plan moving the head and the chosen worker groups to their new images.

    ``image``: one reference for every template (``expected_ray_version`` / ``variant``
    describe it), a :class:`NewImage`, or a mapping group name -> NewImage (``"*"`` for
    the rest, ``"headgroup"``/``"head"`` for the head). Every reference needs a digest.
    ``groups``: worker group names; None = all; empty = the head only. Groups named in the
    mapping are chosen too. ``restart``: one of RESTART_CHOICES. ``force``: variant
    mismatches and owned clusters become loud warnings. ``accepted``: what rollout.sh may
    find at apply time when ``view.live`` is False. Raises RolloutError (one line).
    """
    images = normalise_images(image, expected_ray_version=expected_ray_version, variant=variant)
    if restart not in RESTART_CHOICES:
        raise RolloutError(f"--restart {restart!r} is not one of {', '.join(RESTART_CHOICES)}")
    for key, new in images.items():
        require_digest(new.ref, f"--image {key}=" if key != ALL_GROUPS else "--image")
    for key in images:
        if key not in (ALL_GROUPS, HEAD_GROUP):
            view.group(key)
    versions = {v for v in (n.version for n in images.values()) if v}
    if len(versions) > 1:
        raise RolloutError(
            f"--image: the images run different Ray versions ({', '.join(sorted(versions))});"
            " Ray needs one version on every node of a cluster"
        )
    want_version = next(iter(versions), None)
    warnings = [*view.notes]

    warnings += _ownership(view, force)
    named = set(images) - {ALL_GROUPS, HEAD_GROUP}
    if groups is None and ALL_GROUPS not in images:
        chosen = tuple(g for g in view.groups if g.name in named)
    elif groups is None:
        chosen = view.groups
    else:
        wanted = {view.group(n).name for n in groups} | named
        chosen = tuple(g for g in view.groups if g.name in wanted)
    targets = []
    for g in (view.head, *chosen):
        found = images.get(g.name) or images.get(ALL_GROUPS)
        if found is None:
            raise RolloutError(
                f"--image: no image for {g.label}; give --image REF for every group"
                f" or --image {g.name}=REF"
            )
        new = found
        if view.live:
            warnings += check_group(
                view, g, new, force=force, release_repository=release_repository
            )
        never = g.pull_policy == "Never"
        if never:
            warnings.append(
                f"{g.label}: containers[0].imagePullPolicy is Never, so new pods would fail with"
                f" ErrImageNeverPull; the patch sets it to {FIXED_PULL_POLICY}"
                " (rollback restores it)"
            )
        targets.append(Target(g, g.image, new.ref, fix_pull_policy=never))
    # After the per-group variant checks, whose refusals name the variant to build.
    ray_version = view.ray_version
    if ray_version is not None and want_version and ray_version.strip() != want_version:
        raise RolloutError(
            f"{view.source}: {view.kind.spec_path}.rayVersion is {ray_version!r} but the image"
            f" runs Ray {want_version}; build a variant on rayproject/ray:{ray_version},"
            f" or set rayVersion to {want_version!r} if the cluster really moves to that Ray"
        )
    if ray_version is None and view.live and want_version:
        warnings.append(
            f"{view.source}: {view.kind.spec_path}.rayVersion is not set; KubeRay uses it to"
            f" pick features, set it to {want_version!r}"
        )
    if not view.live:
        ray_version = want_version  # nothing was read: guard on the image's version
    for t in targets:
        if not t.changed:
            warnings.append(f"{t.group.label} already uses {t.new_image}: no patch op for it")
        for where in t.group.same_image:
            warnings.append(
                f"{t.group.label}: {where} also runs {t.old_image} and keeps it"
                " (only containers[0], the Ray container, is patched)"
            )
    changed = [t for t in targets if t.changed]
    head_guard = (
        [_op("test", f"{view.kind.spec_pointer}/rayVersion", ray_version)]
        if ray_version is not None
        else []
    )
    # Without the live object the current image is a guess that may be spelled otherwise
    # (short name, docker.io/, index.docker.io/, by digest, an earlier release): the patch
    # tests only what cannot differ and leaves image equality to rollout.sh, which reads
    # the live object when it runs.
    guard = view.live
    patch = [
        *head_guard,
        *(op for t in changed for op in _ops(t, rollback=False, guard_image=guard)),
    ]
    rollback = [*head_guard, *(op for t in changed for op in _ops(t, rollback=True))]
    if not changed:
        patch, rollback = [], []
        warnings.append("nothing to patch: every chosen template already uses its image")

    from .commands import commands_for, restart_targets

    restarted, recreate = restart_targets(view, tuple(targets), restart, bool(changed), warnings)
    plan = Rollout(
        view=view,
        image=targets[0].new_image,
        images=images,
        restart=restart,
        targets=tuple(targets),
        restarted=restarted,
        patch=patch,
        rollback=rollback,
        commands=(),
        warnings=(),
        ray_version=want_version,
        accepted=accepted,
        force=force,
    )
    commands = commands_for(plan, recreate=recreate, changed=bool(changed))
    from dataclasses import replace

    return replace(plan, commands=commands, warnings=tuple(warnings))


def _ownership(view: ClusterView, force: bool) -> list[str]:
    out = []
    if view.owner and view.kind.name == "RayCluster":
        owner_kind, _, owner_name = view.owner.partition("/")
        message = (
            f"{view.title} is owned by {view.owner}, which puts its own spec back; patch the"
            f" owner instead: kubectl get {owner_kind.lower()} {owner_name} -n {view.namespace}"
            " -o json > owner.json && invoke patch --from owner.json"
        )
        if not force:
            raise RolloutError(message + " (or pass --force)")
        out.append(f"FORCED (--force): {message}")
    for manager in view.managers:
        out.append(
            f"{view.title} is managed by {manager}: its next sync or upgrade puts the old image"
            " back; change the file it comes from instead (a manifest in git: invoke patch"
            " --write FILE; the KubeRay ray-cluster Helm chart: invoke patch --format"
            " helm-values)"
        )
    return out


def _op(op: str, path: str, value: Any) -> PatchOp:
    return {"op": op, "path": path, "value": value}


def _ops(target: Target, *, rollback: bool, guard_image: bool = True) -> list[PatchOp]:
    g = target.group
    current, new = (
        (target.new_image, target.old_image)
        if rollback
        else (
            target.old_image,
            target.new_image,
        )
    )
    ops = []
    if g.index is not None:
        ops.append(_op("test", f"{g.pointer}/groupName", g.name))
    if g.container is not None:
        ops.append(_op("test", f"{g.container_pointer}/name", g.container))
    if guard_image:
        ops.append(_op("test", f"{g.container_pointer}/image", current))
    if target.fix_pull_policy:
        policies = ("Never", FIXED_PULL_POLICY)
        was, now = (policies[1], policies[0]) if rollback else policies
        ops.append(_op("test", f"{g.container_pointer}/imagePullPolicy", was))
        ops.append(_op("replace", f"{g.container_pointer}/imagePullPolicy", now))
    if current != new:
        ops.append(_op("replace", f"{g.container_pointer}/image", new))
    return ops
