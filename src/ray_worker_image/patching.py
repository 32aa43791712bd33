"""The patch step: where the image goes (ClusterOptions) and the rollout planned for it.

The planning itself is the rollout package's (:func:`rollout.plan_from_options`); this
module feeds it what a session knows (the variant's definition, its push in the registry).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from typing import Final

from . import console, rollout
from .errors import CheckFailed, UsageError
from .refs import ImageRef
from .registry import Credentials, Destination
from .rollout import ClusterOptions, gitwrite
from .rollout.identity import LabelReader
from .session import Session

LABEL_TIMEOUT: Final = 10.0  # seconds: the one timeout of reading an image's labels


def quick_destination(
    s: Session, registry: str, credentials: Credentials | None = None
) -> Destination:
    """``registry`` as ``s`` reaches it, for a read whose failure has an answer of its own
    (an image's labels, a release's digest): one attempt, one :data:`LABEL_TIMEOUT`."""
    return Destination(s.registry_access(registry), credentials, timeout=LABEL_TIMEOUT, attempts=1)


def label_reader(
    s: Session, registry: str = "", credentials: Credentials | None = None
) -> LabelReader:
    """Reads an image's config labels through the registry seam (:mod:`.registry`).

    Same settings as ``push``: ``--registry-ca`` / ``--insecure-registry``
    (:meth:`.session.Session.registry_access`) and the credentials, which are sent only to
    ``registry`` (the one they are for, never to another host). One attempt, one timeout
    (:data:`LABEL_TIMEOUT`): an unreadable image falls back to its tag at once. Returns
    None for 404 or a manifest without a config; raises PipelineError when unreadable.
    """

    def read(ref: ImageRef) -> Mapping[str, str] | None:
        mine = credentials if ref.registry == registry else None
        config = (
            quick_destination(s, ref.registry, mine).repository(ref.repository).image_config(ref)
        )
        if config is None:
            return None
        return dict((config.get("config") or {}).get("Labels") or {})

    return read


def plan_patch(
    s: Session, image: str | None, cluster: ClusterOptions, read: LabelReader | None = None
) -> rollout.Rollout:
    """The rollout for ``cluster``; ``image`` is the default image (the last push).

    ``read``: how the new images' labels are read (default: :func:`label_reader`
    without credentials)."""
    reader = read or label_reader(s)
    return rollout.plan_from_options(s.definition, cluster, default_image=image, read=reader)


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
    read = label_reader(s, registry, credentials)
    if write:
        return write_or_check(write, check, lambda c: plan_patch(s, default, c, read), cluster)
    return emit(plan_patch(s, default, cluster, read), fmt=fmt, out=out)


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
    pushed = [pushed_image_ref(s, registry, credentials) for s in sessions]
    read = label_reader(sessions[0], registry, credentials)
    definitions = [s.definition for s in sessions]

    def plan(c: ClusterOptions) -> rollout.Rollout:
        return rollout.plan_for_variants(definitions, pushed, c, read=read)

    if write:
        return write_or_check(write, check, plan, cluster)
    return emit(plan(cluster), fmt=fmt, out=out)


def write_or_check(
    write: str,
    check: bool,
    planner: Callable[[ClusterOptions], rollout.Rollout],
    cluster: ClusterOptions,
) -> rollout.Rollout:
    """``--write PATH`` (a manifest or a kustomization folder) or ``--check``: the file that
    decides the image is edited (:mod:`.rollout.gitwrite`), its diff on stderr; with
    ``check`` nothing changes and CheckFailed (exit 1) says what is not on the image."""
    written = gitwrite.plan_write(write, cluster, planner)
    for warning in written.plan.warnings:
        console.warn(warning)
    for edit in written.edits:
        sys.stderr.write(edit.diff)
    if check:
        differ = sum(len(edit.changed) for edit in written.edits)
        if differ:
            raise CheckFailed(
                f"{written.where}: not on the image ({differ} line(s) differ);"
                f" run invoke patch --write {write}"
            )
        console.info(f"{written.where}: already on the image")
        return written.plan
    saved: list[rollout.ManifestEdit] = []
    try:
        for edit in written.edits:
            edit.save()
            saved.append(edit)
        gitwrite.verify(written, write, cluster, planner)
    except BaseException:
        for edit in saved:  # put every file back as it was
            rollout.ManifestEdit(edit.path, edit.text, edit.original, [(0, "", "")]).save()
        raise
    for edit in written.edits:
        console.info(f"{edit.path}: {len(edit.changed)} line(s) changed")
    return written.plan


def emit(plan: rollout.Rollout, *, fmt: str, out: str | None) -> rollout.Rollout:
    """Warnings to stderr; then files (``out``) and stdout."""
    for warning in plan.warnings:
        console.warn(warning)
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
