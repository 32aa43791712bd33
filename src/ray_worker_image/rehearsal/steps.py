"""`invoke rehearse`'s steps: the variant the cluster runs, the image, the run, the verdict."""

from __future__ import annotations

from pathlib import Path

from .. import console, patching
from ..definition import Definition
from ..e2e import NodeRuntime
from ..errors import CheckFailed
from ..rollout import classify, load_cluster
from ..session import Session
from .plan import RehearsalError, RehearsalReport, check_kind, current_image
from .run import prepare, run_rehearsal


def check_manifest(manifest: str | None) -> str:
    """``--from`` names a readable file (RehearsalError, exit 2, otherwise)."""
    if not manifest:
        raise RehearsalError(
            "--from MANIFEST is required: the RayCluster to rehearse (e.g. deploy/k8s/ray-gpu.yaml)"
        )
    if not Path(manifest).is_file():
        raise RehearsalError(f"--from {manifest}: no such file; give the RayCluster manifest")
    return manifest


def cluster_variant(
    definition: Definition, manifest: str, name: str | None, namespace: str | None
) -> str | None:
    """The definition's variant the manifest's cluster runs now (its image's tag in Ray's
    grammar), or None when it cannot be told (then --variant or the default decides)."""
    obj = load_cluster(manifest, name=name, namespace=namespace)
    check_kind(obj, manifest)
    tag = classify(current_image(obj, manifest), release_repository=None)
    return tag.short if tag is not None and tag.short in definition.names else None


def do_rehearse(
    s: Session,
    manifest: str,
    *,
    image: str | None,
    registry: str,
    restart: str = "all",
    name: str | None = None,
    namespace: str | None = None,
    login_shell: bool = False,
) -> RehearsalReport:
    """Rehearse the rollout of ``image`` (default: this revision's push of the variant in
    ``registry``) on ``manifest``'s cluster. CheckFailed (exit 1) with the script's one-line
    failure when it does not pass; RehearsalError (exit 2) for bad input, nothing started."""
    ref = image or patching.pushed_image_ref(s, registry)
    rehearsal = prepare(
        s.engine,
        s.definition,
        manifest,
        ref,
        read=patching.label_reader(s, registry),
        stand_in_registry=s.options.stand_in_registry,
        restart=restart,
        name=name,
        namespace=namespace,
        login_shell=login_shell,
    )
    plan = rehearsal.plan
    console.step(
        f"rehearsal on {s.engine.name}: RayCluster {plan.namespace}/{plan.name} on "
        f"{rehearsal.current} -> {ref} (rollout.sh --restart {restart}, kubectl shim)"
    )
    for note in rehearsal.notes:
        console.info(f"note: {note}")
    report = run_rehearsal(s.engine, rehearsal, NodeRuntime.of(s.definition.base))
    for name, pod in sorted(report.pods.items()):
        runs = "runs it" if pod.runs_it else "does NOT run it"
        console.info(
            f"{name}: {pod.image} ({runs}; imports nats: {'yes' if pod.imports_nats else 'no'})"
        )
    console.info(
        f"cluster start {report.startup_s:.1f}s; rollout.sh {report.script_s:.1f}s "
        f"(exit {report.exit_code}); total {report.total_s:.1f}s"
    )
    if not report.passed:
        back = (
            f"the cluster is back on {rehearsal.current}"
            if report.restored
            else f"the cluster is NOT back on {rehearsal.current}: run rollout.sh rollback"
        )
        raise CheckFailed(f"rehearsal failed: {report.failure}; {back}")
    console.step("rehearsal passed: every group on the new image, every pod imports nats")
    return report
