"""Developer tasks (`invoke lint`, `invoke unit`, `invoke bench`): checks of this repository.

Kept out of the ray_worker_image package: they run ruff, mypy, hadolint, pytest and the
benchmarks on the work tree, which an installed command has no business doing. tasks.py adds
:data:`TASKS` to the package's collection; they use its decorator (same errors, exit codes).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from invoke.context import Context

from ray_worker_image import console, lazy, proc
from ray_worker_image.cli.options import COMMON, Given
from ray_worker_image.cli.task import task
from ray_worker_image.contract import expected_for, probe_script
from ray_worker_image.definition import Definition
from ray_worker_image.errors import PipelineError
from ray_worker_image.render import lock_digest, render_dockerfile
from ray_worker_image.state import ResolvedBase

if TYPE_CHECKING:  # imported when `invoke lint` runs (src/ray_worker_image/lazy.py)
    from ray_worker_image import rollout
else:
    rollout = lazy.module("ray_worker_image.rollout")

HOST_SCRIPTS = (
    "scripts/setup-host.sh",
    "scripts/self-check.sh",
    "scripts/start-service.sh",
    "scripts/wipe-host.sh",
    "scripts/ci-venv.sh",
    ".ci/run",
)


def lint(definition: Definition) -> None:
    """ruff, mypy, hadolint on every variant's rendered Dockerfile (placeholder digest),
    shellcheck on each rollout.sh shape, the base-contract probe and the host scripts."""
    root = definition.root
    bin_dir = Path(sys.executable).parent
    with tempfile.TemporaryDirectory() as tmp:
        checks = [
            ("ruff", [str(bin_dir / "ruff"), "check", "."]),
            ("mypy", [str(bin_dir / "mypy")]),
        ]
        for variant in definition.variants:
            placeholder = ResolvedBase(
                name=str(variant.base.image),
                source=str(variant.base.image),
                digest="sha256:" + "0" * 64,
                stand_in=False,
            )
            rendered = Path(tmp) / f"Dockerfile.{variant.variant}"
            rendered.write_text(render_dockerfile(variant, placeholder, lock_digest(variant)))
            checks.append(
                (
                    f"hadolint {variant.variant}",
                    [str(bin_dir / "hadolint"), "--no-color", str(rendered)],
                )
            )
        scripts = []
        for name, text in rollout.sample_scripts().items():
            scripts.append(str(Path(tmp) / name))
            Path(scripts[-1]).write_text(text, "utf-8")
        for variant in definition.variants:  # the base-contract probe, as each variant runs it
            scripts.append(str(Path(tmp) / f"contract-probe.{variant.variant}.sh"))
            Path(scripts[-1]).write_text(probe_script(expected_for(variant.base)), "utf-8")
        scripts += [str(root / p) for p in HOST_SCRIPTS]
        checks.append(("shellcheck", [rollout.find_shellcheck() or "shellcheck", *scripts]))
        failed = []
        for name, argv in checks:
            console.step(name)
            if proc.run(
                argv, timeout=proc.LINT_TIMEOUT, hint=f"rerun `invoke lint` ({name})", cwd=root
            ).returncode:
                failed.append(name)
    if failed:
        raise PipelineError(f"lint failed: {', '.join(failed)} (see the output above)")


def unit(root: Path) -> None:
    """The fast lane: every engine-free test under tests/, on every core (pytest-xdist).

    A bare pytest skips the engine, e2e, registry and root lanes (tests/lanes.py,
    docs/testing.md); the durations table of pyproject's addopts still shows the slowest.
    Raises PipelineError when a test fails.
    """
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    if proc.run(argv, timeout=1800, hint="rerun `invoke unit`", cwd=root).returncode != 0:
        raise PipelineError("unit tests failed (see the output above)")


@task(name="lint", clone=True, shared=tuple(o for o in COMMON if o.name == "definition"))
def lint_task(c: Context, given: Given) -> None:
    """ruff, mypy --strict, hadolint on every variant's Dockerfile, shellcheck on rollout.sh."""
    lint(given.definition())


@task(name="unit", clone=True)
def unit_task(c: Context, given: Given) -> None:
    """The fast tests: no engine, no registry (tests/unit, tests/rollout, tests/workflow)."""
    assert given.root is not None  # clone=True
    unit(given.root)


@task(
    clone=True,
    help={
        "runs": "runs per timed figure (medians); default 2",
        "sections": "comma-separated of cold,size,latency,warm,docker (default: all)",
        "variant": "variant of the definition, by base tag, e.g. 2.52.1-py311",
        "registry": "loopback registry the warm/lock sections push to (default 127.0.0.1:5000)",
        "render": "measure nothing: write the outputs from a saved results JSON (e.g. "
        "build/bench-partial.json of an interrupted run)",
    },
)
def bench(
    c: Context,
    given: Given,
    runs: int = 2,
    sections: str | None = None,
    variant: str | None = None,
    registry: str = "127.0.0.1:5000",
    render: str | None = None,
) -> None:
    """Benchmark the pipeline against the hand Dockerfile and runtime_env (podman, offline).

    Writes bench/results.json, bench/RESULTS.md, bench/chart.png and README's Benchmarks table.
    Takes the shared engine lock itself per command: do not run it under flock.
    """
    from bench.main import (
        SECTIONS,
        BenchOptions,
        parse_runs,
        parse_sections,
        render_saved,
        run_bench,
        write_outputs,
    )

    chosen = parse_sections(sections) if sections else SECTIONS
    options = BenchOptions(
        runs=parse_runs(runs), sections=chosen, variant=variant, registry=registry
    )
    results = render_saved(Path(render)) if render else run_bench(options)
    for path in write_outputs(results, options.out):
        print(path)


TASKS = (lint_task, unit_task, bench)
