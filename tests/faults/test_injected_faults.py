"""Transient faults are retried, permanent ones are not (issue 12, item 4).

A fault-injecting proxy (tests/faults/proxy.py) sits on loopback in front of a real
docker-registry. Registry calls go through the registry seam (a Repository); pushes go
through `invoke push` on each engine. Counts and times are bounded and asserted.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from ray_worker_image.errors import PushError
from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import ATTEMPTS, MAX_RETRY_SECONDS, RegistryAccess
from tests.refclient import RefClient

from .conftest import Registry, TinyImage, invoke, one_line_error
from .proxy import FaultProxy, Rule

MANIFEST = "/manifests/"
REPO = "faults/api"


def put_manifest(address: str, repository: str = REPO, tag: str = "t1") -> str:
    """Upload a config blob and a one-config manifest straight to the registry; its digest."""
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
    base = f"http://{address}/v2/{repository}"
    started = requests.post(f"{base}/blobs/uploads/", timeout=10)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    response = requests.put(
        location + ("&" if "?" in location else "?") + f"digest={config_digest}",
        data=config,
        headers={"Content-Type": "application/octet-stream"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": len(config),
            },
            "layers": [],
        }
    ).encode()
    response = requests.put(
        f"{base}/manifests/{tag}",
        data=manifest,
        headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"},
        timeout=10,
    )
    assert response.status_code == 201, response.text
    return "sha256:" + hashlib.sha256(manifest).hexdigest()


@pytest.fixture
def stored(own_registry: Registry) -> str:
    return put_manifest(own_registry.address)


def ref(address: str, tag: str = "t1") -> ImageRef:
    return ImageRef(address, REPO, tag)


def test_resets_429_and_5xx_are_retried_honouring_retry_after(
    own_registry: Registry, stored: str
) -> None:
    rules = [
        Rule("HEAD", MANIFEST, status=0),  # connection reset
        Rule("HEAD", MANIFEST, status=429, headers={"Retry-After": "2"}),
        Rule("HEAD", MANIFEST, status=503, times=2),
    ]
    with FaultProxy(own_registry.address, rules) as proxy:
        started = time.monotonic()
        assert RefClient(proxy.address).manifest_digest(ref(proxy.address)) == stored
        elapsed = time.monotonic() - started
    assert proxy.count("HEAD", MANIFEST) == 5 == ATTEMPTS  # 4 faults, then the answer
    assert 2.0 <= elapsed < 10, elapsed  # Retry-After: 2 was waited, the rest is backoff


def test_5xx_forever_gives_up_bounded(own_registry: Registry, stored: str) -> None:
    with FaultProxy(own_registry.address, [Rule("*", MANIFEST, status=502, times=99)]) as proxy:
        started = time.monotonic()
        with pytest.raises(PushError, match="HTTP 502") as info:
            RefClient(proxy.address).manifest_digest(ref(proxy.address))
        elapsed = time.monotonic() - started
    assert "\n" not in str(info.value) and f"tried {ATTEMPTS} times" in str(info.value)
    assert proxy.count("HEAD", MANIFEST) == ATTEMPTS
    assert elapsed < MAX_RETRY_SECONDS, elapsed


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (403, {}, "denied"),
        (401, {"WWW-Authenticate": 'Basic realm="r"'}, "needs credentials"),
        (401, {"WWW-Authenticate": 'Bearer service="r"'}, "without a realm"),
        (400, {}, "HTTP 400"),
    ],
)
def test_permanent_answers_fail_at_once(
    own_registry: Registry, stored: str, status: int, headers: dict[str, str], expected: str
) -> None:
    rule = Rule("HEAD", MANIFEST, status=status, times=99, headers=headers)
    with FaultProxy(own_registry.address, [rule]) as proxy:
        started = time.monotonic()
        with pytest.raises(PushError, match=expected) as info:
            RefClient(proxy.address).manifest_digest(ref(proxy.address))
    assert "\n" not in str(info.value)
    assert proxy.count("HEAD", MANIFEST) == 1  # not retried
    assert time.monotonic() - started < 2


def test_404_is_an_absent_tag_at_once(own_registry: Registry, stored: str) -> None:
    with FaultProxy(own_registry.address) as proxy:
        assert RefClient(proxy.address).manifest_digest(ref(proxy.address, "nope")) is None
    assert proxy.count("HEAD", MANIFEST) == 1


def test_missing_docker_content_digest_is_computed_from_the_bytes(
    own_registry: Registry, stored: str
) -> None:
    """distribution/distribution#3792: a proxy that drops the header."""
    with FaultProxy(own_registry.address, strip=("Docker-Content-Digest",)) as proxy:
        head = requests.head(
            f"http://{proxy.address}/v2/{REPO}/manifests/t1",
            headers={"Accept": "application/vnd.oci.image.manifest.v1+json"},
            timeout=5,
        )
        assert head.status_code == 200 and "Docker-Content-Digest" not in head.headers
        assert RefClient(proxy.address).manifest_digest(ref(proxy.address)) == stored


# -- pushes through the engines ---------------------------------------------------------

pushes = pytest.mark.engine


@pushes
def test_push_survives_transient_faults(own_registry: Registry, tiny: TinyImage) -> None:
    rules = [
        Rule("PUT", MANIFEST, status=503, headers={"Retry-After": "1"}),
        Rule("HEAD", MANIFEST, status=0),  # a reset on the tool's own check after the push
    ]
    with FaultProxy(own_registry.address, rules) as proxy:
        access = RegistryAccess(proxy.address)
        assert tiny.tag_list(access) == []
        started = time.monotonic()
        result = invoke(tiny.push_args(proxy.address), tiny.build_dir)
        elapsed = time.monotonic() - started
        assert result.returncode == 0, result.stderr[-3000:]
        assert tiny.tag_list(access) == sorted(t.rsplit(":", 1)[1] for t in tiny.tags)
        assert all(rule.hits == 1 for rule in rules)
        assert proxy.count("PUT", MANIFEST) >= 3  # the refused one, then both tags
    assert elapsed < 120, elapsed


@pushes
@pytest.mark.parametrize("status", [403, 404])
def test_push_permanent_fault_fails_at_once(
    own_registry: Registry, tiny: TinyImage, status: int
) -> None:
    with FaultProxy(own_registry.address, [Rule("PUT", MANIFEST, status, times=99)]) as proxy:
        access = RegistryAccess(proxy.address)
        before = tiny.tag_list(access)
        line = one_line_error(invoke(tiny.push_args(proxy.address), tiny.build_dir))
        assert str(status) in line or "denied" in line.lower() or "unknown" in line.lower(), line
        assert proxy.count("PUT", MANIFEST) == 1, proxy.log[-10:]  # no retry
        assert tiny.tag_list(access) == before


def test_tag_list_of_a_missing_repository_is_empty(own_registry: Registry, tmp_path: Path) -> None:
    assert RefClient(own_registry.address).tags("faults/none") == []
