"""What ran, read from a command's output (pure functions, unit-tested).

Two kinds of output are read:

- an engine's build log: ``STEP 2/3: RUN ...`` (podman/buildah) or ``Step 2/3 : RUN ...``
  (Docker's classic builder); a step that reused the cache is followed by
  ``--> Using cache`` (buildah) or `` ---> Using cache`` (Docker). ``FROM`` steps build nothing.
- the pipeline's stderr: its ``==>`` step lines (src/ray_worker_image: steps.py ``lock_stale``,
  build.py ``build_image``, imagetest.py ``run_image_tests``, push.py ``push_image``).
"""

from __future__ import annotations

import re

STEP = re.compile(r"^\s*(?:==>\s*)?(?:\S+\s+)?(?:STEP|Step) \d+/\d+\s?:\s*(\w+)", re.IGNORECASE)
CACHED = re.compile(r"(?:-->|--->)\s*Using cache", re.IGNORECASE)
# The pipeline's step lines (console.step) that mean the step really ran.
PIPELINE_MARKERS = {
    "lock": re.compile(r"^==> .*locking (?:inside the base image|requirements)"),
    "build": re.compile(r"^==> building "),
    "test": re.compile(r"^==> in-image tests on "),
    "push": re.compile(r"^==> pushing "),
}


def steps_rebuilt(log: str) -> dict[str, int]:
    """``{"steps": N, "cached": C, "rebuilt": R}`` of a build log; FROM steps are not counted."""
    steps = cached = 0
    for line in log.splitlines():
        match = STEP.match(line)
        if match and match.group(1).upper() != "FROM":
            steps += 1
        elif CACHED.search(line):
            cached += 1
    return {"steps": steps, "cached": cached, "rebuilt": max(steps - cached, 0)}


def pipeline_steps(stderr: str) -> list[str]:
    """Which of lock (resolution), build, test and push ran, in that order."""
    lines = stderr.splitlines()
    return [
        name
        for name, marker in PIPELINE_MARKERS.items()
        if any(marker.match(line) for line in lines)
    ]
