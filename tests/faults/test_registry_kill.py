"""A registry process killed during the upload of a large layer (issue 12, item 2).

The push must fail in one line, leave no tag behind (a tag exists only once its
manifest, and so every layer, is complete), and a rerun must succeed.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from ray_worker_image.refs import ImageRef
from ray_worker_image.registry import RegistryAccess
from tests.refclient import RefClient

from .conftest import (
    INVOKE,
    ROOT,
    Registry,
    build_tiny,
    invoke,
    invoke_env,
    one_line_error,
    remove_tiny,
)

pytestmark = pytest.mark.engine
LAYER_BYTES = 96 * 1024 * 1024  # random, so gzip cannot shrink it: seconds of upload
KILL_AFTER_BYTES = 4 * 1024 * 1024


def uploaded_bytes(storage: Path) -> int:
    """Bytes the registry has received for uploads still in progress."""
    return sum(
        path.stat().st_size
        for path in storage.glob("docker/registry/v2/repositories/**/_uploads/*/data")
        if path.is_file()
    )


def test_registry_killed_mid_upload_fails_in_one_line_and_rerun_succeeds(
    engine, own_registry: Registry, tmp_path: Path
) -> None:
    image = build_tiny(engine, tmp_path / "build", size=LAYER_BYTES)
    access = RegistryAccess(own_registry.address)
    try:
        assert image.tag_list(access) == []
        env = invoke_env(image.build_dir)
        started = time.monotonic()
        process = subprocess.Popen(
            [INVOKE, *image.push_args(own_registry.address)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        while uploaded_bytes(own_registry.storage) < KILL_AFTER_BYTES:
            assert process.poll() is None, "the push ended before the registry was killed"
            assert time.monotonic() - started < 120, "the upload never started"
            time.sleep(0.02)
        own_registry.kill()
        out, err = process.communicate(timeout=300)
        failed = subprocess.CompletedProcess(process.args, process.returncode, out, err)
        line = one_line_error(failed, (1, 3))  # the push fails (1) or the registry is gone (3)
        assert own_registry.address in line or "push" in line, line
        elapsed = time.monotonic() - started

        own_registry.start()  # same storage: the partial upload is still on disk
        assert image.tag_list(access) == [], "a tag points at a partial image"

        rerun = invoke(image.push_args(own_registry.address), image.build_dir)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
        tags = sorted(t.rsplit(":", 1)[1] for t in image.tags)
        assert image.tag_list(access) == tags
        client = RefClient(access)
        digests = {
            client.manifest_digest(ImageRef(access.registry, image.repository, t)) for t in tags
        }
        assert len(digests) == 1 and rerun.stdout.strip().endswith(digests.pop() or "?")
        print(f"{engine.name}: failed after {elapsed:.1f} s: {line}")
    finally:
        remove_tiny(image)
