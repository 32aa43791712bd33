"""Nothing changed, nothing done: find an image by its inputs before building it.

`invoke build` asks the engine (the local immutable tag's input-key label); `invoke
release` asks the registry (the immutable tag's config blob, read through the release
destination's repository: no pull). Both compare :func:`.inputs.input_key` of what would
be built now. The lock check (pip-compile inside the base, slow) is skipped when the lock inputs
(base digest, lock and .in files: :func:`.inputs.lock_inputs_key`) equal those of the
image the registry serves under the floating or immutable tag.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import console
from .build import INPUT_KEY, LOCK_INPUTS, BuildInputs, build_inputs
from .errors import PipelineError
from .records import built_image, find_built, pushed_refs
from .registry import Destination
from .render import render_context
from .session import Session
from .state import BuiltImage, PushRecord, TestRecord


@dataclass(frozen=True)
class Planned:
    """One variant's inputs, and what the registry already serves for them."""

    inputs: BuildInputs
    released: PushRecord | None  # the immutable tag already holds an image of these inputs
    released_image: BuiltImage | None
    lock_current: bool  # the lock inputs equal the registry's image: skip the lock check


def plan_inputs(s: Session) -> BuildInputs:
    """Render the context (base resolved by registry HEAD) and key it; no build."""
    context = render_context(s.definition, s.resolve_base(), s.build_dir)
    return build_inputs(s.definition, context, s.resolve_base(), s.revision())


def already_built(s: Session, inputs: BuildInputs) -> BuiltImage | None:
    """The engine's image for this revision when it carries ``inputs.key``; else None."""
    try:
        built = find_built(s.engine, s.definition, inputs.revision)
    except PipelineError:
        return None
    return built if built.input_key == inputs.key else None


def plan_variant(s: Session, destination: Destination) -> Planned:
    """What the registry serves for this variant's inputs (HEAD + config blob, no pull)."""
    inputs = plan_inputs(s)
    floating, immutable = pushed_refs(s.definition, destination.registry, inputs.revision)
    client = destination.repository(immutable.repository)
    released: PushRecord | None = None
    image: BuiltImage | None = None
    lock_current = False
    for ref in (immutable, floating):
        digest = client.manifest_digest(ref)
        if digest is None:
            continue
        config = client.image_config(digest) or {}
        labels = dict((config.get("config") or {}).get("Labels") or {})
        lock_current = lock_current or labels.get(LOCK_INPUTS) == inputs.lock_key
        if ref is immutable and labels.get(INPUT_KEY) == inputs.key:
            found = client.config_digest(digest) or ""
            image = built_image(labels, found, "registry", s.definition)
            served = client.manifest_digest(floating)
            tags = (floating.tag or "", immutable.tag or "") if served == digest else ()
            released = PushRecord(
                found, "registry", destination.registry, ref.repository,
                tags or (immutable.tag or "",), digest,
            )  # fmt: skip
    return Planned(inputs, released, image, lock_current)


def plan_or_unknown(s: Session, destination: Destination, *, dry_run: bool) -> Planned:
    """:func:`plan_variant`; on a dry run a registry that cannot answer (it may not even
    resolve) means "nothing known" instead of an error."""
    try:
        return plan_variant(s, destination)
    except PipelineError as exc:
        if not dry_run:
            raise
        console.warn(f"dry run: inputs not compared with {destination.registry} ({exc})")
        return Planned(plan_inputs(s), None, None, False)


def say_nothing_to_do(s: Session, record: PushRecord, completed: list[str] | None = None) -> None:
    """One line: released with these inputs, and what was completed (else nothing to do)."""
    what = f"completed: {', '.join(completed)}" if completed else "nothing to do"
    console.step(
        f"{s.variant}: {record.registry}/{record.repository}:{record.tags[-1]}@{record.digest} "
        f"already released with these inputs; {what}"
    )


def kept_verdict(s: Session, built: BuiltImage) -> TestRecord:
    """The verdict kept for a released image, else the one its push implies (passed)."""
    return s.state.load_test(built.image_id) or TestRecord(
        built.image_id, built.engine, True, 0, 0, ""
    )
