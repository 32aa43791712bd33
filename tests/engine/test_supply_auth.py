"""SBOM referrer and signature through a password-protected registry (htpasswd, Basic).

Starts Debian's docker-registry with htpasswd auth on 127.0.0.1:5013 (its own throwaway
storage), pushes a minimal image manifest there, attaches an SBOM, signs, reads both back with
fresh credentials; wrong or missing credentials fail in one line without the password.
No engine is needed: the registry seam (registry/) is what is under test.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import warnings
from collections.abc import Iterator

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec

from ray_worker_image.errors import PushError
from ray_worker_image.registry import Credentials, Destination, RegistryAccess, Repository, content
from ray_worker_image.supply import artifacts, sign
from ray_worker_image.supply.sbom import packages, parse_sbom
from tests.refclient import push_config_image

from ..lanes import shared_lock

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import crypt

pytestmark = pytest.mark.engine
ADDRESS = "127.0.0.1:5013"
USER = "fleet-ci"
REPOSITORY = "swe-fleet/ray-supply-auth"


@pytest.fixture(scope="module")
def password() -> str:
    return "pw-" + secrets.token_hex(16)


@pytest.fixture(scope="module")
def address_taken() -> Iterator[None]:
    """127.0.0.1:5013 is fixed: one registry on it at a time, across pytest-xdist workers
    and runs."""
    with shared_lock(ADDRESS):
        yield


@pytest.fixture(scope="module")
def auth_registry(
    tmp_path_factory: pytest.TempPathFactory, password: str, address_taken: None
) -> Iterator[str]:
    binary = shutil.which("docker-registry")
    if binary is None:
        pytest.skip("docker-registry is not installed (scripts/setup-host.sh installs it)")
    folder = tmp_path_factory.mktemp("supply-auth-registry")
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
                pytest.fail(f"registry exited: {process.stderr.read().decode()[-500:]}")
            time.sleep(0.1)
        else:
            pytest.fail(f"registry did not answer on {ADDRESS}")
        yield ADDRESS
    finally:
        process.terminate()
        process.wait(timeout=10)


def _store(registry: str, credentials: Credentials | None) -> Repository:
    return Destination(RegistryAccess(registry), credentials).repository(REPOSITORY)


def test_attach_and_sign_through_basic_auth(auth_registry: str, password: str) -> None:
    store = _store(auth_registry, Credentials(USER, password))
    store.check()
    digest = push_config_image(store, "t1")
    sbom = json.dumps(
        {"bomFormat": "CycloneDX", "components": [{"name": "nats-py", "version": "2.10.0"}]}
    ).encode()
    attached = artifacts.attach_sbom(store, digest, sbom, filename="sbom.cdx.json")
    assert attached.fallback_tag == content.fallback_tag(digest)
    key = ec.generate_private_key(ec.SECP256R1())
    sign.sign_digest(store, digest, key)

    fresh = _store(auth_registry, Credentials(USER, password))
    found = artifacts.find_sbom(fresh, digest)
    assert found is not None and packages(parse_sbom(found[0], "x")) == {"nats-py": "2.10.0"}
    assert "cosign signature" in sign.verify_digest(fresh, digest, key.public_key())


@pytest.mark.parametrize("credentials", ["wrong", None])
def test_bad_credentials_fail_in_one_line_without_the_password(
    auth_registry: str, password: str, credentials: str | None
) -> None:
    given = Credentials(USER, "not-" + password) if credentials else None
    with pytest.raises(PushError) as caught:
        _store(auth_registry, given).check()
    message = str(caught.value)
    assert "\n" not in message and password not in message
    assert "RAY_IMAGE_REGISTRY_PASSWORD" in message
