"""What happens to running pods after the patch, per kind, and which pods to restart.

Mirrors KubeRay v1.7.0 (``docs/reference/kuberay/FACTS.md`` section 1): a RayCluster
never recreates running pods on an image change unless ``spec.upgradeStrategy.type:
Recreate`` (KubeRay >= 1.6, refused on owned clusters, ``utils/validation.go``); a RayService
with ``upgradeStrategy`` ``NewCluster`` (the default) builds a new cluster from the changed
spec and switches traffic to it (``rayservice_types.go``); a RayJob's cluster is made from
``spec.rayClusterSpec`` when the job starts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .model import ClusterView

if TYPE_CHECKING:
    from .plan import Target


def head_cost(view: ClusterView) -> str:
    if view.gcs_fault_tolerance:
        return (
            "GCS fault tolerance is configured, so actors, jobs and placement groups are"
            " restored from Redis, but running tasks and the head's object store are lost"
        )
    return (
        "without GCS fault tolerance all cluster state is lost (running jobs, actors,"
        " placement groups, the object store)"
    )


def owner_advice(view: ClusterView) -> str:
    """What happens after the patch for a RayJob or RayService (nothing is deleted by hand)."""
    if view.kind.name == "RayService":
        strategy = view.upgrade_strategy or "NewCluster (the default)"
        if view.upgrade_strategy == "None":
            return (
                "RayService spec.upgradeStrategy.type is None: KubeRay does not upgrade; the"
                " running cluster keeps its image until the RayService is recreated"
            )
        return (
            f"RayService spec.upgradeStrategy.type is {strategy}: KubeRay builds a new"
            " RayCluster from the patched spec, switches Serve traffic to it once it is ready"
            " and deletes the old one (about twice the compute meanwhile); no pod is deleted"
            " by hand. Rollback does the same in reverse"
        )
    return (
        "RayJob: the cluster is made from spec.rayClusterSpec when the job starts, so a"
        " running job keeps its cluster and image; the next run of this RayJob (delete and"
        " re-create it, or resubmit) uses the new image. spec.upgradeStrategy does not apply"
    )


def restart_targets(
    view: ClusterView,
    targets: tuple[Target, ...],
    restart: str,
    changed: bool,
    warnings: list[str],
) -> tuple[tuple[Target, ...], bool]:
    """Which targets' pods get deleted; and whether KubeRay recreates pods itself."""
    head, workers = targets[0], targets[1:]
    if view.kind.name != "RayCluster":
        if changed:
            warnings.append(owner_advice(view) + f" (--restart {restart} has no effect)")
        return (), False
    recreate = view.upgrade_strategy == "Recreate"
    if view.suspended:
        warnings.append("spec.suspend is true: no pods run, so nothing is restarted or checked")
        return (), False
    if recreate:
        if changed:
            warnings.append(
                "spec.upgradeStrategy.type is Recreate: KubeRay (>= 1.6) deletes and recreates"
                f" every pod itself after the patch, {head_cost(view)}; the commands only wait"
                f" (--restart {restart} has no effect)"
            )
        return (targets if changed else ()), True
    chosen: tuple[Target, ...] = {
        "workers": workers,
        "head": (head,),
        "all": targets,
        "none": (),
    }[restart]
    if restart == "workers" and not workers:
        warnings.append("--restart workers: there are no chosen worker groups, nothing restarts")
    if restart != "none" and head not in chosen and head.changed:
        warnings.append(
            f"the head pod keeps running {head.old_image} until it is deleted"
            " (--restart head or all); deleting it restarts the cluster:"
            f" {head_cost(view)}"
            + ("; the autoscaler sidecar follows the head" if view.autoscaler else "")
        )
    for t in workers:
        if restart != "none" and t not in chosen and t.changed:
            warnings.append(
                f"{t.group.label} keeps running {t.old_image} until its pods are deleted"
                " (--restart workers or all)"
            )
    if restart == "none" and changed:
        warnings.append(
            "--restart none: running pods keep their old image until they are deleted;"
            f" restarting the head later costs this: {head_cost(view)}"
        )
    if view.autoscaler:
        warnings.append(
            "in-tree autoscaling is on: the wait reads each group's replicas from the live"
            " object on every poll, since the autoscaler may change them"
            + (
                ""
                if view.autoscaler_image
                else "; the autoscaler sidecar has no autoscalerOptions.image, so it runs the"
                " head's containers[0] image from the next head pod on"
            )
        )
    return chosen, False
