"""The per-section tables of bench/RESULTS.md (pure functions of a results dict)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fmt import get, nbytes, num

PHASE_LABELS = {
    "first": "first task on a worker (per-node pip cache cold)",
    "warm_worker": "same task again, warm worker (the floor)",
    "next_job": "first task of the next job (pip cache warm)",
    "new_node": "first task on a newly added worker node",
}


def sections(results: Mapping[str, Any]) -> list[str]:
    """Every measured section's table, in report order."""
    out: list[str] = []
    for key, engine in (("cold_build", None), ("docker_cold", "docker")):
        if results.get(key):
            out += _cold(results[key], engine)
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
                f"| {label} | {num(row['median_s'], ' s')} | {row['steps_rebuilt']} | "
                f"{', '.join(ran) if ran else ('none' if ran is not None else 'n/a')} | "
                f"{nbytes(row['uploaded_bytes'])} |"
            )
        out += ["", f"Bytes uploaded: {warm.get('bytes_measured', '')}."]
        for key in ("invoke_build", "invoke_release", "hand_build_push"):
            for error in sorted(set(warm[key].get("failed") or [])):
                out += ["", f"`{key.replace('_', ' ', 1)}` failed: `{error}`"]
    added = results.get("added_bytes")
    if added and isinstance(added.get("floor"), Mapping):
        out += _added(added)
    lock = results.get("lock_change")
    if lock:
        out += [
            "",
            "## Second release after a lock change",
            "",
            f"Change: {lock['change']}. Uploaded {nbytes(lock['uploaded_bytes'])} "
            f"(blobs {nbytes(lock['blob_bytes'])}); layers new to the manifest: "
            f"{len(lock['new_layers'])}, {nbytes(lock['new_layer_bytes'])} compressed.",
        ]
        if "sbom_bytes" in lock:
            out += [
                "",
                f"Of the upload, {nbytes(lock['sbom_bytes'])} is the release's new SBOM "
                f"(a CycloneDX JSON artifact attached to the digest); the image itself took "
                f"{nbytes(lock['image_uploaded_bytes'])}: **{num(lock['ratio'], 'x')}** the new "
                f"layers ({num(lock.get('ratio_with_sbom'), 'x')} with the SBOM).",
            ]
        else:
            out += ["", f"Ratio **{num(lock['ratio'], 'x')}**."]
    live = results.get("first_task_live")
    if live:
        out += _live(live)
    first = results.get("first_task")
    if first:
        out += [
            "",
            "## First Ray task that imports nats, fresh cluster",
            "",
            "| image | first result | whole job |",
            "|---|---|---|",
            f"| baked (this image) | {num(first['baked']['first_result_s'], ' s')} | "
            f"{num(first['baked']['total_s'], ' s')} |",
            f'| plain base + `runtime_env={{"pip": ["{first.get("nats_pin", "nats-py")}"]}}` '
            f"| {num(first['runtime_env_pip']['first_result_s'], ' s')} | "
            f"{num(first['runtime_env_pip']['total_s'], ' s')} |",
            "",
            f"Speed-up of the first task: **{num(first['speedup'], 'x')}**.",
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


def _cold(cold: Mapping[str, Any], engine: str | None) -> list[str]:
    cli = engine or cold.get("engine", "podman")
    rows = [
        "",
        f"## Cold build on {cli} (no cache, alternating runs)",
        "",
        "| build | median | runs (s) | steps run |",
        "|---|---|---|---|",
        f"| pipeline `invoke build --no-cache` | {num(cold['pipeline_median_s'], ' s')} | "
        f"{', '.join(map(str, cold['pipeline_s']))} | "
        f"{get(cold, 'steps', 'pipeline', 'rebuilt')} |",
    ]
    if cold.get("hand_s"):
        rows += [
            f"| hand Dockerfile `{cli} build --no-cache` | {num(cold['hand_median_s'], ' s')} | "
            f"{', '.join(map(str, cold['hand_s']))} | {get(cold, 'steps', 'hand', 'rebuilt')} |",
            "",
            f"Ratio pipeline / hand: **{num(cold['ratio'], 'x')}**.",
        ]
    else:
        rows += [
            "",
            "The hand Dockerfile's build secret needs BuildKit, which this Docker CLI runs only "
            "with the buildx plugin (not installed), so only the pipeline is timed here.",
        ]
    return [*rows, *_phases(cold.get("phases") or {})]


def _phases(phases: Mapping[str, Any]) -> list[str]:
    if not phases:
        return []
    rows = [
        "",
        "Where the time goes (medians; split at the engine's first `STEP` and its `COMMIT`):",
        "",
        "| build | before the first step | the Dockerfile's steps | commit and after |",
        "|---|---|---|---|",
    ]
    for who, found in phases.items():
        rows.append(
            f"| {who} | {num(found['before_s'], ' s')} | {num(found['steps_s'], ' s')} | "
            f"{num(found['after_s'], ' s')} |"
        )
    return rows


def _added(added: Mapping[str, Any]) -> list[str]:
    floor = added["floor"]
    names = ", ".join(added.get("new_distributions") or {}) or "?"
    rows = [
        "",
        "## Layers added over the base, against the floor layer",
        "",
        "| layers | uncompressed | / floor | gzip | / floor |",
        "|---|---|---|---|---|",
    ]
    for who, label in (("pipeline", "pipeline"), ("hand", "hand Dockerfile")):
        image, over = added[who], added[f"{who}_over_floor"]
        rows.append(
            f"| {label} ({len(image['layers'])} layers) | {nbytes(image['uncompressed'])} | "
            f"{num(over['uncompressed'], 'x')} | {nbytes(image['compressed'])} | "
            f"{num(over['compressed'], 'x')} |"
        )
    rows += [
        f"| floor: a tar of exactly {names}'s {floor['files']} installed files | "
        f"{nbytes(floor['uncompressed'])} | 1x | {nbytes(floor['compressed'])} | 1x |",
        "",
        f"The files alone (RECORD's files sized on disk): {nbytes(added.get('record_bytes'))}.",
    ]
    for who in ("pipeline", "hand"):
        counts = [layer.get("entries") for layer in added[who]["layers"]]
        if counts and all(counts):
            total = {k: sum(c[k] for c in counts) for k in ("files", "dirs", "other")}
            rows.append(
                f"The {who} layers hold {total['files']} files, {total['dirs']} directories "
                f"and {total['other']} other entries."
            )
    return rows


def _live(live: Mapping[str, Any]) -> list[str]:
    pin = live.get("nats_pin", "nats-py")
    rows = [
        "",
        "## First Ray task that imports nats, cluster up and driver connected",
        "",
        f'| task | baked | base + `runtime_env={{"pip": ["{pin}"]}}` | ratio |',
        "|---|---|---|---|",
    ]
    for phase, label in PHASE_LABELS.items():
        rows.append(
            f"| {label} | {num(get(live, 'baked', phase, 'seconds'), ' s')} | "
            f"{num(get(live, 'runtime_env_pip', phase, 'seconds'), ' s')} | "
            f"{num(get(live, 'speedup', phase), 'x')} |"
        )
    rows += [
        "",
        f"Floor (`import nats` in a warm worker of the baked image): "
        f"{num(live.get('floor_s'), ' s')} from submit to result; the import itself took "
        f"{num(get(live, 'baked', 'first', 'import_s'), ' s')} in a fresh worker.",
    ]
    return rows
