"""bench/chart.png: four bar panels from a results dict (matplotlib, headless Agg backend).

Panels: cold build seconds (pipeline vs hand), warm no-op seconds (invoke build, invoke
release, hand build + push), kB of the layers added over the base, gzip (pipeline, hand, the
floor layer), seconds to the first Ray task's result on a newly added worker node (baked vs
runtime_env pip). A missing section leaves its panel empty with "not measured".
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

Bars = list[tuple[str, float]]


def panels(results: Mapping[str, Any]) -> list[tuple[str, Bars]]:
    """(title, [(label, value)]) per panel; pure, so the shape is unit-tested."""
    cold = results.get("cold_build") or {}
    warm = results.get("warm_noop") or {}
    added = results.get("added_bytes") or {}
    if not isinstance(added.get("floor"), Mapping):
        added = {}  # an older results shape
    first = results.get("first_task_live") or {}
    return [
        (
            "Cold build (s, median)",
            [("pipeline", cold["pipeline_median_s"]), ("hand", cold["hand_median_s"])]
            if cold
            else [],
        ),
        (
            "Warm, nothing changed (s, median)",
            [
                ("invoke build", warm["invoke_build"]["median_s"]),
                ("invoke release", warm["invoke_release"]["median_s"]),
                ("hand build+push", warm["hand_build_push"]["median_s"]),
            ]
            if warm
            else [],
        ),
        (
            "Layers added over the base, gzip (kB)",
            [
                ("pipeline", added["pipeline"]["compressed"] / 1e3),
                ("hand", added["hand"]["compressed"] / 1e3),
                ("floor", added["floor"]["compressed"] / 1e3),
            ]
            if added
            else [],
        ),
        (
            "First task on a new worker node (s)",
            [
                ("baked", first["baked"]["new_node"]["seconds"]),
                ("runtime_env pip", first["runtime_env_pip"]["new_node"]["seconds"]),
            ]
            if first
            else [],
        ),
    ]


def write_chart(results: Mapping[str, Any], path: Path) -> Path:
    """Draw the panels into ``path`` (PNG, 1200x800 px)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, 2, figsize=(12, 8), dpi=100)
    for axis, (title, bars) in zip(axes.flat, panels(results), strict=True):
        axis.set_title(title)
        if not bars:
            axis.text(0.5, 0.5, "not measured", ha="center", va="center")
            axis.set_axis_off()
            continue
        labels = [label for label, _ in bars]
        values = [value for _, value in bars]
        drawn = axis.bar(labels, values, color=["#1f77b4", "#ff7f0e", "#2ca02c"][: len(bars)])
        axis.bar_label(drawn, fmt="%.3g")
        axis.margins(y=0.15)
    meta = results.get("meta", {})
    figure.suptitle(
        f"invoke bench: {meta.get('engine', '?')}, variant {meta.get('variant', '?')}, "
        f"{meta.get('date', '')}"
    )
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
