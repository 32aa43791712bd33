"""What `invoke rehearse` calls: check every input, start the cluster, run rollout.sh, judge.

:func:`prepare` checks the manifest, the cluster's current image and the new image (each a
one-line RehearsalError, exit 2, before anything starts) and renders the script.
:func:`run_rehearsal` starts the manifest's cluster on its current image exactly as `invoke
e2e` does (:func:`..e2e.miniature_cluster`), puts the kubectl shim first on PATH, runs
``bash rollout.sh`` with the local NATS URL (``ROLLOUT_NATS_URL``), and then looks at the
cluster itself: the object's templates, each pod's image and whether it imports nats.
Containers, the network and the temporary folder are removed however it ends.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import console
from ..e2e import E2E_LABEL, ClusterPlan, NodeRuntime, load_plan, miniature_cluster
from ..e2e.cluster import Cluster
from ..engine import Engine
from ..errors import PipelineError
from ..kuberay.crd import HEAD_GROUP
from ..refs import ImageRef
from ..registry import Destination, RegistryAccess
from ..rollout import find_kubectl, load_cluster, plan_from_options, render_shell
from ..rollout.identity import LabelReader
from .kube import grace_period, groups, imports_nats, local_image
from .plan import (
    PodView,
    RehearsalError,
    RehearsalReport,
    check_kind,
    current_image,
    failure_line,
    live_object,
    on_image,
    rollout_options,
)
from .state import STATE_ENV, Config, PodRecord, State

SCRIPT_TIMEOUT_S = 900.0


@dataclass(frozen=True)
class Rehearsal:
    """Everything a run needs, checked: ``local_current`` is what the engine runs for the
    manifest's ``current`` image (itself, or its offline stand-in)."""

    source: str
    plan: ClusterPlan
    live: dict[str, Any]
    current: str
    local_current: str
    new_image: str
    local_new: str  # what the engine runs for new_image (itself, or the image id it names)
    script: str
    notes: tuple[str, ...] = ()
    login_shell: bool = False


def present(engine: Engine, image: str) -> str | None:
    """What the engine runs for ``image``: the reference itself when the engine knows it;
    for ``REPO[:TAG]@sha256:...`` it does not (podman keeps no digest of a push), the local
    image whose id is the config digest the registry serves for that manifest. None: absent
    (or the registry cannot say). Raises nothing for a bad reference: ImageRef.parse does."""
    ref = ImageRef.parse(image, what="--image")
    if engine.image_exists(image):
        return image
    if ref.digest is None:
        return None
    try:
        destination = Destination(RegistryAccess(ref.registry), timeout=10.0, attempts=1)
        config = destination.repository(ref.repository).config_digest(ref)
    except PipelineError:
        return None
    return config if config and engine.image_exists(config) else None


def local_ref(engine: Engine, image: str, stand_in_registry: str) -> tuple[str, str | None]:
    """What the engine runs for ``image``: (reference, note). The image itself when present;
    else its offline stand-in on the loopback registry (same repository and tag, located by
    the registry's digest). RehearsalError when neither is there: nothing is pulled."""
    if engine.image_exists(image):
        return image, None
    ref = ImageRef.parse(image)
    if ref.digest is None:
        stand_in = ref.with_registry(stand_in_registry)
        digest = (
            Destination.of(stand_in_registry)
            .repository(stand_in.repository)
            .manifest_digest(stand_in)
        )
        for candidate in (str(stand_in), f"{stand_in.name}@{digest}" if digest else ""):
            if candidate and engine.image_exists(candidate):
                return candidate, f"{image} runs as its offline stand-in {candidate}"
    raise RehearsalError(
        f"{image}: not in {engine.name} (nor its stand-in on {stand_in_registry}); pull it, "
        "or make the stand-in with `invoke standin --variant V`"
    )


def prepare(
    engine: Engine,
    definition: Any,
    manifest: str,
    image: str,
    *,
    read: LabelReader,
    stand_in_registry: str,
    restart: str = "all",
    name: str | None = None,
    namespace: str | None = None,
    login_shell: bool = False,
) -> Rehearsal:
    """The checked inputs and the rendered rollout.sh. Raises a one-line UsageError."""
    obj = load_cluster(manifest, name=name, namespace=namespace)
    check_kind(obj, manifest)
    plan = load_plan(manifest, name=name, namespace=namespace, login_shell=login_shell)
    current = current_image(obj, manifest)
    options = rollout_options(plan, obj, image, restart, definition.variant)
    local_new = present(engine, image)
    if local_new is None:
        raise RehearsalError(
            f"--image {image}: not in {engine.name}; pull it or push the build there first "
            "(the rehearsal runs local images only)"
        )
    local_current, note = local_ref(engine, current, stand_in_registry)
    rollout = plan_from_options(definition, options, default_image=None, read=read)
    notes = (*plan.notes, *((note,) if note else ()), *rollout.warnings)
    return Rehearsal(
        source=manifest,
        plan=plan,
        live=live_object(obj, plan),
        current=current,
        local_current=local_current,
        new_image=image,
        local_new=local_new,
        script=render_shell(rollout),
        notes=notes,
        login_shell=login_shell,
    )


