"""The base contract (src/ray_worker_image/contract.py) holds on this image, row by row.

The image must keep everything KubeRay and Ray jobs rely on in rayproject/ray: a login shell
finding python/pip/ray, Shell/Entrypoint/Cmd, USER 1000 with sudo, HOME and WORKDIR, TZ and
locale, the prefix's owner, the files in HOME, and the base's Ray and Python versions.
"""

from __future__ import annotations

import shlex

import pytest

from ray_worker_image.contract import (
    ROWS,
    Outcome,
    evaluate,
    expected_for,
    parse_facts,
    probe_script,
)
from ray_worker_image.definition import ImageDefinition


@pytest.fixture(scope="module")
def outcomes(host, definition: ImageDefinition, image_config) -> dict[str, Outcome]:  # type: ignore[no-untyped-def]
    expected = expected_for(definition.base)
    probe = host.run(f"/bin/bash -c {shlex.quote(probe_script(expected))}")
    return {o.row: o for o in evaluate(image_config, parse_facts(probe.stdout), expected)}


@pytest.mark.parametrize("row", [r.key for r in ROWS])
def test_contract_row(outcomes: dict[str, Outcome], row: str) -> None:
    outcome = outcomes[row]
    assert outcome.ok, f"{row}: {outcome.detail}"
