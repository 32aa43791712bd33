"""The patch step: where the image goes (ClusterOptions) and the rollout planned for it.

The planning itself is the rollout package's (:func:`rollout.plan_from_options`); this
module feeds it what a session knows (the variant's definition, its push in the registry).
"""

from __future__ import annotations

import dataclasses
import sys

from . import console, rollout
from .errors import CheckFailed, UsageError
from .registry import Credentials
from .session import Session

ClusterOptions = rollout.ClusterOptions


def plan_patch(s: Session, image: str | None, cluster: ClusterOptions) -> rollout.Rollout:
    """The rollout for ``cluster``; ``image`` is the default image (the last push)."""
    return rollout.plan_from_options(s.definition, cluster, default_image=image)


def pushed_image_ref(s: Session, registry: str, credentials: Credentials | None = None) -> str:
    """``REPO:TAG@digest`` of this revision's build as ``registry`` serves it (derived:
    engine labels + registry HEAD, :meth:`.session.Session.pushed`). Raises PipelineError."""
    if not registry:
        raise UsageError(
            "no registry to find the pushed image in: pass --registry HOST[:PORT] (or "
            "$RAY_IMAGE_REGISTRY, invoke.yaml ray_image.registry), or give --image REF"
        )
    return s.pushed(registry, credentials=credentials).by_tag_and_digest


def do_patch(
    s: Session,
    cluster: ClusterOptions,
    *,
    fmt: str,
    out: str | None,
    write: str | None = None,
    check: bool = False,
    registry: str = "",
    credentials: Credentials | None = None,
) -> rollout.Rollout:
    """Plan, then print (``fmt``), write files (``out``) or edit a manifest (``write``).

    ``write`` with ``check``: change nothing, exit 1 (CheckFailed) when the file is not
    on the image. Every input is checked before anything is written.
    """
    if fmt not in rollout.FORMATS:
        raise UsageError(f"--format {fmt!r}: use {', '.join(rollout.FORMATS)}")
    if check and not write:
        raise UsageError("--check goes with --write FILE: it checks that file")
    if write and cluster.source not in (None, write):
        raise UsageError("--write FILE reads FILE itself; drop --from")
    if write and (out or fmt != "json"):
        raise UsageError("--write FILE edits the file and prints its diff; drop --out/--format")
    default = None if cluster.images else pushed_image_ref(s, registry, credentials)
    if write:
        cluster = dataclasses.replace(cluster, source=write)
    return emit(plan_patch(s, default, cluster), fmt=fmt, out=out, write=write, check=check)


def do_patch_variants(
    sessions: list[Session],
    cluster: ClusterOptions,
    *,
    fmt: str,
    out: str | None,
    write: str | None = None,
    check: bool = False,
    registry: str = "",
    credentials: Credentials | None = None,
) -> rollout.Rollout:
    """One patch for a cluster whose groups run different variants: each group gets the
    last push of the variant it runs now (read from the live object, ``--from``/``--write``)."""
    if fmt not in rollout.FORMATS:
        raise UsageError(f"--format {fmt!r}: use {', '.join(rollout.FORMATS)}")
    if check and not write:
        raise UsageError("--check goes with --write FILE: it checks that file")
    if write:
        cluster = dataclasses.replace(cluster, source=write)
    pushed = [pushed_image_ref(s, registry, credentials) for s in sessions]
    plan = rollout.plan_for_variants([s.definition for s in sessions], pushed, cluster)
    return emit(plan, fmt=fmt, out=out, write=write, check=check)


def emit(
    plan: rollout.Rollout, *, fmt: str, out: str | None, write: str | None, check: bool
) -> rollout.Rollout:
    """Warnings to stderr; then the manifest edit (``write``), files (``out``) and stdout."""
    for warning in plan.warnings:
        console.warn(warning)
    if write:
        edit = rollout.edit_manifest(write, plan)
        sys.stderr.write(edit.diff)
        if check:
            if edit.changed:
                raise CheckFailed(
                    f"{write}: not on the image ({len(edit.changed)} line(s) differ);"
                    f" run invoke patch --write {write}"
                )
            console.info(f"{write}: already on the image")
        else:
            edit.save()
            console.info(f"{write}: {len(edit.changed)} line(s) changed")
        return plan
    if out:
        for path in rollout.write_outputs(plan, out).values():
            console.info(f"wrote {path}")
    if fmt == "shell":
        sys.stdout.write(rollout.render_shell(plan))
    elif fmt == "helm-values":
        sys.stdout.write(rollout.helm_values(plan))
    else:
        sys.stdout.write({"json": rollout.to_json, "yaml": rollout.to_yaml}[fmt](plan.patch))
    return plan
