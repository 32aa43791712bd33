"""The canary stage of a rollout: which group moves first, why the stage is skipped, its patches.

Pure: :func:`plan_canary` takes a planned :class:`Rollout` and the ``--canary`` options and
returns a :class:`Canary` (a group and its share of the patch, or a one-line reason to skip).
KubeRay facts (``docs/reference/kuberay/FACTS.md`` section 1): only a RayCluster without
``upgradeStrategy: Recreate`` has its pods replaced by the script; a RayService, a RayJob
or a Recreate cluster has KubeRay replace them itself, so there is no group to move first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from ..errors import RolloutError

if TYPE_CHECKING:
    from .plan import PatchOp, Rollout

# nats-py's schemes (``nats/aio/client.py`` ``_setup_server_pool``); several URLs: commas.
_URL: Final = re.compile(
    r"^(nats|tls|ws|wss)://[A-Za-z0-9._\[\]:-]+(,(nats|tls|ws|wss)://[A-Za-z0-9._\[\]:-]+)*$"
)
# A NATS subject to publish to: dot-separated tokens, no wildcards (``*``, ``>``), no spaces.
_SUBJECT: Final = re.compile(r"^[A-Za-z0-9_$-]+(\.[A-Za-z0-9_$-]+)*$")
FIX_NATS: Final = (
    "pass --nats-url nats://HOST:4222, set NATS_URL in the group's containers[0].env,"
    " or skip the stage with --no-canary"
)


@dataclass(frozen=True)
class CanaryOptions:
    """``--canary GROUP``, ``--no-canary``, ``--canary-subject SUBJECT``, ``--nats-url URL``."""

    group: str | None = None
    enabled: bool = True
    subject: str | None = None
    nats_url: str | None = None


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


def check_nats_url(url: str, what: str = "--nats-url") -> str:
    """``url`` when it is nats://, tls://, ws:// or wss:// HOST[:PORT] (commas for several).

    Credentials (``user:pass@``) are refused: the URL is written into rollout.sh and passed
    on a command line; they belong in the pods' ``NATS_URL`` (a Secret). RolloutError.
    """
    if "@" in url:
        raise RolloutError(
            f"{what}: the URL carries credentials (user:pass@); never put them in rollout.sh:"
            " set NATS_URL from a Secret in the group's containers[0].env and drop --nats-url"
        )
    if not _URL.match(url):
        raise RolloutError(
            f"{what} {url!r}: use nats://HOST:PORT (or tls://, ws://, wss://; commas for several)"
        )
    return url


def check_subject(subject: str) -> str:
    """``subject`` when it is a plain NATS subject (no wildcard, no space); else RolloutError."""
    if not _SUBJECT.match(subject):
        raise RolloutError(
            f"--canary-subject {subject!r}: give one NATS subject to publish to, dot-separated"
            " tokens without wildcards or spaces (e.g. canary.rollout)"
        )
    return subject


def carries_nats_url(obj: Any, spec_pointer: str, group: str) -> bool:
    """Whether ``group``'s containers[0] in ``obj`` has an env var ``NATS_URL`` (value or
    ``valueFrom``). ``spec_pointer``: where the kind keeps the cluster spec (``/spec``...)."""
    spec: Any = obj
    for part in spec_pointer.strip("/").split("/"):
        spec = spec.get(part) if isinstance(spec, Mapping) else None
    groups = spec.get("workerGroupSpecs") if isinstance(spec, Mapping) else None
    for g in groups if isinstance(groups, Sequence) else ():
        if isinstance(g, Mapping) and g.get("groupName") == group:
            containers = ((g.get("template") or {}).get("spec") or {}).get("containers") or []
            env = containers[0].get("env") if containers else None
            return any(
                isinstance(e, Mapping) and e.get("name") == "NATS_URL"
                for e in (env if isinstance(env, Sequence) else ())
            )
    return False


def skip_reason(plan: Rollout, options: CanaryOptions) -> str | None:
    """Why this rollout has no canary stage (one line), or None."""
    view = plan.view
    if not options.enabled:
        return "--no-canary"
    if view.kind.name != "RayCluster":
        return f"a {view.kind.name}'s pods are replaced by KubeRay itself, not by this script"
    if view.upgrade_strategy == "Recreate":
        return "spec.upgradeStrategy.type is Recreate: KubeRay replaces every pod itself"
    if view.suspended:
        return "spec.suspend is true: no pod runs"
    if plan.restart in ("head", "none"):
        return f"--restart {plan.restart} restarts no worker group"
    if not [t for t in plan.restarted if not t.group.is_head]:
        return "no worker group is moved"
    return None


def split_patch(
    patch: Sequence[PatchOp], pointer: str, groups: Sequence[str]
) -> tuple[list[PatchOp], list[PatchOp]]:
    """(ops of the template at ``pointer`` plus the shared guards, every other op).

    An op belongs to a template when its path is under one of ``groups`` (all templates'
    pointers); the rest (the ``rayVersion`` test) guard both halves.
    """

    def under(path: str, where: str) -> bool:
        return path.startswith(where + "/")

    shared = [op for op in patch if not any(under(str(op["path"]), g) for g in groups)]
    mine = [op for op in patch if under(str(op["path"]), pointer)]
    rest = [op for op in patch if op not in mine]
    return [*shared, *mine], rest


def plan_canary(plan: Rollout, options: CanaryOptions, *, nats_env: bool | None = None) -> Canary:
    """The canary stage of ``plan``.

    ``nats_env``: whether the canary group's Ray container carries ``NATS_URL`` (None: not
    known, the object was not read; the script checks when it runs). Raises RolloutError
    (one line) for a bad ``--canary``, ``--canary-subject`` or ``--nats-url``.
    """
    url = check_nats_url(options.nats_url) if options.nats_url else ""
    subject = check_subject(options.subject) if options.subject else ""
    reason = skip_reason(plan, options)
    if reason is not None:
        return Canary(skip=reason)
    workers = [t for t in plan.restarted if not t.group.is_head]
    if options.group is None:
        chosen = workers[0]
    else:
        found = [t for t in workers if t.group.name == options.group]
        if not found:
            moved = ", ".join(t.group.name for t in workers)
            raise RolloutError(
                f"--canary {options.group!r}: not a worker group this rollout restarts"
                f" (it restarts: {moved}); pick one of them or fix --groups"
            )
        chosen = found[0]
    refusal = None
    if not url and nats_env is False:
        refusal = (
            f"canary refused: no NATS URL for worker group {chosen.group.name!r}"
            f" ({plan.view.source}: no NATS_URL in {chosen.group.field}.env); {FIX_NATS}"
        )
    pointers = [t.group.pointer for t in plan.targets]
    patch, after = split_patch(plan.patch, chosen.group.pointer, pointers)
    rollback, _ = split_patch(plan.rollback, chosen.group.pointer, pointers)
    return Canary(
        group=chosen.group.name,
        nats_url=url,
        subject=subject,
        refusal=refusal,
        patch=tuple(patch),
        rollback=tuple(rollback),
        after=tuple(after),
    )


def check_runnable(plan: Rollout) -> Rollout:
    """``plan``, unless its rollout.sh would be refused (no NATS URL for the canary): then
    RolloutError with the refusal's one line. For callers that render the script later
    (``invoke release``), so they refuse before any slow step."""
    if plan.canary.refusal:
        raise RolloutError(plan.canary.refusal)
    return plan
