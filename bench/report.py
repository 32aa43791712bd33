"""The issues' targets, judged from a results dict, and the Markdown report (pure functions).

Targets (issue 13 item 5, issue 19 points 3-5) are reported with pass/miss and the gap,
never asserted in tests: cold build <= 1.1x the hand Dockerfile (Docker's figure beside
it); no-op ``invoke build`` < 1.5 s and no-op ``invoke release`` < 3 s with zero steps
rebuilt and zero bytes uploaded; the added layers <= 1.05x the floor layer (uncompressed and
gzip; the hand image's beside them); second-release upload <= 1.1x the new layer; the first
task on a newly added worker >= 20x faster baked than with ``runtime_env`` pip (cold, warm,
floor and fresh-cluster figures beside it); identical podman image ids.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fmt import get, num
from .tables import sections
from .why import explain

Row = dict[str, Any]


def judge(name: str, measured: float | None, op: str, limit: float, unit: str) -> Row:
    """One target row: ``op`` is ``<=``, ``<`` or ``>=``; ``gap`` is how far off a miss is."""
    if measured is None:
        return {
            "target": name,
            "goal": f"{op} {limit:g}{unit}",
            "measured": None,
            "pass": None,
            "gap": "not measured",
        }
    ok = {"<=": measured <= limit, "<": measured < limit, ">=": measured >= limit}[op]
    if ok:
        gap = ""
    elif op == ">=":
        gap = f"{limit - measured:.3g}{unit} short ({measured / limit:.0%} of the goal)"
    else:
        gap = f"{measured - limit:.3g}{unit} over" + (
            f" ({measured / limit:.1f}x the goal)" if limit else ""
        )
    return {
        "target": name,
        "goal": f"{op} {limit:g}{unit}",
        "measured": measured,
        "pass": ok,
        "gap": gap,
    }


def _identical(ids: list[str] | None) -> float | None:
    return None if not ids else float(len(set(ids)))


def _docker_ratio(results: Mapping[str, Any]) -> float | None:
    """Docker's pipeline cold build over podman's hand build (Docker cannot build the hand
    Dockerfile here: bench/cold.py ``docker_cold``)."""
    docker = get(results, "docker_cold", "pipeline_median_s")
    hand = get(results, "cold_build", "hand_median_s")
    return round(docker / hand, 2) if docker and hand else None


def _speedup(results: Mapping[str, Any], phase: str) -> float | None:
    value = get(results, "first_task_live", "speedup", phase)
    return None if value is None else float(value)


def targets(results: Mapping[str, Any]) -> list[Row]:
    """Every target of the issue, judged from ``results`` (missing sections: not measured).

    Rows with ``reported`` set carry a figure shown beside a target (no goal of its own).
    """
    noop_build = get(results, "warm_noop", "invoke_build")
    noop_release = get(results, "warm_noop", "invoke_release")
    added = get(results, "added_bytes") or {}
    over = added.get("pipeline_over_floor") if isinstance(added.get("floor"), Mapping) else None
    hand_over = added.get("hand_over_floor") if over else None
    return [
        judge(
            "cold build: pipeline / hand Dockerfile (podman)",
            get(results, "cold_build", "ratio"),
            "<=",
            1.1,
            "x",
        ),
        reported(
            "cold build on Docker: pipeline / the hand build on podman",
            _docker_ratio(results),
            "x",
            readme=True,
        ),
        judge("no-op `invoke build` wall time", get(noop_build or {}, "median_s"), "<", 1.5, " s"),
        judge(
            "no-op `invoke build` steps rebuilt",
            get(noop_build or {}, "steps_rebuilt"),
            "<=",
            0,
            "",
        ),
        judge(
            "no-op `invoke release` runs that failed",
            None if noop_release is None else float(len(noop_release.get("failed") or [])),
            "<=",
            0,
            "",
        ),
        judge(
            "no-op `invoke release` wall time", get(noop_release or {}, "median_s"), "<", 3, " s"
        ),
        judge(
            "no-op `invoke release` steps run (lock, build, test, push)",
            None if noop_release is None else float(len(noop_release["pipeline_steps"] or [])),
            "<=",
            0,
            "",
        ),
        judge(
            "no-op `invoke release` bytes uploaded",
            get(noop_release or {}, "uploaded_bytes"),
            "<=",
            0,
            " B",
        ),
        judge(
            "added layers / floor layer, uncompressed",
            (over or {}).get("uncompressed"),
            "<=",
            1.05,
            "x",
        ),
        judge("added layers / floor layer, gzip", (over or {}).get("compressed"), "<=", 1.05, "x"),
        reported(
            "hand image: added layers / floor layer, uncompressed",
            (hand_over or {}).get("uncompressed"),
            "x",
        ),
        reported(
            "hand image: added layers / floor layer, gzip",
            (hand_over or {}).get("compressed"),
            "x",
            readme=True,
        ),
        judge(
            "release after a lock change: image bytes uploaded / new layers",
            get(results, "lock_change", "ratio"),
            "<=",
            1.1,
            "x",
        ),
        judge(
            "first task on a newly added worker: runtime_env pip / baked",
            _speedup(results, "new_node"),
            ">=",
            20,
            "x",
        ),
        reported(
            "first task, pip cache cold: runtime_env pip / baked", _speedup(results, "first"), "x"
        ),
        reported(
            "first task, pip cache warm (next job): runtime_env pip / baked",
            _speedup(results, "next_job"),
            "x",
        ),
        reported(
            "first task, warm worker (floor): baked",
            get(results, "first_task_live", "floor_s"),
            " s",
            readme=True,
        ),
        reported(
            "first task, fresh cluster: runtime_env pip / baked",
            get(results, "first_task", "speedup"),
            "x",
        ),
        judge(
            "podman cold builds: distinct image ids",
            _identical(get(results, "reproducibility", "podman", "pipeline")),
            "<=",
            1,
            "",
        ),
    ]


def reported(name: str, measured: float | None, unit: str, *, readme: bool = False) -> Row:
    """A figure shown beside the targets, without a goal of its own (in the README's short
    table only with ``readme``)."""
    return {
        "readme": readme,
        "target": name,
        "goal": "(reported)",
        "measured": None if measured is None else float(measured),
        "pass": None,
        "gap": "" if measured is not None else "not measured",
        "reported": True,
        "unit": unit,
    }


def _verdict(row: Row) -> str:
    if row.get("reported"):
        return "reported" if row["measured"] is not None else "not measured"
    return {True: "pass", False: "**miss**", None: "not measured"}[row["pass"]]


def markdown(results: Mapping[str, Any]) -> str:
    """bench/RESULTS.md: the targets, then each section's figures, then the notes."""
    meta = results.get("meta", {})
    out = [
        "# Benchmark results",
        "",
        f"`invoke bench` on {meta.get('date', '?')}, engine {meta.get('engine', '?')}, variant "
        f"{meta.get('variant', '?')} (offline stand-in base), {meta.get('runs', '?')} runs per "
        f"figure (medians), revision {meta.get('revision', '?')}; the whole run took "
        f"{num(meta.get('total_s'), ' s')} (waits for the shared engine lock included). Raw "
        "figures: `bench/results.json`.",
        "",
        "| target | goal | measured | result | gap |",
        "|---|---|---|---|---|",
    ]
    rows = results.get("targets") or targets(results)
    for row in rows:
        out.append(
            f"| {row['target']} | {row['goal']} | {num(row['measured'])} | {_verdict(row)} "
            f"| {row['gap']} |"
        )
    reasons = explain(results, rows)
    if reasons:
        out += ["", "## Where a target is missed, and why (this run's figures)", ""]
        out += [f"- *{target}*: {text}" for target, text in reasons.items()]
    kept = meta.get("kept") or {}
    if kept:
        out += [
            "",
            "Kept from earlier runs (not measured in this one): "
            + "; ".join(f"{key} ({origin})" for key, origin in kept.items())
            + ".",
        ]
    out += sections(results)
    failed = results.get("failed") or {}
    if failed:
        out += ["", "## Sections that failed", ""]
        out += [f"- {name}: {why}" for name, why in failed.items()]
    notes = meta.get("notes") or []
    if notes:
        out += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


