"""scripts/self-check.sh: a missing capability is one line naming it, and exit 1."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


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
