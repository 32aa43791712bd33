"""Run the pytest-testinfra suite in ``tests/image/`` against a container of an image."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from . import console, proc
from .definition import ImageDefinition
from .engine import Engine
from .imageconfig import image_config
from .state import TestRecord

SUITE = Path("tests/image")


def read_report(report: Path) -> tuple[int, tuple[str, ...]]:
    """(tests run, names of failed or errored tests) from a JUnit XML report."""
    root = ET.parse(report).getroot()  # noqa: S314
    ran, failed = 0, []
    for case in root.iter("testcase"):
        if case.find("skipped") is not None:
            continue
        ran += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(case.get("name", "?"))
    return ran, tuple(failed)


def run_suite(
    definition: ImageDefinition,
    engine: Engine,
    image: str,
    *,
    report: Path,
    extra_args: tuple[str, ...] = (),
) -> TestRecord:
    """Start ``image``, run the suite against it through testinfra, always remove it.

    The verdict is a :class:`TestRecord` (``image`` as its ``image_id``); the names of the
    failed tests are in the JUnit XML ``report`` (:func:`read_report`)."""
    report.parent.mkdir(parents=True, exist_ok=True)
    config_file = report.with_suffix(".config.json")
    config_file.write_text(json.dumps(image_config(engine, image)))
    with engine.container(
        image, ["sleep", "infinity"], name_prefix="ray-image-test", shm_size="1g"
    ) as box:
        argv = [
            sys.executable,
            "-m",
            "pytest",
            str(definition.root / SUITE),
            "-o",
            "addopts=",
            "-p",
            "no:cacheprovider",
            "-q",
            f"--hosts={box.testinfra_url}",
            f"--definition={definition.path}",
            f"--repo-root={definition.root}",
            f"--variant={definition.variant}",
            f"--junitxml={report}",
            f"--image-config={config_file}",
            *extra_args,
        ]
        console.step(f"in-image tests on {image[:71]} ({engine.name}, {box.testinfra_url})")
        # stdout belongs to the task's result (e.g. `release --json`); pytest talks to stderr.
        result = proc.run(
            argv,
            timeout=proc.IMAGE_TESTS_TIMEOUT,
            hint="see the test output above; a hung test keeps its container until then",
            cwd=definition.root,
            stdout=sys.stderr,
        )
    count, failed = read_report(report) if report.exists() else (0, ("(no report)",))
    passed = result.returncode == 0 and not failed and count > 0
    return TestRecord(image, engine.name, passed, count, len(failed), str(report))


def run_image_tests(
    definition: ImageDefinition, engine: Engine, image_id: str, build_dir: Path
) -> TestRecord:
    """:func:`run_suite` on ``image_id``, its report under ``build_dir/test-reports/``."""
    name = image_id.removeprefix("sha256:")[:32]
    report = build_dir / "test-reports" / f"{name}.xml"
    return run_suite(definition, engine, image_id, report=report)
