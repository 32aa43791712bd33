"""The pipeline against each real engine present: build, in-image tests, push, secrets.

Each test runs once per engine (the `engine` fixture is parametrized) and removes the
images, containers and registry tags it created.
"""

from __future__ import annotations

import dataclasses
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image.context import context_tar
from ray_worker_image.errors import PushError
from ray_worker_image.imagetest import read_report, run_suite
from ray_worker_image.leaks import certificate_needles, scan_image
from ray_worker_image.refs import ImageRef
from ray_worker_image.rollout import POD_CHECK_SNIPPET
from ray_worker_image.session import Options, Session
from ray_worker_image.state import PushRecord, TestRecord
from ray_worker_image.steps import do_build, do_push
from tests.refclient import RefClient

from ..conftest import ROOT, Built, isolated_definition

pytestmark = pytest.mark.engine


def test_built_image_passes_the_in_image_suite(tested: TestRecord, built: Built) -> None:
    assert tested.passed
    assert tested.image_id == built.image.image_id
    assert tested.count >= 10
    assert tested.failed == 0


def test_in_image_suite_fails_on_the_plain_base(
    built: Built, base_image: str, tmp_path: Path
) -> None:
    """The suite can fail: the base has no nats-py, so the import and Ray-task tests must fail."""
    s = built.session
    result = run_suite(s.definition, s.engine, base_image, report=tmp_path / "base.xml")
    assert not result.passed
    assert result.failed > 0 and result.image_id == base_image
    failed = set(read_report(Path(result.report))[1])
    assert any("nats-py" in name for name in failed), failed
    assert any(name.startswith("test_ray_task_imports_nats") for name in failed), failed
    assert any(name.startswith("test_installed_versions_equal_the_lock") for name in failed), failed


def test_image_keeps_base_user_and_labels(built: Built) -> None:
    attrs = built.session.engine.image_attrs(built.image.image_id)
    config = attrs["Config"]
    assert config["User"] == "1000"
    labels = config["Labels"]
    assert labels["org.opencontainers.image.revision"] == built.image.revision
    assert labels["org.opencontainers.image.base.digest"] == built.image.base.digest
    assert labels["org.opencontainers.image.base.name"] == "docker.io/rayproject/ray:2.49.2"
    assert labels["io.github.ray-worker-image.stand-in"] == "true"
    for key in ("source", "created", "version"):
        assert labels[f"org.opencontainers.image.{key}"]


@pytest.fixture
def pushed(built: Built, tested: TestRecord, registry: str) -> Iterator[PushRecord]:
    record = do_push(
        built.session, registry=registry, username=None, skip_tests=False, allow_stand_in=False
    )
    assert record is not None
    yield record
    client = RefClient(registry)
    client.delete(ImageRef(registry, record.repository, digest=record.digest))
    for tag in record.tags:
        built.session.engine.remove_image(f"{registry}/{record.repository}:{tag}")


def test_push_records_the_registry_digest(pushed: PushRecord, registry: str, built: Built) -> None:
    client = RefClient(registry)
    for tag in pushed.tags:
        assert client.manifest_digest(ImageRef(registry, pushed.repository, tag)) == pushed.digest
    labels = client.labels(ImageRef(registry, pushed.repository, pushed.tags[0]))
    assert labels["org.opencontainers.image.revision"] == built.image.revision
    # Derived, not recorded: the registry's HEAD of the immutable tag, config = image id.
    assert built.session.pushed(registry) == pushed


def test_push_refuses_an_untested_image(built: Built, registry: str, tmp_path: Path) -> None:
    # A fresh state dir: the engine knows the build, but no test record is kept for it.
    fresh = Session(
        dataclasses.replace(built.session.options, build_dir=tmp_path),
        definition=built.session.definition,
        engine=built.session.engine,
    )
    with pytest.raises(PushError, match="has no test record"):
        do_push(fresh, registry=registry, username=None, skip_tests=False, allow_stand_in=False)
    ref = ImageRef(
        registry, built.session.definition.target.repository, built.session.definition.target.tag
    )
    assert RefClient(registry).manifest_digest(ref) is None


def _unique_ca(tmp_path: Path) -> bytes:
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            f"/CN=ray-worker-image test CA {uuid.uuid4().hex}",
            "-keyout",
            str(tmp_path / "ca.key"),
            "-out",
            str(tmp_path / "ca.pem"),
        ],
        check=True,
        capture_output=True,
    )
    return (tmp_path / "ca.pem").read_bytes()


def test_ca_bundle_reaches_no_layer_config_or_history(
    engine, definition, registry: str, tmp_path: Path
) -> None:
    """Build with a CA bundle holding a certificate seen nowhere else, then scan the image."""
    unique = _unique_ca(tmp_path)
    host_bundle = Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(host_bundle + b"\n" + unique)  # pip still needs the real trust roots
    needles = certificate_needles(unique)
    options = Options(
        root=ROOT,
        engine=engine.name,
        stand_in=True,
        stand_in_registry=registry,
        ca_cert=str(bundle),
        build_dir=tmp_path / "build",
    )
    session = Session(
        options,
        definition=isolated_definition(definition, f"ca-{uuid.uuid4().hex[:6]}"),
        engine=engine,
    )
    built = do_build(session)
    leak_probe = f"localhost/ray-image-leak-probe:{uuid.uuid4().hex[:8]}"
    try:
        assert scan_image(engine, built.image_id, needles) == []
        # Control: the scanner does find the certificate when an image does carry it.
        probe = context_tar(
            {
                "Dockerfile": f"FROM {built.image_id}\nCOPY ca.pem /tmp/ca.pem\n".encode(),
                "ca.pem": unique,
            }
        )
        probe_id = engine.build(probe, leak_probe, labels={}, on_line=lambda _l: None)
        assert scan_image(engine, probe_id, needles)
    finally:
        engine.remove_image(leak_probe)
        for tag in built.tags:
            engine.remove_image(tag)


def test_rollout_pod_check_runs_inside_the_image(built: Built, base_image: str) -> None:
    """rollout.sh's per-pod check, run as `kubectl exec` would: `python -c SNIPPET` in the image."""
    s = built.session
    python = "python"  # as rollout.sh calls it: resolved through the image's PATH
    with s.engine.container(
        built.image.image_id, ["sleep", "infinity"], name_prefix="pod-check"
    ) as pod:
        code, output = pod.exec([python, "-c", POD_CHECK_SNIPPET])
    assert code == 0, output
    assert output.startswith("nats-py 2.10.0 imports from /home/ray/anaconda3/lib/python3.9/")
    with s.engine.container(base_image, ["sleep", "infinity"], name_prefix="pod-check") as pod:
        code, output = pod.exec([python, "-c", POD_CHECK_SNIPPET])
    assert code == 1
    assert output.strip() == "nats-py check FAILED: ModuleNotFoundError: No module named 'nats'"


def test_auto_takes_a_running_engine() -> None:
    """With Docker up, auto takes it; with only podman, podman; the engine answers."""
    from ray_worker_image import engine as engines

    running = engines.available_engines()
    connected = [e for e in running.values() if isinstance(e, engines.Engine)]
    if not connected:
        pytest.skip(f"no engine available: {running}")
    expected = "docker" if isinstance(running["docker"], engines.Engine) else "podman"
    chosen = engines.connect("auto")
    try:
        assert chosen.name == expected
        assert chosen.ping()
    finally:
        chosen.close()
        for e in connected:
            e.close()
