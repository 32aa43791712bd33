"""`invoke rehearse`, per engine: the rollout.sh a release publishes, run through the kubectl
shim against the manifest's cluster started locally on its current image (the offline
stand-in of ``rayproject/ray:2.49.2``).

- the built image (pushed to the loopback registry, so it has a digest as a release does)
  passes on the fleet's cluster (each engine) and on a two-group cluster (one engine: the
  order is the script's): the canary job reaches JetStream from the canary group's new pods,
  every group ends on the image, every pod imports nats;
- the plain base fails at the canary with ModuleNotFoundError (one line, exit 1) and the
  cluster is back on its old image (one engine, as is Ctrl-C mid-script);
- an image the engine does not have is bad input (exit 2) before anything starts.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image.e2e import DEFAULT_MANIFEST, E2E_LABEL, MISSING_NATS, NodeRuntime
from ray_worker_image.engine import Engine
from ray_worker_image.patching import label_reader
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Destination
from ray_worker_image.rehearsal import RehearsalReport, prepare, run_rehearsal
from ray_worker_image.standin import DEFAULT_STAND_IN_REGISTRY

from ..conftest import ROOT, Built, once_per_run
from ..lanes import shared_lock
from .test_e2e import leftovers

TWO_GROUPS = ROOT / "tests/data/rehearsal/two-groups.yaml"
INVOKE = str(Path(sys.executable).parent / "invoke")

pytestmark = [pytest.mark.e2e, pytest.mark.engine]


@pytest.fixture
def one_cluster_at_a_time() -> Iterator[None]:
    """One miniature Ray cluster on the machine at a time (see test_e2e.py); taken by the
    tests that start one, so a test that starts none never waits for the other lane's."""
    with shared_lock("ray-e2e-cluster"):
        yield


@pytest.fixture(scope="module")
def release(engine: Engine, built: Built, registry: str) -> Iterator[str]:
    """The built image pushed to the loopback registry: ``REPO:TAG@sha256:...`` as a release
    names it, present in the engine. Removed from both after the module."""
    ref = ImageRef(
        registry, f"rehearsal-test/ray-{engine.name}-{uuid.uuid4().hex[:6]}", "2.49.2-nats"
    )
    destination = Destination.of(registry)
    client = destination.repository(ref.repository)
    engine.tag(built.image.image_id, ref)
    try:
        engine.push(ref, auth=None, on_line=lambda _line: None, access=destination.access)
        digest = client.manifest_digest(ref)
        assert digest is not None
        yield f"{ref}@{digest}"
        client.delete(ref.with_digest(digest))
    finally:
        engine.untag(str(ref))


def rehearse(built: Built, manifest: Path, image: str) -> RehearsalReport:
    """What `invoke rehearse --from MANIFEST --image IMAGE` runs (labels read as it reads them)."""
    engine, definition = built.session.engine, built.session.definition
    rehearsal = prepare(
        engine,
        definition,
        str(manifest),
        image,
        read=label_reader(built.session, DEFAULT_STAND_IN_REGISTRY),
        stand_in_registry=DEFAULT_STAND_IN_REGISTRY,
    )
    return run_rehearsal(engine, rehearsal, NodeRuntime.of(definition.base), on_line=print)


def assert_clean(engine: Engine, report: RehearsalReport) -> None:
    assert report.run_id and leftovers(engine, report.run_id) == []


@pytest.mark.parametrize(
    "manifest", [ROOT / DEFAULT_MANIFEST, TWO_GROUPS], ids=["ray-gpu", "two-groups"]
)
@pytest.mark.usefixtures("one_cluster_at_a_time")
def test_rehearsal_passes_with_the_release(
    engine: Engine, built: Built, release: str, manifest: Path
) -> None:
    if manifest == TWO_GROUPS:
        once_per_run(engine, "the order it proves is rollout.sh's; this engine's pods: ray-gpu")
    report = rehearse(built, manifest, release)
    output = "\n".join(report.output)
    assert report.passed, f"{report.failure}\n{output[-4000:]}"
    assert report.exit_code == 0
    assert "canary: OK" in output, output[-3000:]
    assert set(report.templates.values()) == {release}
    groups = {p.group for p in report.pods.values()}
    assert groups == set(report.templates), "every group (the head too) has its pods"
    for name, pod in report.pods.items():
        assert (pod.image, pod.runs_it, pod.imports_nats) == (release, True, True), name
    assert_clean(engine, report)


@pytest.mark.usefixtures("one_cluster_at_a_time")
def test_plain_base_fails_at_the_canary_and_rolls_back(
    engine: Engine, built: Built, base_image: str
) -> None:
    once_per_run(engine, "the rollback is rollout.sh's, and this engine's pods are proven above")
    report = rehearse(built, TWO_GROUPS, base_image)
    assert not report.passed
    assert report.exit_code == 1
    assert report.failure is not None and "\n" not in report.failure
    assert "canary: FAILED" in report.failure and MISSING_NATS in report.failure
    assert report.restored, (report.templates, report.pods)
    assert set(report.templates.values()) == {"rayproject/ray:2.49.2"}
    assert all(p.image == "rayproject/ray:2.49.2" and p.runs_it for p in report.pods.values())
    assert_clean(engine, report)


def test_an_image_the_engine_lacks_is_bad_input(engine: Engine) -> None:
    missing = f"127.0.0.1:5000/no/such:2.49.2-nats@sha256:{'0' * 64}"
    done = subprocess.run(
        [INVOKE, "rehearse", "--engine", engine.name, "--from", str(ROOT / DEFAULT_MANIFEST),
         "--image", missing],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines == [
        f"error: --image {missing}: not in {engine.name}; pull it or push the build there "
        "first (the rehearsal runs local images only)"
    ]
    assert "rehearsal on" not in done.stderr  # nothing started


class Interrupted(KeyboardInterrupt):
    pass


@pytest.mark.usefixtures("one_cluster_at_a_time")
def test_ctrl_c_during_the_script_leaves_nothing(built: Built, release: str) -> None:
    """Ctrl-C while rollout.sh runs (here: as the canary's patch is applied): the script's
    process group is killed, and the containers (recreated pods too), the network and the
    temporary folder are removed."""
    engine, definition = built.session.engine, built.session.definition
    once_per_run(engine, "each engine's clean-up on a signal is proven by test_e2e.py")
    before = set(Path(tempfile.gettempdir()).glob("ray-rehearsal-*"))
    rehearsal = prepare(
        engine,
        definition,
        str(TWO_GROUPS),
        release,
        read=label_reader(built.session, DEFAULT_STAND_IN_REGISTRY),
        stand_in_registry=DEFAULT_STAND_IN_REGISTRY,
    )
    seen: list[str] = []

    def interrupt(line: str) -> None:
        seen.append(line)
        if line.startswith("pod ") and "deleted" in line:  # a pod of the canary was deleted
            raise Interrupted

    labelled_before = engine.labelled(E2E_LABEL)
    with pytest.raises(Interrupted):
        run_rehearsal(engine, rehearsal, NodeRuntime.of(definition.base), on_line=interrupt)
    assert any("deleted" in line for line in seen), "interrupted mid-script"
    assert set(Path(tempfile.gettempdir()).glob("ray-rehearsal-*")) == before
    assert engine.labelled(E2E_LABEL) == labelled_before
    assert not running_scripts()


def running_scripts() -> list[str]:
    """Command lines of processes running a rehearsal's rollout.sh (its temporary folder)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            text = cmdline.read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "ray-rehearsal-" in text and "rollout.sh" in text:
            found.append(text)
    return found
