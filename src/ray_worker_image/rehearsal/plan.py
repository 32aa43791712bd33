"""What a rehearsal runs, decided before anything starts (pure).

- :func:`live_object`: the RayCluster as the local "API server" holds it: the manifest with
  each group's replicas as the miniature cluster started them (capped, said in the plan's
  notes) and its namespace filled in;
- :func:`current_image`: the one image the manifest's Ray containers run (a rehearsal starts
  the cluster on it);
- :func:`rollout_options`: how the project renders the script a release publishes for this
  cluster (no ``--from``: it reads the live object when it runs), every worker group moved;
- :func:`failure_line`: the one line that says why rollout.sh failed.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..e2e import ClusterPlan
from ..errors import UsageError
from ..rollout import ClusterOptions

RESTARTS = ("workers", "all")  # what the canary stage rehearses (KubeRay never restarts pods)
FAILURE_MARKERS = ("canary: FAILED", "FAILED", "Error", "error:", "rollout.sh:", "timed out")


class RehearsalError(UsageError):
    """The manifest or an image cannot be rehearsed (one line, exit 2, nothing started)."""


def check_kind(obj: Mapping[str, Any], source: str) -> None:
    """Only a RayCluster has pods rollout.sh restarts (RehearsalError otherwise)."""
    if obj.get("kind") != "RayCluster":
        raise RehearsalError(
            f"{source}: holds a {obj.get('kind')}; KubeRay replaces the pods of a RayJob or "
            "RayService itself, so rollout.sh restarts nothing to rehearse: give a RayCluster"
        )


def _templates(obj: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    spec = obj.get("spec") or {}
    out = [("headGroupSpec", spec.get("headGroupSpec") or {})]
    for i, group in enumerate(spec.get("workerGroupSpecs") or []):
        out.append((f"workerGroupSpecs[{i}] ({group.get('groupName')})", group))
    return out


def current_image(obj: Mapping[str, Any], source: str) -> str:
    """The image every Ray container of ``obj`` runs; RehearsalError when they differ."""
    images = {}
    for where, group in _templates(obj):
        containers = ((group.get("template") or {}).get("spec") or {}).get("containers") or [{}]
        images[where] = str(containers[0].get("image") or "")
    if len(set(images.values())) != 1 or not next(iter(images.values())):
        listed = ", ".join(f"{k}: {v or '(none)'}" for k, v in images.items())
        raise RehearsalError(
            f"{source}: the rehearsal starts the cluster on one current image, but its Ray "
            f"containers run {listed}; give every group the image it runs now"
        )
    return next(iter(images.values()))


def live_object(obj: Mapping[str, Any], plan: ClusterPlan) -> dict[str, Any]:
    """``obj`` with each worker group's replicas as started (numOfHosts folded in) and
    ``metadata.namespace`` set: what ``kubectl get`` serves during the rehearsal."""
    live = copy.deepcopy(dict(obj))
    live.setdefault("metadata", {})["namespace"] = plan.namespace
    started = Counter(w.group for w in plan.workers)
    for group in live["spec"].get("workerGroupSpecs") or []:
        name = str(group.get("groupName"))
        if group.get("suspend") is True:
            continue
        group["replicas"] = started[name]
        group.pop("numOfHosts", None)
        group["minReplicas"] = min(int(group.get("minReplicas", 0) or 0), started[name])
    return live


def check_restart(restart: str) -> str:
    """``--restart`` is one the canary stage runs with (RehearsalError otherwise)."""
    if restart not in RESTARTS:
        raise RehearsalError(
            f"--restart {restart!r}: the rehearsal restarts pods as rollout.sh does; use "
            f"{' or '.join(RESTARTS)}"
        )
    return restart


def rollout_options(
    plan: ClusterPlan, obj: Mapping[str, Any], image: str, restart: str, variant: str
) -> ClusterOptions:
    """``invoke patch --name N --namespace NS --groups <every worker group> --restart R
    --image REF --variant V --allow-stand-in``: the apply-time script, as the release
    workflow makes it (``variant``: what an image that cannot say it is, is)."""
    check_restart(restart)
    groups = tuple(
        str(g.get("groupName")) for g in (obj.get("spec") or {}).get("workerGroupSpecs") or []
    )
    return ClusterOptions(
        name=plan.name,
        namespace=plan.namespace,
        groups=groups,
        restart=restart,
        images=(image,),
        allow_stand_in=True,  # a rehearsal never reaches a real cluster
        declared_variant=variant,
    )


def failure_line(output: Sequence[str]) -> str:
    """The line that says why the script failed: the canary's verdict, else the last line
    that reads like an error, else the last line."""
    lines = [line.strip() for line in output if line.strip()]
    for marker in FAILURE_MARKERS:
        found = [line for line in lines if marker in line]
        if found:
            return found[-1]
    return lines[-1] if lines else "(no output)"


@dataclass(frozen=True)
class PodView:
    """A pod at the end: its spec's image, whether its container runs exactly that image,
    and whether ``import nats`` works in it."""

    group: str
    image: str
    runs_it: bool
    imports_nats: bool


@dataclass
class RehearsalReport:
    """``passed``: exit 0, every template and pod on the new image, running it, importing
    nats. ``restored``: every template and pod on the cluster's old image (the rollback)."""

    passed: bool
    exit_code: int
    failure: str | None
    templates: dict[str, str] = field(default_factory=dict)  # group -> template image
    pods: dict[str, PodView] = field(default_factory=dict)
    restored: bool = False
    output: list[str] = field(default_factory=list)
    run_id: str = ""
    network: str = ""
    startup_s: float = 0.0
    script_s: float = 0.0
    total_s: float = 0.0


def on_image(report: RehearsalReport, image: str, *, nats: bool = False) -> bool:
    """Every template and every pod on ``image`` (running it; importing nats if ``nats``)."""
    pods = report.pods.values()
    return (
        bool(report.pods)
        and set(report.templates.values()) == {image}
        and all(p.image == image and p.runs_it and (p.imports_nats or not nats) for p in pods)
    )
