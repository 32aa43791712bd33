"""The base contract on real images, per engine: the stand-in and the built image keep every
row; an image that resets PATH for login shells (as Debian's /etc/profile would) is refused.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from ray_worker_image import engine as engines
from ray_worker_image.context import context_tar
from ray_worker_image.contract import ROWS, check_image, expected_for, failures
from ray_worker_image.definition import ImageDefinition
from ray_worker_image.state import TestRecord

from ..conftest import ROOT

pytestmark = pytest.mark.engine
INVOKE = str(Path(sys.executable).parent / "invoke")

BROKEN = """FROM {base}
USER root
RUN printf 'PATH=/usr/local/bin:/usr/bin:/bin\\nexport PATH\\n' > /etc/profile.d/zz-reset-path.sh
USER 1000
"""


@pytest.fixture
def broken_image(engine: engines.Engine, base_image: str) -> Iterator[str]:
    """The base plus a /etc/profile.d script that resets PATH: breaks the login-path row."""
    tag = f"localhost/ray-contract-broken:{uuid.uuid4().hex[:8]}"
    tar = context_tar({"Dockerfile": BROKEN.format(base=base_image).encode()})
    engine.build(tar, tag, labels={}, on_line=lambda _line: None)
    yield tag
    engine.remove_image(tag)


def test_stand_in_keeps_every_row(
    engine: engines.Engine, base_image: str, definition: ImageDefinition
) -> None:
    outcomes = check_image(engine, base_image, expected_for(definition.base))
    assert failures(outcomes) == []
    assert len(outcomes) == len(ROWS)


def test_built_image_keeps_every_row(tested: TestRecord) -> None:
    """`invoke test` runs tests/image/test_base_contract.py: one passing case per row."""
    cases = [
        c
        for c in ET.parse(tested.report).getroot().iter("testcase")
        if c.get("name", "").startswith("test_contract_row[")
    ]
    assert len(cases) == len(ROWS)
    assert all(c.find("failure") is None and c.find("error") is None for c in cases)
    assert tested.passed


def test_contract_task_refuses_an_image_that_resets_path(
    engine: engines.Engine, broken_image: str
) -> None:
    result = subprocess.run(
        [INVOKE, "contract", "--engine", engine.name, "--image", broken_image],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {broken_image} breaks the base contract: login-path (")
    assert "python is not found" in last
    # Only that row breaks: the rest of the table still holds.
    assert "FAIL login-path" in result.stderr
    assert result.stderr.count("FAIL") == 1
    assert "Traceback" not in result.stderr


def test_contract_json_names_the_broken_row(engine: engines.Engine, broken_image: str) -> None:
    """--json: the rows as one document on stdout; still exit 1 naming the row."""
    result = subprocess.run(
        [INVOKE, "contract", "--engine", engine.name, "--image", broken_image, "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)
    assert document["image"] == broken_image and document["ok"] is False
    assert [r["row"] for r in document["rows"] if not r["ok"]] == ["login-path"]
    assert len(document["rows"]) == len(ROWS)
