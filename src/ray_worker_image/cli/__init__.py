"""The command: every task of the tool, as an invoke collection and a console script.

``ray-worker-image TASK`` (``[project.scripts]``, :mod:`.program`) runs from any folder;
in the clone, the root ``tasks.py`` builds the same collection with :func:`namespace`, so
``invoke TASK`` keeps working there. Modules: :mod:`.options` (the shared options,
declared once), :mod:`.task` (the decorator), :mod:`.exits` (the exit-code table),
:mod:`.build_tasks`, :mod:`.release_tasks`, :mod:`.status_tasks`, :mod:`.supply_tasks`,
:mod:`.rehearse_tasks`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from invoke.collection import Collection
from invoke.tasks import Task

from .. import settings
from . import build_tasks, rehearse_tasks, release_tasks, status_tasks, supply_tasks
from .options import CLONE_KEY
from .task import guard_stdout, run_reporting

TASKS: tuple[Task[Any], ...] = (
    build_tasks.lock,
    build_tasks.render,
    build_tasks.build,
    build_tasks.test,
    release_tasks.push,
    release_tasks.patch,
    release_tasks.release,
    release_tasks.report,
    status_tasks.status,
    build_tasks.standin,
    build_tasks.e2e,
    rehearse_tasks.rehearse,
    build_tasks.add_variant,
    build_tasks.contract,
    supply_tasks.sbom,
    supply_tasks.sign,
    supply_tasks.verify,
    supply_tasks.verify_tag,
    supply_tasks.policy,
)


def namespace(clone: Path | None, extra: Iterable[Task[Any]] = ()) -> Collection:
    """Every task (plus ``extra``: the clone's developer tasks) in one collection.

    ``clone``: the repository the tasks work in (None: outside one; tasks that need it say
    so). Its invoke.yaml is read first, so broken YAML is one line, not invoke's traceback.
    """
    guard_stdout()  # a write error on stdout is one line, even in invoke's own --list
    if clone is not None:
        run_reporting(lambda: settings.check_project_file(clone))
    ns = Collection(*TASKS, *extra)
    ns.configure({CLONE_KEY: str(clone) if clone else ""})
    return ns
