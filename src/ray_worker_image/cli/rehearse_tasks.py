"""The rehearsal task: the rollout a release publishes, run against the manifest's cluster
started locally (:mod:`ray_worker_image.rehearsal`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context

from .. import lazy, preflight
from .options import COMMON, REGISTRY, Given
from .task import task

if TYPE_CHECKING:  # imported when the task runs (lazy.py)
    from ..rehearsal import plan as rehearsal_plan
    from ..rehearsal import steps as rehearsal_steps
else:
    rehearsal_plan = lazy.module("ray_worker_image.rehearsal.plan")
    rehearsal_steps = lazy.module("ray_worker_image.rehearsal.steps")

NO_STAND_IN = tuple(o for o in COMMON if o.name != "stand_in")


@task(
    clone=True,
    shared=NO_STAND_IN + REGISTRY,
    help={
        "from_": "RayCluster manifest to start locally as `invoke e2e` does (required)",
        "image": "the new image, REPO:TAG@sha256:... present in the engine (default: this "
        "revision's push of the cluster's variant in --registry)",
        "name": "RayCluster name when the file holds several",
        "namespace": "RayCluster namespace when the file holds several of one name",
        "restart": "what rollout.sh restarts: all (default; every pod ends on the image) or "
        "workers",
        "login_shell": "start Ray as an operator with ENABLE_LOGIN_SHELL=true (bash -lc)",
    },
)
def rehearse(
    c: Context,
    given: Given,
    from_: str | None = None,
    image: str | None = None,
    name: str | None = None,
    namespace: str | None = None,
    restart: str = "all",
    login_shell: bool = False,
) -> None:
    """Run the rollout.sh a release publishes against the manifest's cluster, started locally.

    The cluster starts on its current image (replicas capped at 2) with NATS; rollout.sh runs
    with a kubectl shim first on PATH that serves get/patch/delete pod/wait/exec from the
    local containers (a deleted pod is recreated from the patched template, as KubeRay does)
    and with the local NATS URL for the canary. Passes when the script exits 0, every group
    ends on the image and every pod imports nats; exits 1 with the script's failure line.
    """
    manifest = rehearsal_steps.check_manifest(from_)
    preflight.check_image(image)
    rehearsal_plan.check_restart(restart)
    variant = given.values.get("variant") or rehearsal_steps.cluster_variant(
        given.definition(), manifest, name, namespace
    )
    with given.session(stand_in=False, variant=variant) as s:
        rehearsal_steps.do_rehearse(
            s, manifest, image=image, registry=given.registry(), restart=restart, name=name,
            namespace=namespace, login_shell=login_shell,
        )  # fmt: skip
