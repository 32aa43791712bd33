"""Roll a Ray cluster onto the pushed image: the JSON patch, its rollback, the commands.

A package of small modules:

* :mod:`.model`: :class:`ClusterView` / :class:`GroupView`, the kinds and where they keep
  the cluster spec (RayCluster ``spec``, RayJob ``spec.rayClusterSpec``, RayService
  ``spec.rayClusterConfig``);
* :mod:`.read`: files (JSON/YAML, multi-document, ``List``) to one object to a view;
* :mod:`.variants`: which Ray variant an image runs (:func:`classify`) and the refusals;
* :mod:`.identity`: what a new image is, from its labels (else its tag, else ``--variant``);
* :mod:`.plan`: :func:`plan_rollout` (guards, per-group images, rollback);
* :mod:`.commands`: restarts, waits, per-pod checks (Jinja blocks);
* :mod:`.canary` / :mod:`.canary_job`: the canary stage (one worker group first, a Ray job
  reaching NATS JetStream, then the rest); :mod:`.variant_options`: ``--all-variants``;
* :mod:`.output`: JSON/YAML/Helm values, ``rollout.sh`` (Jinja), the files;
* :mod:`.gitops`: ``--write FILE``, the manifest edited in place;
* :mod:`.kustomize` / :mod:`.gitwrite`: ``--write`` through Kustomize ``images:`` entries.

Typical use::

    obj = load_cluster("rc.json")            # kubectl get raycluster NAME -n NS -o json
    view = ClusterView.from_object(obj, source="rc.json")
    plan = plan_rollout(view, {"*": NewImage("reg/swe-fleet/ray:2.49.2-nats@sha256:...",
                                             RayTag.parse("2.49.2"))})
    print(to_json(plan.patch))
"""

from ..errors import RolloutError
from .canary import Canary, CanaryOptions, check_runnable
from .commands import POD_CHECK_SNIPPET, patch_argv, selector
from .files import load_cluster, load_objects, select
from .gitops import ManifestEdit, edit_manifest
from .model import HEAD_GROUP, KINDS, RAY_CONTAINER, ClusterView, GroupView, Kind
from .options import ClusterOptions, definition_variant, new_images, plan_from_options
from .output import (
    FORMATS,
    find_kubectl,
    find_shellcheck,
    helm_values,
    render_shell,
    sample_scripts,
    to_json,
    to_yaml,
    write_outputs,
)
from .plan import (
    ALL_GROUPS,
    RESTART_CHOICES,
    Accepted,
    Command,
    PatchOp,
    Rollout,
    Target,
    plan_rollout,
)
from .read import assumed_view, view_from_object
from .variant_options import images_by_variant, plan_for_variants
from .variants import NewImage, check_group, classify

__all__ = [
    "ALL_GROUPS",
    "FORMATS",
    "HEAD_GROUP",
    "KINDS",
    "POD_CHECK_SNIPPET",
    "RAY_CONTAINER",
    "RESTART_CHOICES",
    "Accepted",
    "Canary",
    "CanaryOptions",
    "ClusterOptions",
    "ClusterView",
    "Command",
    "GroupView",
    "Kind",
    "ManifestEdit",
    "NewImage",
    "PatchOp",
    "Rollout",
    "RolloutError",
    "Target",
    "assumed_view",
    "check_group",
    "check_runnable",
    "classify",
    "definition_variant",
    "edit_manifest",
    "find_kubectl",
    "find_shellcheck",
    "helm_values",
    "images_by_variant",
    "load_cluster",
    "load_objects",
    "new_images",
    "patch_argv",
    "plan_for_variants",
    "plan_from_options",
    "plan_rollout",
    "render_shell",
    "sample_scripts",
    "select",
    "selector",
    "to_json",
    "to_yaml",
    "view_from_object",
    "write_outputs",
]
