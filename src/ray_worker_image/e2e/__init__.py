"""End to end: a Ray cluster of the image, started as KubeRay starts it from a RayCluster
manifest, delivers the fleet's agent results over NATS JetStream.

- :mod:`.plan` (pure): manifest -> the containers KubeRay v1.7 would make;
- :mod:`.cluster`, :mod:`.probes`, :mod:`.hostbin`: start it, wait for it, tear it down;
- :mod:`.consumer`: the orchestrator's side (driver over the Ray Client, JetStream consumer);
- :mod:`.verdict` (pure): exactly once, intact, on the right workers; or the expected failure;
- :mod:`.job`: the agent job itself, run by the image's own Python;
- :mod:`.run`: what `invoke e2e` calls.
"""

from .cluster import E2E_LABEL, Cluster, miniature_cluster
from .consumer import RESULT_SUBJECT, run_agent_job
from .hostbin import E2EError, pip_access
from .plan import ClusterPlan, plan_cluster
from .run import DEFAULT_MANIFEST, E2EReport, NodeRuntime, load_plan, run_e2e
from .verdict import MISSING_NATS, JobResult, judge

__all__ = [
    "DEFAULT_MANIFEST",
    "E2E_LABEL",
    "MISSING_NATS",
    "RESULT_SUBJECT",
    "Cluster",
    "ClusterPlan",
    "E2EError",
    "E2EReport",
    "JobResult",
    "NodeRuntime",
    "judge",
    "load_plan",
    "miniature_cluster",
    "pip_access",
    "plan_cluster",
    "run_agent_job",
    "run_e2e",
]
