"""The issue's targets, judged from a results dict, and the Markdown report (pure functions).

Targets (issue 13, item 5) are reported with pass/miss and the gap, never asserted in tests:
cold build <= 1.15x the hand Dockerfile; no-op ``invoke build`` < 1.5 s and no-op
``invoke release`` < 3 s with zero steps rebuilt and zero bytes uploaded; added bytes <= 1.05x
the floor; second-release upload <= 1.1x the new layer; first task >= 20x faster than
``runtime_env``; identical podman digests.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Row = dict[str, Any]


def _get(results: Mapping[str, Any], *path: str) -> Any:
    node: Any = results
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


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


def targets(results: Mapping[str, Any]) -> list[Row]:
    """Every target of the issue, judged from ``results`` (missing sections: not measured)."""
    noop_build = _get(results, "warm_noop", "invoke_build")
    noop_release = _get(results, "warm_noop", "invoke_release")
    added = _get(results, "added_bytes") or {}
    return [
        judge(
            "cold build: pipeline / hand Dockerfile",
            _get(results, "cold_build", "ratio"),
            "<=",
            1.15,
            "x",
        ),
        judge("no-op `invoke build` wall time", _get(noop_build or {}, "median_s"), "<", 1.5, " s"),
        judge(
            "no-op `invoke build` steps rebuilt",
            _get(noop_build or {}, "steps_rebuilt"),
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
            "no-op `invoke release` wall time", _get(noop_release or {}, "median_s"), "<", 3, " s"
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
            _get(noop_release or {}, "uploaded_bytes"),
            "<=",
            0,
            " B",
        ),
        judge(
            "bytes added over the base / floor", added.get("pipeline_over_floor"), "<=", 1.05, "x"
        ),
        judge(
            "release after a lock change: image bytes uploaded / new layers",
            _get(results, "lock_change", "ratio"),
            "<=",
            1.1,
            "x",
        ),
        judge(
            "first task: runtime_env pip / baked",
            _get(results, "first_task", "speedup"),
            ">=",
            20,
            "x",
        ),
        judge(
            "podman cold builds: distinct image ids",
            _identical(_get(results, "reproducibility", "podman", "pipeline")),
            "<=",
            1,
            "",
        ),
    ]


def _num(value: Any, unit: str = "") -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}{unit}"
    return f"{value}{unit}"


def _bytes(value: Any) -> str:
    if value is None:
        return "—"
    value = int(value)
    if abs(value) >= 10**6:
        return f"{value / 1e6:.2f} MB"
    if abs(value) >= 10**3:
        return f"{value / 1e3:.1f} kB"
    return f"{value} B"


def _verdict(row: Row) -> str:
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
        f"{_num(meta.get('total_s'), ' s')} (waits for the shared engine lock included). Raw "
        "figures: `bench/results.json`.",
        "",
        "| target | goal | measured | result | gap |",
        "|---|---|---|---|---|",
    ]
    for row in results.get("targets") or targets(results):
        out.append(
            f"| {row['target']} | {row['goal']} | {_num(row['measured'])} | {_verdict(row)} "
            f"| {row['gap']} |"
        )
    out += _sections(results)
    failed = results.get("failed") or {}
    if failed:
        out += ["", "## Sections that failed", ""]
        out += [f"- {name}: {why}" for name, why in failed.items()]
    notes = meta.get("notes") or []
    if notes:
        out += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(out) + "\n"


def _sections(results: Mapping[str, Any]) -> list[str]:
    out: list[str] = []
    cold = results.get("cold_build")
    if cold:
        out += [
            "",
            "## Cold build (no cache, alternating runs)",
            "",
            "| build | median | runs (s) | steps run |",
            "|---|---|---|---|",
            f"| pipeline `invoke build --no-cache` | {_num(cold['pipeline_median_s'], ' s')} | "
            f"{', '.join(map(str, cold['pipeline_s']))} | "
            f"{_get(cold, 'steps', 'pipeline', 'rebuilt')} |",
            f"| hand Dockerfile `podman build --no-cache` | {_num(cold['hand_median_s'], ' s')} | "
            f"{', '.join(map(str, cold['hand_s']))} | {_get(cold, 'steps', 'hand', 'rebuilt')} |",
            "",
            f"Ratio pipeline / hand: **{_num(cold['ratio'], 'x')}**.",
        ]
    warm = results.get("warm_noop")
    if warm:
        out += [
            "",
            "## Warm, nothing changed",
            "",
            "| command | median wall time | steps rebuilt | pipeline steps that ran | "
            "bytes uploaded |",
            "|---|---|---|---|---|",
        ]
        for key, label in (
            ("invoke_build", "`invoke build`"),
            ("invoke_release", "`invoke release`"),
            ("hand_build_push", "hand `podman build` + `podman push`"),
        ):
            row = warm[key]
            ran = row.get("pipeline_steps")
            if row.get("failed"):
                label += f" (**exit 1** in {len(row['failed'])} of {len(row['seconds'])} runs)"
            out.append(
                f"| {label} | {_num(row['median_s'], ' s')} | {row['steps_rebuilt']} | "
                f"{', '.join(ran) if ran else ('none' if ran is not None else 'n/a')} | "
                f"{_bytes(row['uploaded_bytes'])} |"
            )
        out += ["", f"Bytes uploaded: {warm.get('bytes_measured', '')}."]
        for key in ("invoke_build", "invoke_release", "hand_build_push"):
            for error in sorted(set(warm[key].get("failed") or [])):
                out += ["", f"`{key.replace('_', ' ', 1)}` failed: `{error}`"]
    added = results.get("added_bytes")
    if added:
        out += [
            "",
            "## Bytes added over the base",
            "",
            "| image | added (uncompressed) | / floor |",
            "|---|---|---|",
            f"| pipeline | {_bytes(added['pipeline'])} "
            f"| {_num(added['pipeline_over_floor'], 'x')} |",
            f"| hand Dockerfile | {_bytes(added['hand'])} "
            f"| {_num(added['hand_over_floor'], 'x')} |",
            f"| floor: files of {', '.join(added.get('new_distributions', {})) or '?'} "
            f"(RECORD's files on disk) | {_bytes(added['floor'])} | 1x |",
        ]
        if added.get("measured_separately"):
            out += ["", f"Sizes {added['measured_separately']}."]
    lock = results.get("lock_change")
    if lock:
        out += [
            "",
            "## Second release after a lock change",
            "",
            f"Change: {lock['change']}. Uploaded {_bytes(lock['uploaded_bytes'])} "
            f"(blobs {_bytes(lock['blob_bytes'])}); layers new to the manifest: "
            f"{len(lock['new_layers'])}, {_bytes(lock['new_layer_bytes'])} compressed.",
        ]
        if "sbom_bytes" in lock:
            out += [
                "",
                f"Of the upload, {_bytes(lock['sbom_bytes'])} is the release's new SBOM "
                f"(a CycloneDX JSON artifact attached to the digest); the image itself took "
                f"{_bytes(lock['image_uploaded_bytes'])}: **{_num(lock['ratio'], 'x')}** the new "
                f"layers ({_num(lock.get('ratio_with_sbom'), 'x')} with the SBOM).",
            ]
        else:
            out += ["", f"Ratio **{_num(lock['ratio'], 'x')}**."]
    first = results.get("first_task")
    if first:
        out += [
            "",
            "## First Ray task that imports nats",
            "",
            "| image | first result | whole job |",
            "|---|---|---|",
            f"| baked (this image) | {_num(first['baked']['first_result_s'], ' s')} | "
            f"{_num(first['baked']['total_s'], ' s')} |",
            f'| plain base + `runtime_env={{"pip": ["{first.get("nats_pin", "nats-py")}"]}}` '
            f"| {_num(first['runtime_env_pip']['first_result_s'], ' s')} | "
            f"{_num(first['runtime_env_pip']['total_s'], ' s')} |",
            "",
            f"Speed-up of the first task: **{_num(first['speedup'], 'x')}**.",
        ]
    repro = results.get("reproducibility")
    if repro:
        out += [
            "",
            "## Reproducibility (image ids of cold builds of one commit)",
            "",
            "| engine | build | image ids | identical |",
            "|---|---|---|---|",
        ]
        for engine, builds in repro.items():
            for build, ids in builds.items():
                shown = ", ".join(f"`{i[:12]}`" for i in ids)
                same = "yes" if len(set(ids)) == 1 else "**no**"
                out.append(f"| {engine} | {build} | {shown} | {same} |")
    return out
