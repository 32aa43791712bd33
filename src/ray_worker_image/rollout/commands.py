"""The kubectl commands of a rollout: patch, restarts, race-free waits, per-pod checks.

Every shell block is rendered from ``templates/blocks.sh.j2``. Restart advice per kind
mirrors KubeRay v1.7.0 (``docs/reference/kuberay/FACTS.md`` section 1): a RayCluster
never recreates running pods on an image change unless ``spec.upgradeStrategy.type:
Recreate`` (KubeRay >= 1.6, refused on owned clusters, ``utils/validation.go``); a RayService
with ``upgradeStrategy`` ``NewCluster`` (the default) builds a new cluster from the changed
spec and switches traffic to it (``rayservice_types.go``); a RayJob's cluster is made from
``spec.rayClusterSpec`` when the job starts.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Sequence
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from jinja2 import Template

from ..render import template_env
from .model import ClusterView, GroupView
from .restarts import head_cost, owner_advice, restart_targets

__all__ = ["commands_for", "head_cost", "patch_argv", "restart_targets", "selector"]

if TYPE_CHECKING:
    from .plan import Command, Rollout, Target

TEMPLATES: Final = Path(__file__).parent / "templates"

# Runs inside each pod (``kubectl exec ... -- python -c``). No single quotes, so it
# survives shell quoting unchanged; exits 1 with one line on stderr, no traceback.
POD_CHECK_SNIPPET: Final = """\
import importlib.metadata as md
import sys
try:
    import nats
    version = md.version("nats-py")
except Exception as exc:
    sys.exit(f"nats-py check FAILED: {type(exc).__name__}: {exc}")
