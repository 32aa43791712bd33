"""``invoke status``: the fleet table (issue 21 point 3). Needs the clone: the release it
compares with is this revision's (its git revision names the release tag)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from invoke.context import Context

from .. import lazy
from .options import ACCESS, COMMON, REGISTRY, Given
from .task import task

if TYPE_CHECKING:  # imported when the task runs (lazy.py)
    from .. import status as fleet
else:
    fleet = lazy.module("ray_worker_image.status")

DEFINITION = tuple(o for o in COMMON if o.name == "definition")


@task(
    clone=True,
    iterable=["from_"],
    shared=DEFINITION + REGISTRY + ACCESS,
    help={
        "from_": "read Ray objects from this file instead of the live cluster (repeat it; - is "
        "stdin; JSON or YAML, multi-document or a List: kubectl get rayclusters,rayjobs,"
        "rayservices -A -o json)",
        "context": "kubectl context of the live cluster (default: kubectl's current context, "
        "$KUBECONFIG)",
        "json": "print a JSON list, one object per group, instead of the table",
        "registry": "HOST[:PORT] holding this revision's releases (default: $RAY_IMAGE_REGISTRY, "
        "invoke.yaml)",
    },
)
def status(
    c: Context,
    given: Given,
    from_: list[str] | None = None,
    context: str | None = None,
    json: bool = False,
) -> None:
    """One row per Ray group of the fleet: its image, variant, release, nats-py and action.

    Reads every RayCluster, RayJob and RayService (kubectl get rayclusters,rayjobs,rayservices
    -A -o json, or --from FILE) and compares each head and worker group with this revision's
    release of its variant in --registry. Actions: up to date; roll out REF; invoke release
    --variant V, then roll out; invoke add-variant V, then release and roll out; unknown image.
    Exits 1 when any group needs action or runs an unknown image.
    """
    with given.sessions(all_variants=True) as opened:
        fleet.do_status(
            opened, sources=tuple(from_ or ()), context=context, registry=given.registry(),
            credentials=given.credentials(), as_json=json,
        )  # fmt: skip
