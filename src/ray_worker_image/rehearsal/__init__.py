"""The rehearsal: `invoke rehearse --from MANIFEST [--image REF]` runs the very rollout.sh a
release publishes against the manifest's cluster started locally, through a kubectl shim.

- :mod:`.verbs` (pure): kubectl argv -> :class:`.verbs.Call`;
- :mod:`.plan` (pure): the live object, the current image, the script's options, the verdict line;
- :mod:`.state`: the run's RayCluster and pods, as files in its temporary folder;
- :mod:`.kube`: KubeRay's reconciler and the kubelet on the local containers;
- :mod:`.shim`: the program put first on PATH as ``kubectl``;
- :mod:`.run`: what the task calls.

What it proves and what it cannot: docs/rehearsal.md.
"""

from .plan import PodView, RehearsalError, RehearsalReport
from .run import Rehearsal, prepare, run_rehearsal
from .verbs import Call, ShimError, parse

__all__ = [
    "Call",
    "PodView",
    "Rehearsal",
    "RehearsalError",
    "RehearsalReport",
    "ShimError",
    "parse",
    "prepare",
    "run_rehearsal",
]