print(f"nats-py {version} imports from {nats.__file__} (python {sys.version.split()[0]})")
"""

_CHECK_WHY = (
    "For each pod: prints the image in its spec and the digest the kubelet actually runs,"
    " fails if either is not the pushed image, and runs python inside the Ray container to"
    " prove nats-py imports and print its version."
)


def in_double_quotes(value: object) -> str:
    """``value`` escaped for the inside of a bash double-quoted string (``\\ " $ ` ``).

    Names are validated before they reach a template (:mod:`.names`); this is the second
    wall, so no value read from a cluster file can run as shell code.
    """
    return re.sub(r'([\\"$`])', r"\\\1", str(value))


def as_comment(value: object) -> str:
    """``value`` on one line, for the end of a ``#`` comment (line breaks become spaces)."""
    return " ".join(str(value).splitlines())


@cache
def template(name: str) -> Template:
    env = template_env(TEMPLATES)
    env.globals["q"] = shlex.quote
    env.filters["dq"] = in_double_quotes
    env.filters["comment"] = as_comment
    return env.get_template(name)


def _block(macro: str, *args: Any) -> str:
    return str(getattr(template("blocks.sh.j2").module, macro)(*args))


def selector(view: ClusterView, group: GroupView) -> str:
    """KubeRay's pod labels; a worker selector names node-type=worker, so it never hits the head."""
    if group.is_head:
        return f"ray.io/cluster={view.name},ray.io/node-type=head"
    return f"ray.io/cluster={view.name},ray.io/node-type=worker,ray.io/group={group.name}"


def patch_argv(
    rollout: Rollout | ClusterView,
    *,
    rollback: bool = False,
    patch_file: str | None = None,
    local_file: str | None = None,
    dry_run: bool = False,
    kubectl: str = "kubectl",
) -> list[str]:
    """The ``kubectl patch`` command for the patch (or the rollback).

    ``local_file``: the same patch on ``kubectl patch --local --dry-run=client -f FILE -o
    json`` (no API server: how tests run the very command the script runs).
    ``dry_run``: server-side.
    """
    patch_file = patch_file or ("rollback.json" if rollback else "patch.json")
    tail = ["--type=json", f"--patch-file={patch_file}"]
    if local_file is not None:
        return [
            kubectl,
            "patch",
            "--local",
            "--dry-run=client",
            "-f",
            local_file,
            *tail,
            "-o",
            "json",
        ]
    view = rollout if isinstance(rollout, ClusterView) else rollout.view
    argv = [kubectl, "patch", view.kind.resource, view.name, "-n", view.namespace, *tail]
    return [*argv, "--dry-run=server"] if dry_run else argv


def commands_for(
    plan: Rollout,
    *,
    recreate: bool,
    changed: bool,
    canary: Sequence[Command] = (),
) -> tuple[Command, ...]:
    """The ordered shell blocks of a rollout (see :class:`Command`).

    ``canary``: the canary stage's blocks (:func:`.canary_job.steps`) when ``plan.canary``
    is active: the rollout phase then applies canary.json, restarts and waits for the
    canary group, runs the job, applies the rest and restarts the other worker groups, the
    head last.
    """
    from .plan import Command

    view = plan.view
    out: list[Command] = []

    def patch_step(
        phase: str, rollback: bool, file: str | None = None, dry: bool = True, wet: bool = True
    ) -> None:
        file = file or ("rollback.json" if rollback else "patch.json")
        steps = (
            (
                patch_argv(view, patch_file=file, dry_run=True),
                f"Dry-run {file} on the server",
                "Validates against the live object and the CRD without changing anything: the"
                " `test` ops fail if someone changed the cluster since it was read.",
            ),
            (
                patch_argv(view, patch_file=file),
                f"Apply {file}",
                "Changes only containers[0] of the templates; KubeRay does not restart running"
                " pods for it (run from the directory that holds the JSON files).",
            ),
        )
        for argv, title, why in steps[0 if dry else 1 : 2 if wet else 1]:
            out.append(Command(phase, title, shlex.join(argv), why, tuple(argv)))

    def restart_steps(phase: str, chosen: Iterable[Target]) -> None:
        chosen = tuple(chosen)
        if not recreate:
            for t in chosen:
                argv = [
                    "kubectl",
                    "delete",
                    "pod",
                    "-n",
                    view.namespace,
                    "-l",
                    selector(view, t.group),
                ]
                why = (
                    f"Restarts the head on its template's image: {head_cost(view)}."
                    " On KubeRay >= 1.6 the alternative is spec.upgradeStrategy.type: Recreate,"
                    " which makes KubeRay recreate every pod on a spec change (also a full"
                    " restart, not a rolling one)."
                    if t.group.is_head
                    else "Deletes the group's pods by KubeRay's own labels (node-type=worker, so"
                    " never the head); KubeRay recreates them from the patched template."
                )
                out.append(
                    Command(phase, f"Restart {t.group.label}", shlex.join(argv), why, tuple(argv))
                )
        for t in chosen:
            what = "head" if t.group.is_head else f"group {t.group.name}"
            block = _block(
                "wait",
                view.kind.resource,
                view.name,
                view.namespace,
                selector(view, t.group),
                what,
                t.group.is_head,
                t.group.name,
            )
            out.append(
                Command(
                    phase,
                    f"Wait for {t.group.label} on its template's image",
                    block,
                    "`kubectl wait` resolves its selector once, so it would race the creation of"
                    " the new pods; this polls until the group has as many pods as the live"
                    " object asks for, all created from the template's image, then waits for"
                    " Ready.",
                )
            )

    if changed:
        patch_step("rollout", rollback=False, wet=not canary)
    if view.kind.name != "RayCluster":
        listing = Command(
            "rollout",
            f"List the RayClusters of {view.kind.name} {view.name}",
            shlex.join(
                [
                    "kubectl",
                    "get",
                    "raycluster",
                    "-n",
                    view.namespace,
                    "-l",
                    f"ray.io/originated-from-crd={view.kind.name},ray.io/originated-from-cr-name={view.name}",
                ]
            ),
            owner_advice(view) + ".",
        )
        out.append(listing)
        if changed:
            patch_step("rollback", rollback=True)
            out.append(Command("rollback", listing.title, listing.shell, listing.why))
        return tuple(out)
    if canary and changed:
        canary_steps(plan, canary, restart_steps, out)
    else:
        restart_steps("rollout", plan.restarted)
    pairs = [(selector(view, t.group), t.new_image) for t in plan.targets]
    if plan.restarted:
        done = [(selector(view, t.group), t.new_image) for t in plan.restarted]
        check = _block("check", view.namespace, done, POD_CHECK_SNIPPET)
        out.append(Command("rollout", "Check every restarted pod", check, _CHECK_WHY))
    listing = Command(
        "rollout",
        "List the image of every Ray pod of the cluster",
        _block("listing", view.namespace, f"ray.io/cluster={view.name}"),
        "Pods of groups that were not chosen keep their image; this shows where each stands.",
    )
    out.append(listing)
    check_all = _block("check", view.namespace, pairs, POD_CHECK_SNIPPET)
    out.append(Command("check", "Check every pod of the chosen groups", check_all, _CHECK_WHY))
    if changed:
        patch_step("rollback", rollback=True)
        restart_steps("rollback", [t for t in plan.restarted if t.changed])
        out.append(Command("rollback", listing.title, listing.shell, listing.why))
    return tuple(out)


def canary_steps(
    plan: Rollout,
    blocks: Sequence[Command],
    restart_steps: Callable[[str, Iterable[Target]], None],
    out: list[Command],
) -> None:
    """The rollout phase with a canary: canary.json, the canary group's restart, the job,
    the rest of the patch, the other groups' restarts, the head's last.

    ``blocks``: the canary's own (:func:`.canary_job.steps`): apply canary.json, the job,
    apply the rest."""
    group = plan.canary.group
    first = [t for t in plan.restarted if t.group.name == group and not t.group.is_head]
    workers = [t for t in plan.restarted if not t.group.is_head and t not in first]
    heads = [t for t in plan.restarted if t.group.is_head]
    apply_canary, job, apply_rest = blocks
    out.append(apply_canary)
    restart_steps("rollout", first)
    out.extend((job, apply_rest))
    restart_steps("rollout", workers)
    restart_steps("rollout", heads)
