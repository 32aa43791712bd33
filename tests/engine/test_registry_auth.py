"""Pushing to a registry that wants a password, and keeping the password out of every output.

Starts Debian's docker-registry with htpasswd auth on 127.0.0.1:5001 (setup-host.sh marks
that address as plain HTTP for podman; Docker treats all of 127.0.0.0/8 so).
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator

import pytest
import requests

from ray_worker_image.errors import PipelineError
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import Credentials
from ray_worker_image.state import TestRecord
from ray_worker_image.steps import do_push
from tests.refclient import RefClient

from ..conftest import Built
from ..lanes import shared_lock

# crypt makes the bcrypt htpasswd docker-registry wants; deprecated, not gone, in 3.11.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

pytestmark = pytest.mark.engine
ADDRESS = "127.0.0.1:5001"
USER = "fleet-ci"


@pytest.fixture(scope="module")
def password() -> str:
    return "pw-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def address_taken() -> Iterator[None]:
    """127.0.0.1:5001 is fixed (the engines trust it as insecure) and each engine's lane
    runs this module: one registry on it at a time, across pytest-xdist workers and runs."""
    with shared_lock(ADDRESS):
        yield


@pytest.fixture(scope="module")
def auth_registry(
    tmp_path_factory: pytest.TempPathFactory, password: str, address_taken: None
) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (scripts/setup-host.sh installs it)")
    folder = tmp_path_factory.mktemp("auth-registry")
    (folder / "htpasswd").write_text(
        f"{USER}:{crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH))}\n"
    )
    (folder / "config.yml").write_text(
        "version: 0.1\nlog: {level: warn}\n"
        f"storage: {{filesystem: {{rootdirectory: {folder / 'data'}}}}}\n"
        f"http: {{addr: {ADDRESS}}}\n"
        f"auth: {{htpasswd: {{realm: test, path: {folder / 'htpasswd'}}}}}\n"
    )
    process = subprocess.Popen(
        [binary, "serve", str(folder / "config.yml")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                if requests.get(f"http://{ADDRESS}/v2/", timeout=1).status_code == 401:
                    break
            except requests.ConnectionError:
                pass
            if process.poll() is not None:
                pytest.fail(f"auth registry exited: {process.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        else:
            pytest.fail(f"auth registry did not answer on {ADDRESS}")
        yield ADDRESS
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_push_with_credentials_from_the_environment(
    built: Built,
    tested: TestRecord,
    auth_registry: str,
    password: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("RAY_IMAGE_REGISTRY_PASSWORD", password)
    record = do_push(
        built.session, registry=auth_registry, username=USER, skip_tests=False, allow_stand_in=False
    )
    assert record is not None
    try:
        client = RefClient(auth_registry, Credentials(USER, password))
        ref = ImageRef(auth_registry, record.repository, record.tags[0])
        assert client.manifest_digest(ref) == record.digest
        out, err = capfd.readouterr()
        assert password not in out + err
        # Nothing the pipeline keeps on disk (only test verdicts since the push is derived
        # from the registry) may hold the password.
        kept = [f for f in built.session.build_dir.rglob("*") if f.is_file()]
        assert all(password not in f.read_text(errors="replace") for f in kept)
    finally:
        for tag in record.tags:
            built.session.engine.remove_image(f"{auth_registry}/{record.repository}:{tag}")


def test_wrong_password_fails_in_one_line_without_the_secret(
    built: Built,
    tested: TestRecord,
    auth_registry: str,
    password: str,
    monkeypatch: pytest.MonkeyPatch,
    capfd: pytest.CaptureFixture[str],
) -> None:
    wrong = password[::-1]
    monkeypatch.setenv("RAY_IMAGE_REGISTRY_PASSWORD", wrong)
    with pytest.raises(PipelineError) as info:
        do_push(
            built.session,
            registry=auth_registry,
            username=USER,
            skip_tests=False,
            allow_stand_in=False,
        )
    message = str(info.value)
    assert "\n" not in message
    # Nothing half-done: the refused push left no registry-qualified name on the engine.
    target = f"{auth_registry}/{built.session.definition.target.repository}"
    for tag in built.image.tags:
        assert not built.session.engine.image_exists(f"{target}:{tag.rsplit(':', 1)[1]}")
    assert built.session.engine.image_exists(built.image.image_id)
    out, err = capfd.readouterr()
    for text in (message, out, err):
        assert wrong not in text and password not in text
