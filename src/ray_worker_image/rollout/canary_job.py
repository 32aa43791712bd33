"""What rollout.sh needs for the canary stage: the driver, the selectors, the wait block.

The driver (``templates/canary_driver.py.j2``) is embedded in rollout.sh and piped into
``python -`` in the head pod (``kubectl exec -i``); its arguments are the canary pods' IPs,
the NATS URL, the subject and the timeout, so no value is spliced into its code.
"""

from __future__ import annotations

import json
import shlex
from typing import TYPE_CHECKING, Any, Final

from .commands import _block, selector, template

if TYPE_CHECKING:
    from .plan import Command, Rollout

OK_PREFIX: Final = "canary: OK: "
FAILED_PREFIX: Final = "canary: FAILED: "
FILES: Final = ("canary.json", "canary-rollback.json", "after-canary.json")


def driver_source() -> str:
    """The canary driver as Python source (Python >= 3.8, imports only ``ray`` at run time)."""
    return template("canary_driver.py.j2").render(ok=OK_PREFIX, failed=FAILED_PREFIX) + "\n"


def script_context(plan: Rollout) -> dict[str, Any]:
    """The ``canary`` mapping rollout.sh.j2 renders (``active`` False: no stage)."""
    canary = plan.canary
    view = plan.view
    context: dict[str, Any] = {"active": canary.active, "skip": canary.skip}
    if not canary.active:
        return context
    group = view.group(str(canary.group))
    jsonpath = (
        f'{{{view.kind.jsonpath}.workerGroupSpecs[?(@.groupName=="{group.name}")]'
        '.template.spec.containers[0].env[?(@.name=="NATS_URL")].name}'
    )
    return context | {
        "group": group.name,
        "nats_url": canary.nats_url,
        "subject": canary.subject,
        "selector": selector(view, group),
        "head_selector": selector(view, view.head),
        "env_jsonpath": "jsonpath=" + jsonpath,
        "wait": _block(
            "wait",
            view.kind.resource,
            view.name,
            view.namespace,
            selector(view, group),
            f"group {group.name}",
            False,
            group.name,
        ),
        "driver": driver_source(),
        "ok": OK_PREFIX,
        "failed": FAILED_PREFIX,
    }


def patch_files(plan: Rollout) -> dict[str, str]:
    """canary.json, canary-rollback.json and after-canary.json of a live plan (else {})."""
    canary = plan.canary
    if not canary.active or not plan.view.live:
        return {}
    ops = (canary.patch, canary.rollback, canary.after)
    return {
        name: json.dumps(list(part), indent=2, sort_keys=True) + "\n"
        for name, part in zip(FILES, ops, strict=True)
    }


def steps(plan: Rollout, patch_argv: list[str]) -> list[Command]:
    """The canary's own blocks: canary.json, the job, then the rest of the patch.

    ``patch_argv``: the ``kubectl patch`` argv whose last item is ``--patch-file=...``.
    ``CANARY`` and ``FIRST_PATCH`` are set by ``canary_preflight`` (ROLLOUT_NO_CANARY=1: the
    whole patch.json in one go, no job).
    """
    from .plan import Command

    base = shlex.join(patch_argv[:-1])
    group = plan.canary.group
    return [
        Command(
            "rollout",
            f"Apply canary.json (worker group {group} first)",
            f'{base} "--patch-file=$FIRST_PATCH"',
            "Moves only the canary group's template (and tests rayVersion); the other groups"
            " and the head wait for the canary job (patch.json in one go when"
            " ROLLOUT_NO_CANARY=1).",
        ),
        Command(
            "rollout",
            f"Canary job on worker group {group}",
            "if (( CANARY )); then canary_job_or_rollback; fi",
            "Submits a Ray job through the head pod (kubectl exec; the driver imports only ray)"
            " whose tasks run on the canary group's new nodes, import nats-py, aiohttp and"
            " requests and reach NATS JetStream. On failure the canary group is patched back"
            " (canary-rollback.json) and restarted, and the script exits 1 with the job's error.",
        ),
        Command(
            "rollout",
            "Apply the rest of the patch (after-canary.json)",
            f"if (( CANARY )); then\n  {base} --patch-file=after-canary.json\nfi",
            "The other groups and the head move only once the canary job passed.",
        ),
    ]
