#!/usr/bin/env python3
"""Benchmarks: figures and ratios, printed, never asserted (these machines are shared and noisy).

    .venv/bin/python bench/run.py                  # every engine present, all sections
    .venv/bin/python bench/run.py --engine podman --only build,size
    .venv/bin/python bench/run.py --json           # the same figures as one JSON document

Sections:
  build    cold (--no-cache) vs warm (cached) build of the rendered context
  size     bytes the image adds over its base, and the ratio
  latency  first Ray task that imports nats and publishes to JetStream: nats-py baked into
           the image vs installed by Ray's runtime_env={"pip": [...]} on the plain base
Runs in offline mode (the stand-in base from the loopback registry).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ray_worker_image import engine as engines  # noqa: E402
from ray_worker_image.build import build_image  # noqa: E402
from ray_worker_image.context import context_tar  # noqa: E402
from ray_worker_image.definition import load_variant  # noqa: E402
from ray_worker_image.lock import parse_lock  # noqa: E402
from ray_worker_image.pipeline import Options, Session  # noqa: E402
from ray_worker_image.render import render_context  # noqa: E402

SECTIONS = ("build", "size", "latency")


def _timed_build(session: Session, context_dir: Path, tag: str, no_cache: bool) -> float:
    members: dict[str, bytes | Path] = {p.name: p for p in context_dir.iterdir() if p.is_file()}
    members["ca-bundle.pem"] = session.ca_cert.read_bytes() if session.ca_cert else b""
    started = time.perf_counter()
    session.engine.build(
        context_tar(members), tag, labels={}, on_line=lambda _l: None, no_cache=no_cache
    )
    return time.perf_counter() - started


def bench_build(session: Session, context_dir: Path, repeats: int) -> dict[str, Any]:
    tag = f"localhost/ray-image-bench:{uuid.uuid4().hex[:8]}"
    try:
        cold = [_timed_build(session, context_dir, tag, no_cache=True) for _ in range(repeats)]
        warm = [_timed_build(session, context_dir, tag, no_cache=False) for _ in range(repeats)]
    finally:
        session.engine.remove_image(tag)
    cold_s, warm_s = statistics.median(cold), statistics.median(warm)
    return {
        "cold_s": round(cold_s, 2),
        "warm_s": round(warm_s, 2),
        "cold_over_warm": round(cold_s / warm_s, 1) if warm_s else None,
        "repeats": repeats,
    }


def bench_size(session: Session, image_id: str, base: str) -> dict[str, Any]:
    image = session.engine.image_attrs(image_id)
    base_attrs = session.engine.image_attrs(base)
    added = int(image["Size"]) - int(base_attrs["Size"])
    return {
        "base_bytes": int(base_attrs["Size"]),
        "image_bytes": int(image["Size"]),
        "added_bytes": added,
        "added_ratio": round(added / int(base_attrs["Size"]), 5),
    }


def bench_latency(session: Session, image_id: str, base: str, workers: int) -> dict[str, Any]:
    from ray_worker_image import e2e

    nats_pin = (
        "nats-py=="
        + parse_lock(session.definition.requirements.lock.read_text())["nats-py"].version
    )
    figures: dict[str, Any] = {}
    variants = [("baked", image_id, None), ("runtime_env_pip", base, {"pip": [nats_pin]})]
    for name, image, runtime_env in variants:
        extra = e2e.pip_access(session.ca_cert) if runtime_env else {}
        plan = e2e.load_plan(session.options.root / e2e.DEFAULT_MANIFEST, replica_cap=workers)
        node = e2e.NodeRuntime.of(session.definition.base)
        with e2e.miniature_cluster(
            session.engine, image, plan, python=node.python, **extra
        ) as cluster:
            job = e2e.run_agent_job(
                cluster,
                uid=node.uid,
                gid=node.gid,
                tasks=workers,
                timeout=600,
                runtime_env=runtime_env,
            )
        if not job.ok:
            raise SystemExit(f"bench: {name} job failed: {'; '.join(job.problems[:3])}")
        figures[name] = {
            "first_result_s": round(job.first_result_s or 0, 2),
            "total_s": round(job.total_s, 2),
        }
    baked = figures["baked"]["first_result_s"]
    figures["runtime_env_over_baked"] = (
        round(figures["runtime_env_pip"]["first_result_s"] / baked, 1) if baked else None
    )
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--engine",
        choices=engines.ENGINE_NAMES,
        action="append",
        help="engine to measure (repeatable; default: every engine present)",
    )
    parser.add_argument(
        "--only",
        default=",".join(SECTIONS),
        help=f"comma-separated sections of {', '.join(SECTIONS)}",
    )
    parser.add_argument("--repeats", type=int, default=1, help="builds per variant (median)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers for latency")
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    sections = [s for s in args.only.split(",") if s]
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown section(s) {', '.join(sorted(unknown))}")

    real = load_variant(root=ROOT)
    # A repository name of its own, so the user's tags are never touched.
    definition = dataclasses.replace(
        real, target=dataclasses.replace(real.target, repository=f"{real.target.repository}-bench")
    )
    results: dict[str, Any] = {}
    for name in args.engine or engines.ENGINE_NAMES:
        try:
            engine = engines.ENGINES[name].connect()
        except engines.EngineError as exc:
            print(f"# {name}: skipped ({exc})", file=sys.stderr)
            continue
        build_dir = ROOT / "build" / "bench" / name
        session = Session(
            Options(root=ROOT, engine=name, stand_in=True, build_dir=build_dir),
            definition=definition,
            engine=engine,
        )
        base = session.resolve_base()
        context = render_context(definition, base, build_dir)
        figures: dict[str, Any] = {}
        if "build" in sections:
            figures["build"] = bench_build(session, context.directory, args.repeats)
        built = build_image(definition, engine, context, base, ca_cert=session.ca_cert)
        try:
            if "size" in sections:
                figures["size"] = bench_size(session, built.image_id, base.pinned)
            if "latency" in sections:
                figures["latency"] = bench_latency(
                    session, built.image_id, base.pinned, args.workers
                )
        finally:
            for tag in built.tags:
                engine.remove_image(tag)
        results[name] = figures
        engine.close()

    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for name, figures in results.items():
        print(f"== {name}")
        if "build" in figures:
            b = figures["build"]
            print(
                f"build    cold {b['cold_s']:>7.2f} s   warm {b['warm_s']:>6.2f} s   "
                f"cold/warm {b['cold_over_warm']}x   (median of {b['repeats']})"
            )
        if "size" in figures:
            s = figures["size"]
            print(
                f"size     base {s['base_bytes'] / 1e6:>8.1f} MB   "
                f"image {s['image_bytes'] / 1e6:.1f} MB   added {s['added_bytes'] / 1e3:.1f} kB "
                f"({s['added_ratio'] * 100:.3f} % of base)"
            )
        if "latency" in figures:
            lat = figures["latency"]
            print(
                f"latency  first result: baked {lat['baked']['first_result_s']:.2f} s   "
                f"runtime_env pip {lat['runtime_env_pip']['first_result_s']:.2f} s   "
                f"ratio {lat['runtime_env_over_baked']}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
