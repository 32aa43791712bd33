"""``invoke bench``: every section in turn, then bench/results.json, RESULTS.md and chart.png.

Sections: ``cold`` (pipeline vs hand Dockerfile, no cache, alternating; also the podman
reproducibility ids), ``size`` (the layers added over the base against the floor layer),
``firsttask`` (first Ray task with nats on a running cluster: cold, warm, new node),
``latency`` (the same on a freshly started cluster), ``warm`` (no-op build/release vs hand
build+push; a release after a lock change), ``docker`` (two cold Docker builds:
reproducibility and time). ``size``, ``firsttask`` and ``latency`` use the last cold build's
images (with ``cold`` left out, one untimed-for-the-report run builds them).

Sections can be run in pieces (``--sections``): what a run does not measure is kept from the
last written bench/results.json, and the report says from which run (bench/pieces.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ray_worker_image import console
from ray_worker_image.build import git_revision
from ray_worker_image.errors import PipelineError

from .chart import write_chart
from .cold import Kept, bench_cold, docker_cold
from .firsttask import bench_first_task
from .invoking import ROOT
from .latency import bench_latency
from .layers import bench_added
from .pieces import merge_previous
from .report import markdown, readme_table, targets
from .runner import BenchError, run
from .warm import bench_warm
from .workspace import Workspace

SECTIONS = ("cold", "size", "firsttask", "latency", "warm", "docker")
# Sections that need the cold build's images (with ``cold`` left out, one run builds them).
NEEDS_IMAGES = {"cold", "size", "firsttask", "latency"}
OUT = ROOT / "bench"
# Written after every section (git-ignored, so the work tree stays clean while the bench runs:
# its revision is part of the tags it measures); `invoke bench --render` turns it into outputs.
PARTIAL = ROOT / "build" / "bench-partial.json"
README_START = "<!-- bench:start (written by invoke bench) -->"
README_END = "<!-- bench:end -->"
NOTES = [
    "Wall times exclude waiting for the shared engine lock; the host (2 cores) is shared with "
    "other work, so figures are noisy: read ratios.",
    "Cold build: `invoke build --no-cache` as a user runs it (Python start-up with only the "
    "build's modules imported, the engine's API version from `/_ping`, base digest by "
    "registry HEAD, render, two stages: CA-only first stage, hashed install; COPY of the "
    "installed files, one LABEL) against the hand Dockerfile's one RUN. For one "
    "digest per commit podman builds without intermediate images (layers=false) and the "
    "config alone is rewritten without its random `container` field and loaded back "
    "(engine/normalise.py): no layer is exported; the base is not pulled when its pinned "
    "digest is already local.",
    "No-op: `invoke build` finds this revision's image with the same input-key label and "
    "builds nothing; `invoke release` reads the registry's config blob of the immutable tag "
    "and, with the same input key, runs no lock check, build, test or upload.",
    "The hand no-op push uploads no blob, only its manifest again (the bytes shown).",
    "First task, live cluster (bench/firsttask.py): a miniature cluster with one task worker "
    "is up and the driver connected before any clock starts; each figure is one task that "
    "imports nats, from submit to its result in the driver. runtime_env pip runs pip on a "
    "node the first time it sees the environment (per-node cache); a new node (added while "
    "the driver waits, as the autoscaler adds one) starts cold. Floor: the same task on a "
    "warm worker of the baked image.",
    "First task, fresh cluster (bench/latency.py): seconds from starting the job's driver "
    "(Ray Client connection included) to the first JetStream result on a freshly started "
    "cluster, as before.",
    "Bytes uploaded are counted as HTTP request bodies (blob uploads and manifests) at a "
    "counting relay in front of the loopback registry that every push of the warm and "
    "lock-change sections goes through; a blob the registry already has is not sent.",
    "Bytes floor (bench/layers.py): the smallest layer that holds exactly the new "
    "distributions' installed files: a tar of every regular file their RECORD lists, as in "
    "the image, no directory entries; the images' added layers are read from a save of each "
    "image and checked against their diff ids; both sides gzip-compressed alike (level 6).",
    "The lock change is a dependency bump as a user makes it: nats-py pinned to another "
    "version in a private copy of ray-worker.in and re-locked by `invoke lock` inside the "
    "base, so the new build installs different files (one new layer). The ratio counts what "
    "the image push uploaded (layers, config, manifests); the release's new SBOM artifact is "
    "shown apart, as it is not part of the image.",
    "Docker Engine 20.10's classic builder has no timestamp option through its API, so its "
    "cold builds differ (docs/design.md, Reproducible builds).",
]


@dataclasses.dataclass(frozen=True)
class BenchOptions:
    """What ``invoke bench`` was asked for (defaults: all sections, 2 runs, podman)."""

    engine: str = "podman"
    variant: str | None = None
    runs: int = 2
    sections: tuple[str, ...] = SECTIONS
    registry: str = "127.0.0.1:5000"
    workers: int = 2
    out: Path = OUT


def parse_runs(value: object) -> int:
    """``--runs``: a whole number >= 1; BenchError otherwise."""
    try:
        runs = int(str(value))
    except ValueError:
        runs = 0
    if runs < 1:
        raise BenchError(f"--runs: expected a whole number >= 1, got {value!r}")
    return runs


def parse_sections(text: str) -> tuple[str, ...]:
    """``"cold,warm"`` -> ("cold", "warm"); BenchError naming unknown ones."""
    chosen = tuple(s.strip() for s in text.split(",") if s.strip())
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown or not chosen:
        raise BenchError(
            f"--sections: unknown {', '.join(unknown) or '(empty)'}; choose from "
            f"{', '.join(SECTIONS)}"
        )
    return chosen


def docker_present() -> bool:
    try:
        return run(["docker", "info", "--format", "{{.ServerVersion}}"], timeout=20).returncode == 0
    except BenchError:
        return False


def _terminated(signum: int, frame: object) -> None:
    raise BenchError(f"interrupted (signal {signum}); figures so far: {PARTIAL}")


def run_bench(options: BenchOptions) -> dict[str, Any]:
    """Every chosen section; returns the results dict (also written by ``write_outputs``)."""
    started = time.perf_counter()
    signal.signal(signal.SIGTERM, _terminated)  # so every cleanup (finally) still runs
    ws = Workspace.create(options.engine, options.variant, options.runs)
    results: dict[str, Any] = {
        "meta": {
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "engine": options.engine,
            "variant": ws.variant,
            "runs": options.runs,
            "revision": git_revision(ROOT),
            "sections": list(options.sections),
        }
    }
    kept: Kept | None = None
    wanted = set(options.sections)
    try:
        ws.resolve_base()
        results["meta"]["base"] = ws.base
        if wanted & NEEDS_IMAGES:
            if "cold" not in wanted:
                ws = dataclasses.replace(ws, runs=1)
            cold, kept = bench_cold(ws)
            results["meta"]["cold_s"] = round(time.perf_counter() - started, 1)
            if "cold" in wanted:
                results["cold_build"] = cold
                results["reproducibility"] = {
                    options.engine: {
                        "pipeline": cold["image_ids"]["pipeline"],
                        "hand Dockerfile": cold["image_ids"]["hand"],
                    }
                }
                checkpoint(results)
            chosen = kept
            if "size" in wanted:
                _section(results, "added_bytes", lambda: bench_added(ws, chosen))
            if "firsttask" in wanted:
                _section(results, "first_task_live", lambda: bench_first_task(ws, chosen.pipeline))
            if "latency" in wanted:
                _section(
                    results,
                    "first_task",
                    lambda: bench_latency(ws, chosen.pipeline, options.workers),
                )
            kept.remove()
            kept = None
        if "warm" in wanted:
            ws = dataclasses.replace(ws, runs=options.runs)
            warm = _section(results, "warm", lambda: bench_warm(ws, options.registry))
            results.update(warm or {})
        if "docker" in wanted:
            if docker_present():
                found = _section(results, "docker_cold", lambda: docker_cold(ws))
                if found:
                    results.setdefault("reproducibility", {})["docker"] = {
                        "pipeline": found["image_ids"]["pipeline"]
                    }
            else:
                results["meta"]["docker"] = "skipped: no Docker Engine answers `docker info`"
    finally:
        if kept is not None:
            kept.remove()
        ws.remove()
    return finish(merge_previous(results, _previous(options.out)), started)


def _previous(out: Path) -> dict[str, Any]:
    """The last written results (sections this run did not measure are kept from them)."""
    try:
        found: dict[str, Any] = json.loads((out / "results.json").read_text())
    except (OSError, ValueError):
        return {}
    return found


def _section(
    results: dict[str, Any], name: str, measure: Callable[[], dict[str, Any]]
) -> dict[str, Any] | None:
    """Run one section; a failure is recorded (``results["failed"]``) and the rest goes on."""
    try:
        figures = measure()
    except PipelineError as exc:
        results.setdefault("failed", {})[name] = str(exc)
        console.warn(f"bench: section {name} failed: {exc}")
        return None
    if name != "warm":
        results[name] = figures
    checkpoint(results)
    return figures


def finish(results: dict[str, Any], started: float) -> dict[str, Any]:
    """Add the totals, notes and judged targets (also to a partial run)."""
    results["meta"]["total_s"] = round(time.perf_counter() - started, 1)
    results["meta"]["notes"] = NOTES
    results["targets"] = targets(results)
    return results


def checkpoint(results: dict[str, Any]) -> None:
    """Save what is measured so far to PARTIAL (never a tracked file)."""
    PARTIAL.parent.mkdir(parents=True, exist_ok=True)
    PARTIAL.write_text(json.dumps(results, indent=2) + "\n")


def readme_block(text: str, block: str) -> str:
    """Replace what lies between the README's bench markers with ``block``."""
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        raise BenchError(f"README.md: no '{README_START}' ... '{README_END}' markers")
    return text[: start + len(README_START)] + "\n" + block.rstrip() + "\n" + text[end:]


