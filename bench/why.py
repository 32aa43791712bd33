"""Why a target is missed, said with the run's own figures (pure functions of a results dict).

Each explainer returns None when its section was not measured, else (short, full): the report
prints the full text of every missed target (bench/RESULTS.md) and the short one (the README's
block). The texts name where the time or the bytes go, as measured, and what the floor is.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .fmt import get, nbytes, num

Explainer = Callable[[Mapping[str, Any]], tuple[str, str] | None]


def cold(results: Mapping[str, Any]) -> tuple[str, str] | None:
    """Where the pipeline's cold build spends the time the hand build does not."""
    found = results.get("cold_build") or {}
    phases = found.get("phases") or {}
    if "pipeline" not in phases or "hand" not in phases:
        return None
    mine, hand = phases["pipeline"], phases["hand"]
    steps = num(round(mine["steps_s"] / hand["steps_s"], 2) if hand["steps_s"] else None, "x")
    short = (
        f"steps {num(mine['steps_s'], ' s')} vs {num(hand['steps_s'], ' s')} ({steps}); fixed "
        f"costs {num(mine['before_s'], ' s')} before (imports, base digest, render) and "
        f"{num(mine['after_s'], ' s')} after (commit, normalisation) vs "
        f"{num(hand['before_s'], ' s')} and {num(hand['after_s'], ' s')}"
    )
    return short, (
        f"The Dockerfile's steps take {num(mine['steps_s'], ' s')} against the hand build's "
        f"{num(hand['steps_s'], ' s')} ({steps}: a hash-checked build backend and the locked "
        "install in a first stage, a COPY into the second, against one unverified pip run); "
        f"before the first step {num(mine['before_s'], ' s')} against "
        f"{num(hand['before_s'], ' s')} (Python start-up importing the build's modules only, "
        "the base digest by registry HEAD, render); commit and after "
        f"{num(mine['after_s'], ' s')} against "
        f"{num(hand['after_s'], ' s')} (commit, the config-only normalisation, tags). Runs "
        f"spread {_spread(found.get('pipeline_s'))} and {_spread(found.get('hand_s'))} on this "
        "shared 2-core host."
    )


def added(results: Mapping[str, Any]) -> tuple[str, str] | None:
    """What the added layers hold beyond the floor's files."""
    found = results.get("added_bytes") or {}
    if not isinstance(found.get("floor"), Mapping):
        return None
    floor, mine, hand = found["floor"], found["pipeline"], found["hand"]
    dirs = sum((layer.get("entries") or {}).get("dirs", 0) for layer in mine["layers"])
    short = f"{dirs} directory entries and tar headers beyond the files"
    return short, (
        f"The floor is {nbytes(floor['uncompressed'])} ({nbytes(floor['compressed'])} gzip) "
        f"for {floor['files']} files; the pipeline's {len(mine['layers'])} layer(s) hold the "
        f"same files plus {dirs} directory entries (owner 1000:100) in "
        f"{nbytes(mine['uncompressed'])}; the hand image's layer is "
        f"{nbytes(hand['uncompressed'])}: the difference is the engine's tar format, not the "
        "files."
    )


def first_task(results: Mapping[str, Any]) -> tuple[str, str] | None:
    """What bounds the baked figure on a new node, and what pip costs there."""
    live = results.get("first_task_live") or {}
    baked = get(live, "baked", "new_node", "seconds")
    pip = get(live, "runtime_env_pip", "new_node", "seconds")
    if baked is None or pip is None:
        return None
    imported = get(live, "baked", "new_node", "import_s")
    short = (
        f"the baked side is Ray's worker start on the node ({num(baked, ' s')}, `import nats` "
        f"{num(_round(imported), ' s')}); 20x needs pip to take "
        f"{num(round(20 * float(baked), 1), ' s')}, it takes {num(pip, ' s')}"
    )
    return short, (
        f"On a new node the baked image answers in {num(baked, ' s')}, of which "
        f"`import nats` is {num(_round(imported), ' s')}: the rest is Ray starting a worker "
        f"process on that node (a warm worker answers in {num(live.get('floor_s'), ' s')}, "
        f"the floor). runtime_env pip takes {num(pip, ' s')} there (pip into a new "
        "virtualenv on the node, then the same worker start). The baked side cannot go "
        "below Ray's worker start, which no image removes, so 20x needs pip to take "
        f"{num(round(20 * float(baked), 1), ' s')} or more on the node: here it takes "
        f"{num(pip, ' s')} (the package index is on this host's network; a cluster pulling "
        "from PyPI pays more)."
    )


def _round(value: Any) -> float | None:
    return None if value is None else round(float(value), 3)


def _spread(runs: Any) -> str:
    if not runs:
        return "—"
    return f"{min(runs):g}-{max(runs):g} s"


EXPLAINERS: dict[str, Explainer] = {
    "cold build: pipeline / hand Dockerfile (podman)": cold,
    "added layers / floor layer, uncompressed": added,
    "added layers / floor layer, gzip": added,
    "first task on a newly added worker: runtime_env pip / baked": first_task,
}


def explain(
    results: Mapping[str, Any], rows: list[dict[str, Any]], *, short: bool = False
) -> dict[str, str]:
    """``{target: text}`` for every missed row that has an explainer and its figures."""
    found: dict[str, str] = {}
    for row in rows:
        explainer = EXPLAINERS.get(row["target"])
        if row.get("pass") is False and explainer is not None:
            texts = explainer(results)
            if texts:
                found[row["target"]] = texts[0] if short else texts[1]
    return found
