"""What tasks print on stdout: JSON documents, a human summary, the rollout commands."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from . import rollout


def print_summary(document: dict[str, Any]) -> None:
    """The release record for a human: what was pushed, from what, and how it was tested."""
    base = document["base"]
    tests = document["tests"]
    lines = [
        f"variant  {document['variant']}",
        f"image    {document['image']}@{document['digest']}",
        f"tags     {', '.join(document['tags'])}",
        f"built    {document['image_id'][:19]} by {document['engine']} from {document['revision']}",
        f"base     {base['ref']} = {base['source']}@{base['digest']}"
        + ("  (STAND-IN)" if base["stand_in"] else ""),
        f"tests    {tests['count']} in-image tests, {tests['failed']} failed",
        f"patch    {len(document['patch'] or [])} operations (invoke patch prints them)",
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2, sort_keys=False) + "\n")
    sys.stdout.flush()


def print_rollout(plan: rollout.Rollout, out_dir: Path) -> None:
    """For humans: the patch and each rollout command, ready to paste."""
    if plan.view.live:
        sys.stdout.write(f"# {plan.view.kind.name} patch ({out_dir / 'patch.json'}):\n")
    else:
        sys.stdout.write(
            "# The patch below assumes the groups lead workerGroupSpecs and run the base image;"
            f" {out_dir / 'rollout.sh'} instead reads the live cluster when it runs and writes"
            " its own patch.json and rollback.json from what it finds.\n"
        )
    sys.stdout.write(rollout.to_json(plan.patch))
    if not plan.view.live or plan.canary.active:
        # The commands apply a patch.json that rollout.sh writes when it reads the cluster,
        # or (the canary stage) call the script's own functions: they run from it only.
        sys.stdout.write(
            f"\n# Roll out (patch, restart, wait, check): bash {out_dir / 'rollout.sh'}\n"
            f"# Check only: bash {out_dir / 'rollout.sh'} check\n"
            f"# Undo (after a rollout): bash {out_dir / 'rollout.sh'} rollback\n"
        )
        return
    for command in plan.commands:
        sys.stdout.write(f"\n# {command.title} [{command.phase}]\n# {command.why}\n")
        sys.stdout.write(command.shell.rstrip() + "\n")
    sys.stdout.write(f"\n# Or run it all: bash {out_dir / 'rollout.sh'} (see --help inside)\n")
