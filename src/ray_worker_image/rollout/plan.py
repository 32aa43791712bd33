"""A rollout plan's values: :class:`Rollout` (the patch, its rollback, the commands) and its parts.

Made by :func:`.planner.plan_rollout`; rendered by :mod:`.output`, :mod:`.commands` and
:mod:`.gitops`. Values only, no logic beyond properties.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from .model import ClusterView, GroupView
from .variants import NewImage

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
class Canary:
    """The stage in one rollout.sh: ``group`` moves first, or ``skip`` says why not.

    ``nats_url``: given on the command line ("" = the pods' ``NATS_URL``); ``refusal``: the
    one-line reason the script must not be rendered (no NATS URL known, the object was read);
    ``patch``/``rollback``: the canary group's ops (with the shared ``test`` guards);
    ``after``: every other op of the patch, applied once the job passed.
    """

    group: str | None = None
    skip: str | None = None
    nats_url: str = ""
    subject: str = ""
    refusal: str | None = None
    patch: tuple[PatchOp, ...] = ()
    rollback: tuple[PatchOp, ...] = ()
    after: tuple[PatchOp, ...] = ()

    @property
    def active(self) -> bool:
        return self.group is not None


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
