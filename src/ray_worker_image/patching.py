"""The patch step: where the image goes (ClusterOptions) and the rollout planned for it.

The planning itself is the rollout's (:func:`rollout.plan_rollout`); this module only feeds
it what a session knows (the variant's base image and Ray version).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass

from . import console, rollout
from .errors import PipelineError
from .session import Session
from .state import PushRecord


@dataclass(frozen=True)
class ClusterOptions:
    """Where the patch goes: a live object (--from), or name/namespace/groups without one."""

    source: str | None = None  # path or "-"
    name: str | None = None
    namespace: str | None = None
    groups: tuple[str, ...] | None = None  # None: every worker group (with --from)
    restart: str = "workers"
    current_image: str | None = None  # without --from: what the cluster runs today


def plan_patch(s: Session, image: str, cluster: ClusterOptions) -> rollout.Rollout:
    """The rollout of ``image`` (REPO:TAG@sha256:...) onto the cluster; refuses mismatches."""
    if cluster.source:
        obj = rollout.load_cluster(cluster.source, name=cluster.name)
        view = rollout.ClusterView.from_object(obj, source=cluster.source)
    else:
        view = rollout.ClusterView.assumed(
            cluster.name or "",
            cluster.namespace or "",
            cluster.groups or (),
            current_image=cluster.current_image or str(s.definition.base.image),
        )
    return rollout.plan_rollout(
        view,
        image,
        expected_ray_version=s.definition.base.ray_version,
        groups=cluster.groups,
        restart=cluster.restart,
    )


def pushed_image_ref(s: Session) -> str:
    record = s.state.load("push", PushRecord, hint="run `invoke push` first, or pass --image")
    return record.by_tag_and_digest


def do_patch(
    s: Session, cluster: ClusterOptions, *, image: str | None, fmt: str, out: str | None
) -> rollout.Rollout:
    renderers = {"json": rollout.to_json, "yaml": rollout.to_yaml}
    if fmt not in (*renderers, "shell"):
        raise PipelineError(f"--format {fmt!r}: use json, yaml or shell")
    plan = plan_patch(s, image or pushed_image_ref(s), cluster)
    for warning in plan.warnings:
        console.warn(warning)
    if out:
        for path in rollout.write_outputs(plan, out).values():
            console.info(f"wrote {path}")
    sys.stdout.write(rollout.render_shell(plan) if fmt == "shell" else renderers[fmt](plan.patch))
    return plan
