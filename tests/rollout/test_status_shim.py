"""`invoke status`'s live path through the rehearsal's kubectl shim (issue 21 point 3), no cluster.

Without a cluster here, the live call (``kubectl get rayclusters,rayjobs,rayservices -A -o
json``, no ``--from``) is served by the very shim ``invoke rehearse`` puts first on PATH
(``rehearsal.run.write_shim``), over a state folder saved as a rehearsal saves it
(``rehearsal.state``: ``config.json`` and the live object ``rc.json``, from
``rehearsal.plan.live_object``). The shim serves that call and ``patch raycluster`` from the
state alone (no engine connected, no container started); the registry holding this revision's
release of 2.49.2 is the fake one of ``test_status_kubectl``. The row's advice, ``roll out
REF``, is followed as rollout.sh follows it: ``invoke patch --out`` writes the guarded patch,
and the shim's ``kubectl patch raycluster … --type=json --patch-file=…`` applies it to the
live object (through the real kubectl, ``test`` ops included); ``status`` then says
``up to date``, exit 0.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ray_worker_image.e2e import load_plan
from ray_worker_image.rehearsal.plan import live_object
from ray_worker_image.rehearsal.run import write_shim
from ray_worker_image.rehearsal.state import STATE_ENV, Config, State
from ray_worker_image.rollout import find_kubectl, load_cluster

from .test_status_kubectl import INVOKE, ROOT, Fake, errors, fake, release_of

__all__ = ["fake"]  # the fake registry's fixture, used here by name
pytestmark = [
    pytest.mark.kubectl,
    pytest.mark.skipif(find_kubectl() is None, reason="no kubectl"),
]
FLEET = ROOT / "deploy/k8s/ray-gpu.yaml"


def rehearsal_state(folder: Path) -> dict[str, str]:
    """The state a rehearsal of the fleet's manifest starts with, and the environment its
    rollout.sh gets: the shim first on PATH, $REHEARSAL_STATE (rehearsal.run.run_rehearsal)."""
    kubectl = find_kubectl()
    assert kubectl is not None
    state = State(folder)
    state.save_config(
        Config(
            engine="(none)",  # connecting would fail: these calls are the API server's part
            network="none",
            label="test=status-shim",
            python="python",
            source=str(FLEET),
            login_shell=False,
            head_aliases=(),
            kubectl=kubectl,
        )
    )
    state.save_cluster(live_object(load_cluster(str(FLEET)), load_plan(FLEET, replica_cap=1)))
    bin_dir = write_shim(folder)
    home = folder / "home"
    home.mkdir()
    return {
        **os.environ,
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        STATE_ENV: str(folder),
        "HOME": str(home),
        "KUBECONFIG": str(folder / "no-kubeconfig"),  # only the shim can answer
    }


def live_status(env: dict[str, str], fake: Fake, code: int) -> list[Any]:
    argv = [INVOKE, "status", "--registry", f"127.0.0.1:{fake.port}", "--json"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == code, done.stderr
    assert "Traceback" not in done.stderr
    rows: list[Any] = json.loads(done.stdout)
    if code:
        assert errors(done) == [
            f"error: {len(rows)} of {len(rows)} Ray groups are not up to date"
            f" ({len(rows)} roll-out); follow each row's action"
        ]
    return rows


def test_status_reads_the_live_cluster_through_the_rehearsal_shim(
    tmp_path: Path, fake: Fake
) -> None:
    ref = release_of(fake)
    folder = tmp_path / "state"
    folder.mkdir()
    env = rehearsal_state(folder)

    rows = live_status(env, fake, code=1)
    assert [(r["source"], r["kind"], r["namespace"], r["name"], r["group"]) for r in rows] == [
        ("kubectl", "RayCluster", "ray", "ray-gpu", "headgroup"),
        ("kubectl", "RayCluster", "ray", "ray-gpu", "gpu-workers"),
    ]
    assert {(r["image"], r["action"], r["advice"], r["nats_py"]) for r in rows} == {
        ("rayproject/ray:2.49.2", "roll-out", f"roll out {ref}", False)
    }
    log = (folder / "shim.log").read_text().splitlines()
    assert log == ["kubectl get rayclusters,rayjobs,rayservices -A -o json --request-timeout=30s"]

    # Roll out as rollout.sh does: the guarded patch, applied to the live object by the shim.
    live = tmp_path / "live.json"
    live.write_text(json.dumps(State(folder).cluster))
    out = tmp_path / "rollout"
    made = subprocess.run(
        [INVOKE, "patch", "--from", str(live), "--image", ref, "--out", str(out),
         "--no-canary", "--registry", f"127.0.0.1:{fake.port}"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    applied = subprocess.run(
        ["kubectl", "patch", "raycluster", "ray-gpu", "-n", "ray", "--type=json",
         f"--patch-file={out / 'patch.json'}"],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert (applied.returncode, applied.stdout) == (0, "raycluster.ray.io/ray-gpu patched\n")

    rows = live_status(env, fake, code=0)
    assert (folder / "shim.log").read_text().splitlines()[1:] == [
        f"kubectl patch raycluster ray-gpu -n ray --type=json --patch-file={out / 'patch.json'}",
        "kubectl get rayclusters,rayjobs,rayservices -A -o json --request-timeout=30s",
    ]
    assert {(r["image"], r["action"], r["release"], r["nats_py"]) for r in rows} == {
        (ref, "up-to-date", True, True)
    }
    assert len(rows) == 2
