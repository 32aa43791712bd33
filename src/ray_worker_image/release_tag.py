"""Check a release tag against the version in the image definition.

A release of image tag ``T`` (``target.tag`` in the image definition) is the git
tag ``vT.N`` with ``N`` = 1, 2, ...: the image tag alone cannot name a release,
because rebuilding the same Ray version (a nats-py bump, a security rebuild)
must give a new, distinct git tag.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .errors import PipelineError

VERSION_SOURCE = "images/ray-swe-fleet/image.yaml field target.tag"


def parse_release_tag(tag: str, image_tag: str, *, where: str = VERSION_SOURCE) -> int:
    """Return ``N`` when ``tag`` is ``v{image_tag}.{N}``; raise ``PipelineError`` otherwise.

    ``N`` has no leading zeros, so that ``.1`` and ``.01`` cannot both become
    git tags for what is meant to be one release.
    """
    if not image_tag:
        raise PipelineError(f"{where} is empty: cannot check release tag {tag!r} against it")
    match = re.fullmatch(re.escape(f"v{image_tag}.") + r"([1-9][0-9]*)", tag)
    if match is None:
        raise PipelineError(
            f"release tag {tag!r} does not match the pattern v{image_tag}.N (N = 1, 2, ...)"
            f" made from {where} ({image_tag!r}); retag, or change that field first"
        )
    return int(match.group(1))


def variant_for_tag(tag: str, targets: Mapping[str, str]) -> str | None:
    """The variant whose target tag ``tag`` carries (``v<target tag>.N``), from ``targets``
    (variant name -> target tag). None when no variant fits (the caller's default then
    explains the mismatch); PipelineError when several do (pass --variant)."""
    fits = [
        name
        for name, image_tag in targets.items()
        if image_tag and re.fullmatch(re.escape(f"v{image_tag}.") + r"[1-9][0-9]*", tag)
    ]
    if len(fits) > 1:
        raise PipelineError(
            f"release tag {tag!r} fits variants {', '.join(fits)}; pass --variant NAME"
        )
    return fits[0] if fits else None