def readme_summary(results: dict[str, Any]) -> str:
    """The README's part: when and where, the short targets table, one line per miss."""
    meta = results.get("meta", {})
    return "\n".join(
        [
            f"Measured {str(meta.get('date', '?'))[:10]} on {meta.get('engine', '?')}, stand-in "
            "base"
            + (", sections not re-run kept from earlier runs" if meta.get("kept") else "")
            + "; every figure, its date and each miss in full: "
            "[bench/RESULTS.md](bench/RESULTS.md).",
            "",
            *readme_table(results),
        ]
    )


def render_saved(path: Path) -> dict[str, Any]:
    """A saved results JSON (e.g. PARTIAL of an interrupted run), judged again."""
    try:
        results: dict[str, Any] = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BenchError(f"{path}: not a results JSON ({exc}); run `invoke bench` first") from None
    results.setdefault("meta", {})["notes"] = NOTES
    results["targets"] = targets(results)
    return results


def write_outputs(results: dict[str, Any], out: Path) -> list[Path]:
    """results.json, RESULTS.md, chart.png into ``out``; README.md's Benchmarks block."""
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "results.json", out / "RESULTS.md", out / "chart.png"]
    written[0].write_text(json.dumps(results, indent=2) + "\n")
    written[1].write_text(markdown(results))
    write_chart(results, written[2])
    if out.resolve() == OUT.resolve():
        readme = ROOT / "README.md"
        readme.write_text(readme_block(readme.read_text(), readme_summary(results)))
        written.append(readme)
    return written
