"""`invoke status` against a real release (issue 21 point 3), on each engine.

The session's stand-in build of 2.49.2 (shared with the other engine tests) is pushed to the
loopback registry under a private repository; `invoke status` then reads the fleet's manifest,
which runs the plain base: its rows say `roll out REF`, REF being the reference `invoke patch`
defaults to (`PushRecord.by_tag_and_digest`). Following that advice, `invoke patch --write
FILE --image REF`, makes the same rows `up to date`, now a release of this project carrying
nats-py, read from the image's labels in the registry. The registry manifest and the engine
tags pushed here are removed at the end.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ray_worker_image.registry import Destination
from ray_worker_image.steps import do_push

from ..conftest import ROOT, Builds

pytestmark = pytest.mark.engine
INVOKE = str(Path(sys.executable).parent / "invoke")


def invoke(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([INVOKE, *args], cwd=ROOT, capture_output=True, text=True, check=False)


def test_following_the_roll_out_advice_makes_the_rows_up_to_date(
    builds: Builds, registry: str, tmp_path: Path
) -> None:
    session = builds.get("2.49.2").session
    record = do_push(
        session, registry=registry, username=None, skip_tests=True, allow_stand_in=False
    )
    assert record is not None
    try:
        folder = tmp_path / "image"  # the definition, under the test's private repository
        shutil.copytree(ROOT / "images/ray-swe-fleet", folder)
        raw = yaml.safe_load((folder / "image.yaml").read_text())
        raw["target"]["repository"] = session.definition.target.repository
        (folder / "image.yaml").write_text(yaml.safe_dump(raw))
        manifest = tmp_path / "ray-gpu.yaml"
        shutil.copy(ROOT / "deploy/k8s/ray-gpu.yaml", manifest)
        common = ("--definition", str(folder / "image.yaml"), "--registry", registry)

        before = invoke("status", "--from", str(manifest), "--json", *common)
        assert before.returncode == 1, before.stderr
        rows = json.loads(before.stdout)
        ref = record.by_tag_and_digest
        assert [(r["group"], r["action"], r["advice"]) for r in rows] == [
            ("headgroup", "roll-out", f"roll out {ref}"),
            ("gpu-workers", "roll-out", f"roll out {ref}"),
        ]
        assert {(r["release"], r["nats_py"]) for r in rows} == {(False, False)}  # plain base

        patched = invoke(
            "patch", "--write", str(manifest), "--image", ref, "--allow-stand-in", *common
        )
        assert patched.returncode == 0, patched.stderr
        assert manifest.read_text().count(ref) == 2

        after = invoke("status", "--from", str(manifest), "--json", *common)
        assert after.returncode == 0, after.stderr
        rows = json.loads(after.stdout)
        assert [(r["group"], r["action"], r["image"]) for r in rows] == [
            ("headgroup", "up-to-date", ref),
            ("gpu-workers", "up-to-date", ref),
        ]
        assert {(r["release"], r["nats_py"], r["variant_from"], r["stand_in"]) for r in rows} == {
            (True, True, "labels", True)  # the session's builds are stand-in builds
        }
        table = invoke("status", "--from", str(manifest), *common)
        assert table.returncode == 0, table.stderr
        assert table.stdout.count("yes (stand-in)   yes       up to date") == 2, table.stdout
    finally:
        Destination.of(registry).repository(record.repository).delete(record.digest)
        for tag in record.tags:
            session.engine.remove_image(f"{registry}/{record.repository}:{tag}")