# The README's short names (its size is capped; RESULTS.md keeps the full ones).
SHORT_NAMES = {
    "cold build: pipeline / hand Dockerfile (podman)": "cold build / hand Dockerfile, podman",
    "cold build on Docker: pipeline / the hand build on podman": "Docker's pipeline / podman's "
    "hand",
    "no-op `invoke build` wall time": "no-op build: time",
    "no-op `invoke build` steps rebuilt": "no-op build: steps rebuilt",
    "no-op `invoke release` runs that failed": "no-op release: failed runs",
    "no-op `invoke release` wall time": "no-op release: time",
    "no-op `invoke release` steps run (lock, build, test, push)": "no-op release: steps run",
    "no-op `invoke release` bytes uploaded": "no-op release: bytes uploaded",
    "added layers / floor layer, uncompressed": "added layers / floor layer",
    "added layers / floor layer, gzip": "the same, gzip",
    "hand image: added layers / floor layer, gzip": "hand image's, gzip",
    "release after a lock change: image bytes uploaded / new layers": "lock change: upload / new "
    "layers",
    "first task on a newly added worker: runtime_env pip / baked": "first task on a new node: "
    "pip / baked",
    "first task, warm worker (floor): baked": "floor: a task on a warm worker",
    "podman cold builds: distinct image ids": "podman cold builds: image ids",
}


def readme_table(results: Mapping[str, Any]) -> list[str]:
    """The README's short table (target, goal, measured, result) and one line per miss."""
    rows = results.get("targets") or targets(results)
    out = ["| target | goal | measured | result |", "|---|---|---|---|"]
    for row in rows:
        if row.get("reported") and (row["measured"] is None or not row.get("readme")):
            continue
        unit = row.get("unit", "") if row.get("reported") else _unit(row["goal"])
        name = SHORT_NAMES.get(row["target"], row["target"])
        out.append(f"| {name} | {row['goal']} | {num(row['measured'], unit)} | {_verdict(row)} |")
    for target, text in explain(results, rows, short=True).items():
        out += ["", f"Missed, *{SHORT_NAMES.get(target, target)}*: {text}."]
    return out


def _unit(goal: str) -> str:
    """The unit a goal is written in (``<= 1.1x`` -> ``x``, ``< 3 s`` -> `` s``)."""
    if goal.endswith("x"):
        return "x"
    if goal.endswith(" s") or goal.endswith(" B"):
        return goal[-2:]
    return ""
