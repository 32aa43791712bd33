"""`invoke report`: the release record of this revision's image, derived, nothing rebuilt."""

from __future__ import annotations

import dataclasses
from typing import Any

from .patching import label_reader, plan_patch
from .preflight import check_registry
from .registry import Credentials
from .release import release_document
from .rollout import ClusterOptions
from .session import Session
from .state import TestRecord


def do_report(
    s: Session, cluster: ClusterOptions, registry: str, credentials: Credentials | None = None
) -> dict[str, Any]:
    """The release record of this revision's image (no rebuild), derived: the build from
    the engine (labels), the push from ``registry`` (HEAD, config digest = image id) and the
    test verdict kept for that image id."""
    check_registry(registry)
    built = s.built()
    tests = s.state.load(
        s.state.test_kind(built.image_id),
        TestRecord,
        hint=f"run `invoke test --engine {built.engine} --variant {s.variant}` first",
    )
    pushed = s.pushed(registry, built, credentials)
    # A record of what was released: a stand-in build is described (with a warning), not refused.
    described = dataclasses.replace(cluster, allow_stand_in=True)
    plan = plan_patch(
        s, pushed.by_tag_and_digest, described, label_reader(s, registry, credentials)
    )
    refs = [f"{pushed.registry}/{pushed.repository}:{tag}" for tag in pushed.tags]
    return release_document(s.variant, built, tests, pushed, refs, plan)