def first_pods(cluster: Cluster, rehearsal: Rehearsal) -> list[PodRecord]:
    """The pods of the cluster as started: their names are their RAY_CLOUD_INSTANCE_ID."""
    templates = {g: t for g, _, t, _ in groups(rehearsal.live)}

    def record(node: Any, box: str, hostname: str) -> PodRecord:
        containers = [dict(c) for c in templates[node.group]["spec"]["containers"]]
        name = node.node.env_dict()["RAY_CLOUD_INSTANCE_ID"]
        node_type = "head" if node.group == HEAD_GROUP else "worker"
        grace = grace_period(templates[node.group])
        return PodRecord(name, node.group, node_type, hostname, containers, box=box, grace_s=grace)

    plan = rehearsal.plan
    pods = [record(plan.head, cluster.head.name, f"{cluster.network}-head")]
    for node, box in zip(plan.workers, cluster.workers, strict=True):
        pods.append(record(node, box.name, f"{cluster.network}-{node.role}"))
    return pods


def write_shim(folder: Path) -> Path:
    """``folder/bin/kubectl``: this interpreter running :mod:`.shim`."""
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "kubectl"
    python = shlex.quote(sys.executable)
    shim.write_text(f'#!/bin/sh\nexec {python} -m ray_worker_image.rehearsal.shim "$@"\n')
    shim.chmod(0o755)
    return bin_dir


def run_script(
    script: Path, env: dict[str, str], on_line: Callable[[str], None]
) -> tuple[int, list[str]]:
    """``bash rollout.sh`` (stdout and stderr as one stream, each line passed on); killed
    with its process group on any exception (Ctrl-C)."""
    lines: list[str] = []
    proc = subprocess.Popen(
        ["bash", str(script)],
        cwd=script.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            on_line(line.rstrip("\n"))
        return proc.wait(timeout=SCRIPT_TIMEOUT_S), lines
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()


def observe(engine: Engine, state: State, report: RehearsalReport) -> None:
    """The cluster as it ended: each template's image; each pod's spec image, whether its
    container really runs that image (the engine's image id) and imports nats. A worker's Ray
    container that exited since the script's last call (its raylet leaves when the head is
    restarted) is started again first, as the kubelet would (:func:`.kube.restart_exited`)."""
    rc, config = state.cluster, state.config
    report.templates = {g: str(t["spec"]["containers"][0]["image"]) for g, _, t, _ in groups(rc)}
    for pod in state.pods:
        box = engine.find_container(pod.box) if pod.box else None
        runs = nats = False
        if box is not None:
            local = local_image(engine, config, pod.image)
            wanted = engine.image_attrs(local).get("Id") if local else None
            runs = wanted is not None and box.attrs().get("Image") == wanted
            nats = imports_nats(engine, pod)
        report.pods[pod.name] = PodView(pod.group, pod.image, runs, nats)


def run_rehearsal(
    engine: Engine,
    rehearsal: Rehearsal,
    runtime: NodeRuntime,
    *,
    on_line: Callable[[str], None] = console.info,
    env: dict[str, str] | None = None,
) -> RehearsalReport:
    """Start, roll out, observe, tear down. ``env``: extra variables for rollout.sh."""
    started = time.monotonic()
    run_id = uuid.uuid4().hex[:8]
    folder = Path(tempfile.mkdtemp(prefix="ray-rehearsal-"))
    kubectl = find_kubectl()
    if kubectl is None:
        raise RehearsalError("no kubectl: the shim renders jsonpath and patches with it")
    report = RehearsalReport(passed=False, exit_code=-1, failure=None, run_id=run_id)
    try:
        with miniature_cluster(
            engine, rehearsal.local_current, rehearsal.plan, python=runtime.python, run_id=run_id
        ) as cluster:
            report.network, report.startup_s = cluster.network, cluster.startup_s
            state = State(folder)
            state.save_config(
                Config(
                    engine=engine.name,
                    network=cluster.network,
                    label=f"{E2E_LABEL}={run_id}",
                    python=runtime.python,
                    source=rehearsal.source,
                    login_shell=rehearsal.login_shell,
                    head_aliases=(rehearsal.plan.head_service, rehearsal.plan.head_fqdn),
                    local_images={
                        rehearsal.current: rehearsal.local_current,
                        rehearsal.new_image: rehearsal.local_new,
                    },
                    kubectl=kubectl,
                )
            )
            state.save_cluster(rehearsal.live)
            state.save_pods(first_pods(cluster, rehearsal))
            out = folder / "rollout"
            out.mkdir()
            script = out / "rollout.sh"
            script.write_text(rehearsal.script, encoding="utf-8")
            bin_dir = write_shim(folder)
            script_env = {
                **os.environ,
                "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
                STATE_ENV: str(folder),
                "ROLLOUT_NATS_URL": cluster.nats_url,
                "ROLLOUT_POLL_SECONDS": "1",
                "ROLLOUT_TIMEOUT_SECONDS": "300",
                **(env or {}),
            }
            began = time.monotonic()
            report.exit_code, report.output = run_script(script, script_env, on_line)
            report.script_s = time.monotonic() - began
            with state.locked():
                observe(engine, state, report)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        report.total_s = time.monotonic() - started
    report.passed = report.exit_code == 0 and on_image(report, rehearsal.new_image, nats=True)
    report.restored = on_image(report, rehearsal.current)
    if not report.passed:
        report.failure = failure_line(report.output)
    return report
