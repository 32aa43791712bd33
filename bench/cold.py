"""Cold builds: the pipeline (``invoke build --no-cache``) against the hand Dockerfile
(``podman build --no-cache``), same engine, alternating order, and the image ids they give.

The image ids of the cold runs are also the reproducibility figures (identical inputs, no
cache: a reproducible build gives one id every time). The last run's images are kept for the
size and first-task sections; ``Kept.remove`` drops them.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
from typing import Any

from . import hand
from .invoking import ROOT, invoke_argv, invoke_env
from .measure import ratio
from .parse import steps_rebuilt
from .phases import run_marked
from .runner import Timed, dangling, engine_lock, remove_images
from .workspace import Workspace


@dataclasses.dataclass
class Kept:
    """The images of the last cold run (ids), removed by ``remove``."""

    cli: str
    pipeline: str = ""
    hand: str = ""

    def remove(self) -> None:
        with engine_lock():
            remove_images(self.cli, [i for i in (self.pipeline, self.hand) if i])


def _cleaned(cli: str, before: set[str]) -> None:
    """Remove the dangling build stages this build left (we held the lock: they are ours)."""
    remove_images(cli, sorted(dangling(cli) - before))


def pipeline_cold(
    ws: Workspace, run_no: int, engine: str | None = None
) -> tuple[Timed, str, dict[str, float] | None]:
    """One ``invoke build --no-cache``: (timing, image id, phases)."""
    cli = engine or ws.engine
    argv = invoke_argv(
        "build", engine=cli, definition=ws.definition, variant=ws.variant, no_cache=True
    )
    with engine_lock():
        before = dangling(cli)
        timed, phases = run_marked(
            argv, env=invoke_env(ws.build_dir(f"cold-{cli}-{run_no}")), cwd=ROOT
        )
        _cleaned(cli, before)
    return timed, timed.stdout.strip().splitlines()[-1].removeprefix("sha256:"), phases


def hand_cold(
    ws: Workspace, run_no: int, engine: str | None = None
) -> tuple[Timed, str, dict[str, float] | None]:
    """One ``<engine> build --no-cache`` of the hand Dockerfile: (timing, image id, phases).

    Docker builds it with BuildKit (``DOCKER_BUILDKIT=1``: the classic builder has no
    build secrets), as a user of Docker 20.10 does for ``RUN --mount=type=secret``."""
    cli = engine or ws.cli
    context = ws.folder / "hand"
    context.mkdir(exist_ok=True)
    base = ws.variant_definition.base
    (context / "Dockerfile").write_text(
        hand.render_dockerfile(ws.base, uid=base.user.uid, pip=base.pip_path)
    )
    iidfile = ws.folder / f"hand-{cli}-{run_no}.iid"
    tag = f"localhost/swe-fleet/ray-hand-{ws.label}:cold-{run_no}"
    argv = hand.build_argv(cli, context, tag, ca=ws.ca, iidfile=iidfile, no_cache=True)
    env = {**os.environ, "DOCKER_BUILDKIT": "1"} if cli == "docker" else None
    with engine_lock():
        before = dangling(cli)
        timed, phases = run_marked(argv, env=env)
        _cleaned(cli, before)
    return timed, iidfile.read_text().strip().removeprefix("sha256:"), phases


def bench_cold(ws: Workspace, engine: str | None = None) -> tuple[dict[str, Any], Kept]:
    """``runs`` alternating cold builds of each; medians, ratio, ids; the last images kept."""
    cli = engine or ws.cli
    times: dict[str, list[float]] = {"pipeline": [], "hand": []}
    ids: dict[str, list[str]] = {"pipeline": [], "hand": []}
    steps: dict[str, dict[str, int]] = {}
    split: dict[str, list[dict[str, float]]] = {"pipeline": [], "hand": []}
    kept = Kept(cli)
    for run_no in range(ws.runs):
        order = ("pipeline", "hand") if run_no % 2 == 0 else ("hand", "pipeline")
        for who in order:
            timed, image_id, phases = (
                pipeline_cold(ws, run_no, cli) if who == "pipeline" else hand_cold(ws, run_no, cli)
            )
            if phases:
                split[who].append(phases)
            times[who].append(round(timed.seconds, 2))
            ids[who].append(image_id)
            steps[who] = steps_rebuilt(timed.stdout + timed.stderr)
            previous = getattr(kept, who)
            if previous and previous != image_id:
                with engine_lock():
                    remove_images(cli, [previous])
            setattr(kept, who, image_id)
    pipeline_s = statistics.median(times["pipeline"])
    hand_s = statistics.median(times["hand"])
    return {
        "engine": cli,
        "runs": ws.runs,
        "pipeline_s": times["pipeline"],
        "hand_s": times["hand"],
        "pipeline_median_s": round(pipeline_s, 2),
        "hand_median_s": round(hand_s, 2),
        "ratio": ratio(pipeline_s, hand_s),
        "image_ids": ids,
        "steps": steps,
        "phases": {who: medians(found) for who, found in split.items() if found},
    }, kept


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    """Per key, the median over ``runs`` (pure)."""
    return {key: round(statistics.median(r[key] for r in runs), 2) for key in runs[0]}


def docker_cold(ws: Workspace) -> dict[str, Any]:
    """Docker Engine's cold ``invoke build --no-cache`` (its figure beside podman's).

    The hand Dockerfile's build secret needs BuildKit, which Debian's Docker 20.10 CLI runs
    only with the buildx plugin (absent here: "BuildKit is enabled but the buildx component
    is missing"), so the Docker figure is the pipeline's time; the report sets it beside the
    hand build on podman. Images removed.
    """
    times: list[float] = []
    ids: list[str] = []
    split: list[dict[str, float]] = []
    for run_no in range(ws.runs):
        timed, image_id, phases = pipeline_cold(ws, run_no, "docker")
        times.append(round(timed.seconds, 2))
        ids.append(image_id)
        if phases:
            split.append(phases)
        with engine_lock():
            remove_images("docker", [image_id])
    return {
        "engine": "docker",
        "runs": ws.runs,
        "pipeline_s": times,
        "pipeline_median_s": round(statistics.median(times), 2),
        "image_ids": {"pipeline": ids},
        "phases": {"pipeline": medians(split)} if split else {},
    }
