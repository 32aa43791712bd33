"""`invoke TASK` in the clone: the tasks of the installed command (`ray-worker-image`).

The tasks live in `ray_worker_image.cli`; this file only gives them this clone (and adds the
repository's developer tasks from devtasks.py), so `invoke build` keeps working here.
"""

from __future__ import annotations

from pathlib import Path

import devtasks
from ray_worker_image.cli import namespace

ns = namespace(Path(__file__).resolve().parent, devtasks.TASKS)
