"""Services outlive the folder they were started from (issue 18 point 4).

Each engine's API service is started with scripts/start-service.sh (what setup-host.sh and
self-check.sh use) from a temporary folder that is then deleted; a container must still
start through that API. The services here are this test's own (their own socket, state
and log folders), never the shared ones other tests use; each is stopped after.
The control case starts podman's the old way (in the folder, `nohup ... &`) and shows
the failure this guards against: "[conmon:e] Failed to get working directory".
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

ROOT = Path(__file__).resolve().parents[2]
START = ROOT / "scripts/start-service.sh"
IMAGE = "localhost/ray-worker-image/self-check:bookworm"  # kept by scripts/self-check.sh
ROOTFS = Path("/var/lib/ray-worker-image/self-check-rootfs.tar")

pytestmark = [
    pytest.mark.engine,
    pytest.mark.skipif(os.geteuid() != 0, reason="starts engine services: needs root"),
]


def _wait(sock: Path, seconds: float = 30, log: Path | None = None) -> docker.DockerClient:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if sock.exists():
            try:
                client = docker.DockerClient(base_url=f"unix://{sock}", timeout=60)
                client.ping()
                return client
            except Exception:
                pass
        time.sleep(0.2)
    tail = log.read_text(errors="replace").splitlines()[-15:] if log and log.exists() else []
    raise AssertionError(f"no API on {sock} after {seconds} s; log tail:\n" + "\n".join(tail))


def _stop(pattern: str) -> None:
    """Stop the one service whose whole command line is ``pattern`` (this test's own)."""
    found = subprocess.run(["pgrep", "-x", "-f", pattern], capture_output=True, text=True)
    for pid in found.stdout.split():
        os.kill(int(pid), signal.SIGTERM)


def _unmount_below(folder: Path) -> None:
    """Lazily unmount whatever a service left mounted below ``folder`` (deepest first)."""
    mounts = Path("/proc/self/mounts").read_text().splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{folder}/")]
    for point in sorted(points, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)


@pytest.fixture
def place(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def _run_true(client: docker.DockerClient) -> bytes:
    """``echo alive`` in a container removed afterwards, also when a broken service created
    it but could not start it (then re-raised)."""
    name = f"rwi-services-{uuid.uuid4().hex[:8]}"
    try:
        return client.containers.run(IMAGE, ["echo", "alive"], remove=True, name=name)
    except docker.errors.APIError:
        subprocess.run(["podman", "rm", "-f", name], capture_output=True, check=False)
        raise


def _left_created() -> list[str]:
    """Containers of the check image a failed start left behind (`Created`)."""
    found = subprocess.run(
        ["podman", "ps", "-a", "--filter", f"ancestor={IMAGE}", "--filter", "status=created",
         "--format", "{{.Names}}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    return found.stdout.split()


def _podman(place: Path, *, old_way: bool) -> docker.DockerClient:
    sock, folder = place / "podman.sock", place / "started-here"
    folder.mkdir()
    argv = ["podman", "system", "service", "--time=0", f"unix://{sock}"]
    if old_way:  # what setup-host.sh/self-check.sh did before
        with open(place / "podman.log", "ab") as log:
            subprocess.Popen(argv, cwd=folder, stdout=log, stderr=log, start_new_session=False)
    else:
        subprocess.run([str(START), str(place / "podman.log"), *argv], cwd=folder, check=True)
    client = _wait(sock, log=place / "podman.log")
    shutil.rmtree(folder)  # the clone a user deletes after Quickstart
    return client


@pytest.mark.xdist_group("podman")
def test_podman_api_starts_containers_after_its_folder_is_deleted(place: Path) -> None:
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.skip(f"{IMAGE} missing: run scripts/self-check.sh once")
    pattern = f"podman system service --time=0 unix://{place / 'podman.sock'}"
    try:
        client = _podman(place, old_way=False)
        assert _run_true(client).strip() == b"alive"
        service = subprocess.run(["pgrep", "-x", "-f", pattern], capture_output=True, text=True)
        pid = service.stdout.split()[0]
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert os.getsid(int(pid)) == int(pid)  # its own session
    finally:
        _stop(pattern)


@pytest.mark.xdist_group("podman")
def test_control_the_old_way_breaks_when_the_folder_goes(place: Path) -> None:
    """The failure the start above avoids (the test would be empty if this passed)."""
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.skip(f"{IMAGE} missing: run scripts/self-check.sh once")
    pattern = f"podman system service --time=0 unix://{place / 'podman.sock'}"
    try:
        client = _podman(place, old_way=True)
        before = _left_created()
        with pytest.raises(docker.errors.APIError):
            _run_true(client)
        assert "Failed to get working directory" in (place / "podman.log").read_text()
        assert _left_created() == before  # the container it could not start is gone
    finally:
        _stop(pattern)


@pytest.mark.xdist_group("docker")  # beside the Docker lane's work, never during it
def test_dockerd_api_starts_containers_after_its_folder_is_deleted(place: Path) -> None:
    """A dockerd of the test's own: own data root, socket and network namespace (unshare
    --net). Never --bridge=none in the host's namespace: dockerd then deletes the host's
    docker0, which the shared dockerd needs."""
    if not shutil.which("dockerd") or not ROOTFS.is_file():
        pytest.skip("dockerd or the self-check rootfs is missing (scripts/setup-host.sh)")
    # Socket paths must stay under 108 bytes (sun_path): pytest's folders under xdist are
    # too deep for containerd's socket below --exec-root, so the sockets live in a short one.
    short = Path(tempfile.mkdtemp(prefix="rwi-", dir="/tmp"))
    sock, folder, pidfile = short / "docker.sock", place / "started-here", place / "dockerd.pid"
    folder.mkdir()
    argv = [
        "unshare", "--net", "dockerd", f"--host=unix://{sock}", f"--data-root={place}/data",
        f"--exec-root={short}/exec", f"--pidfile={pidfile}", "--bridge=none",
        "--iptables=false", "--ip6tables=false", "--ip-masq=false",
    ]  # fmt: skip
    subprocess.run([str(START), str(place / "dockerd.log"), *argv], cwd=folder, check=True)
    pid = 0
    try:
        client = _wait(sock, 120, log=place / "dockerd.log")
        pid = int(pidfile.read_text().strip())
        shutil.rmtree(folder)
        cli = ["docker", "-H", f"unix://{sock}"]
        subprocess.run([*cli, "import", str(ROOTFS), IMAGE], check=True, capture_output=True)
        output = client.containers.run(IMAGE, ["echo", "alive"], remove=True, network_mode="none")
        assert output.strip() == b"alive"
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
    finally:
        pid = pid or (int(pidfile.read_text().strip()) if pidfile.exists() else 0)
        if pid:
            os.kill(pid, signal.SIGTERM)
            for _ in range(150):
                if not Path(f"/proc/{pid}").exists():
                    break
                time.sleep(0.2)
        _stop(" ".join(argv[2:]))  # one that never wrote its pidfile
        _unmount_below(place)  # dockerd bind-mounts its data root in the host's namespace
        _unmount_below(short)
        shutil.rmtree(short, ignore_errors=True)


def test_self_check_restarts_a_service_that_answers_but_cannot_start_containers(
    place: Path,
) -> None:
    """scripts/self-check.sh on a podman API broken the old way (its folder deleted): it says
    why, restarts that service once (from /) and passes. The service is this test's own
    ($RAY_IMAGE_PODMAN_SOCKET); the shared ones are only read."""
    if subprocess.run(["podman", "image", "exists", IMAGE]).returncode != 0:
        pytest.skip(f"{IMAGE} missing: run scripts/self-check.sh once")
    sock = place / "podman.sock"
    pattern = f"podman system service --time=0 unix://{sock}"
    try:
        before = _left_created()
        client = _podman(place, old_way=True)
        with pytest.raises(docker.errors.APIError):
            _run_true(client)
        env = {**os.environ, "RAY_IMAGE_PODMAN_SOCKET": str(sock)}
        checked = subprocess.run(
            [str(ROOT / "scripts/self-check.sh"), "--no-docker"], cwd=ROOT, env=env,
            capture_output=True, text=True, timeout=900, check=False,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr[-3000:]
        said = [line for line in checked.stderr.splitlines() if "restarting the podman API" in line]
        assert len(said) == 1 and "answers but cannot start a container" in said[0], said
        assert "ok  podman: its API starts containers" in checked.stderr
        service = subprocess.run(["pgrep", "-x", "-f", pattern], capture_output=True, text=True)
        [pid] = service.stdout.split()
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
        assert _run_true(_wait(sock)).strip() == b"alive"
        assert _left_created() == before  # neither the test's nor self-check's failed start
    finally:
        _stop(pattern)
