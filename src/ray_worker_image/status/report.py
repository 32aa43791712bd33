"""``invoke status``: the registry facts gathered, the rows made, the table or JSON printed.

Order, so that bad input is one line before any network call: the registry to look in is
required; ``--from`` files are read and parsed; else the one kubectl call runs. Then the
registry is asked (:func:`release_ref`, once per variant of the definition) for this
revision's release, and each distinct image's labels are read (:func:`.rows.cached`), with the
settings and the one timeout of ``invoke patch`` (:func:`..patching.label_reader`).
"""

from __future__ import annotations

import collections
import json
import shutil
import sys
from collections.abc import Sequence

from rich.box import SIMPLE_HEAD
from rich.console import Console
from rich.table import Table
from rich.text import Text

from .. import console
from ..errors import CheckFailed, UsageError
from ..patching import label_reader, quick_destination
from ..records import pushed_refs
from ..registry import Credentials
from ..session import Session
from . import fleet
from .rows import UP_TO_DATE, Facts, Result, Row, rows

COLUMNS = ("object", "group", "image", "variant", "release", "nats-py", "action")


def release_ref(s: Session, registry: str, credentials: Credentials | None) -> str | None:
    """This revision's release of ``s``'s variant in ``registry``: ``REG/REPO:TAG@sha256:...``.

    The same reference ``invoke patch`` defaults to (``PushRecord.by_tag_and_digest``: the
    floating tag and the digest the revision's immutable tag serves, :func:`..records.pushed_refs`),
    read from the registry alone (HEAD of the immutable tag; no engine). None when that tag is
    absent (404). Raises PipelineError (RegistryUnavailable: exit 3) when the registry fails.
    """
    floating, immutable = pushed_refs(s.definition, registry, s.revision())
    store = quick_destination(s, registry, credentials).repository(immutable.repository)
    digest = store.manifest_digest(immutable)
    return None if digest is None else str(floating.with_digest(digest))


def gather(sessions: Sequence[Session], registry: str, credentials: Credentials | None) -> Facts:
    """The :class:`.rows.Facts` of every variant of the definition (``sessions``: one each)."""
    first = sessions[0]
    return Facts(
        variants={s.definition.ray_tag: s.variant for s in sessions},
        releases={s.variant: release_ref(s, registry, credentials) for s in sessions},
        read=label_reader(first, registry, credentials),
        release_repository=first.definition.target.repository,
    )


def do_status(
    sessions: Sequence[Session],
    *,
    sources: Sequence[str],
    context: str | None,
    registry: str,
    credentials: Credentials | None,
    as_json: bool,
) -> Result:
    """Read the fleet (``sources`` files, else kubectl), print it; CheckFailed (exit 1) when
    any group needs action or runs an unknown image."""
    if not registry:
        raise UsageError(
            "status compares the fleet with this revision's releases: pass --registry"
            " HOST[:PORT] (or $RAY_IMAGE_REGISTRY, invoke.yaml ray_image.registry)"
        )
    if sources and context:
        raise UsageError("--context is for the live cluster; with --from FILE drop it")
    objects = fleet.from_files(sources) if sources else fleet.live(context)
    result = rows(objects, gather(sessions, registry, credentials))
    for note in result.notes:
        console.info(note)
    if as_json:
        sys.stdout.write(json.dumps([r.to_json() for r in result.rows], indent=2) + "\n")
    else:
        print_table(result.rows)
    for row in result.rows:
        if row.why and row.action != UP_TO_DATE:
            console.info(f"{_object(row)} {row.group}: {row.why}")
    if not result.rows:
        console.info("no RayCluster, RayJob or RayService found")
    pending = result.needs_action
    if pending:
        counts = collections.Counter(r.action for r in pending)
        listed = ", ".join(f"{n} {action}" for action, n in sorted(counts.items()))
        raise CheckFailed(
            f"{len(pending)} of {len(result.rows)} Ray groups are not up to date ({listed});"
            " follow each row's action"
        )
    return result


def _object(row: Row) -> str:
    return f"{row.kind} {row.namespace}/{row.name}"


def _yes(value: bool | None) -> str:
    return {True: "yes", False: "no", None: "unknown"}[value]


def table(found: Sequence[Row]) -> Table:
    """The rich table of the rows (text only: an image name is never read as markup)."""
    out = Table(*COLUMNS, box=SIMPLE_HEAD, show_edge=False, pad_edge=False, header_style="bold")
    for row in found:
        variant = f"{row.variant.short} ({row.how})" if row.variant else "unknown"
        release = _yes(row.release) + (" (stand-in)" if row.release and row.stand_in else "")
        cells = (_object(row), row.group, row.image, variant, release, _yes(row.nats))
        out.add_row(*(Text(c) for c in cells), Text(row.advice))
    return out


def print_table(found: Sequence[Row]) -> None:
    """The table on stdout: the terminal's width, or unwrapped when stdout is not one."""
    tty = sys.stdout.isatty()
    width = shutil.get_terminal_size().columns if tty else 1000
    Console(file=sys.stdout, width=width, highlight=False).print(table(found))
