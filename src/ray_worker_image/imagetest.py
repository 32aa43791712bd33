"""Run the pytest-testinfra suite in ``tests/image/`` against a container of an image."""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET  # noqa: S405 - parses the report our own pytest wrote
from dataclasses import dataclass
from pathlib import Path

from . import console
from .definition import ImageDefinition
from .engine import Engine
from .state import TestRecord

SUITE = Path("tests/image")
REPORTS = Path("build/test-reports")


@dataclass(frozen=True)
class SuiteResult:
    passed: bool
    count: int
    failed: int
    report: Path


def _count(report: Path) -> tuple[int, int]:
    root = ET.parse(report).getroot()  # noqa: S314
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    total = sum(int(s.get("tests", 0)) for s in suites)
    bad = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
    skipped = sum(int(s.get("skipped", 0)) for s in suites)
    return total - skipped, bad


def run_suite(
    definition: ImageDefinition,
    engine: Engine,
    image: str,
    *,
    report_name: str,
    extra_args: tuple[str, ...] = (),
) -> SuiteResult:
    """Start ``image``, run the suite against it through testinfra, always remove it."""
    report = definition.root / REPORTS / f"{report_name}.xml"
    report.parent.mkdir(parents=True, exist_ok=True)
    with engine.container(
        image, ["sleep", "infinity"], name_prefix="ray-image-test", shm_size="1g"
    ) as box:
        argv = [
            sys.executable, "-m", "pytest", str(definition.root / SUITE),
            "-o", "addopts=", "-p", "no:cacheprovider", "-q",
            f"--hosts={box.testinfra_url}",
            f"--definition={definition.path}",
            f"--junitxml={report}",
            *extra_args,
        ]
        console.step(f"in-image tests on {image[:71]} ({engine.name}, {box.testinfra_url})")
        result = subprocess.run(argv, cwd=definition.root, check=False)
    count, failed = _count(report) if report.exists() else (0, 1)
    passed = result.returncode == 0 and failed == 0 and count > 0
    return SuiteResult(passed, count, failed, report)


def test_image(definition: ImageDefinition, engine: Engine, image_id: str) -> TestRecord:
    result = run_suite(definition, engine, image_id, report_name=image_id.removeprefix("sha256:")[:32])
    return TestRecord(
        image_id=image_id,
        engine=engine.name,
        passed=result.passed,
        count=result.count,
        failed=result.failed,
        report=str(result.report.relative_to(definition.root)),
    )
