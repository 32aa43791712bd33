"""Parse and print container image references (``registry/repo:tag@sha256:...``).

The grammar is distribution's (``distribution/reference``), through ``docker-image-py``
(``docker_image.reference.Reference.parse_normalized_named``): ASCII only, the default
registry ``docker.io`` and its ``library/`` namespace filled in, ``index.docker.io`` folded
into ``docker.io``. So ``ray:1``, ``library/ray:1``, ``docker.io/library/ray:1`` and
``index.docker.io/ray:1`` all parse to the same :class:`ImageRef` and compare equal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from docker_image.digest import InvalidDigest
from docker_image.reference import InvalidReference, Reference

from .errors import UsageError

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
DIGEST_RULE = (
    "digest must be sha256:<64 lowercase hex digits> (the OCI image spec allows only [a-f0-9] "
    "in a sha256 digest); write the hex in lower case"
)
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", re.ASCII)


@dataclass(frozen=True)
class ImageRef:
    """A fully qualified reference. ``registry`` is always explicit (docker.io for Hub).

    Equality is by meaning: two spellings of the same reference parse to equal values.
    A reference may carry a tag, a digest, both (the digest is what runs) or neither.
    """

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, what: str = "image reference") -> ImageRef:
        """Parse ``text``; raises :class:`PipelineError` naming ``what`` and the bad part."""
        if not isinstance(text, str) or not text:
            raise UsageError(f"{what}: empty; give REPOSITORY[:TAG][@sha256:DIGEST]")
        if "@" in text and not _DIGEST.match(text.rsplit("@", 1)[1]):
            # docker-image-py raises its own InvalidDigest (a traceback) for upper-case hex
            raise UsageError(f"{what} {text!r}: {DIGEST_RULE}")
        try:
            parsed = Reference.parse_normalized_named(text)
        except (InvalidReference, InvalidDigest, ValueError, TypeError):
            raise UsageError(f"{what} {text!r}: {_diagnose(text)}") from None
        digest = parsed["digest"]
        if digest is not None and not _DIGEST.match(digest):
            raise UsageError(f"{what} {text!r}: {DIGEST_RULE}")
        repo = parsed.repository
        if repo["domain"] != "localhost" and not any(c in repo["domain"] for c in ".:"):
            # distribution reads an upper-case first part as a host; nobody means that.
            raise UsageError(f"{what} {text!r}: {_diagnose(text)}")
        return cls(repo["domain"], repo["path"], parsed["tag"], digest)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

    @property
    def familiar_name(self) -> str:
        """The short spelling Docker prints: ``rayproject/ray``, ``ray`` for ``library/ray``."""
        if self.registry != DOCKER_HUB:
            return self.name
        return self.repository.removeprefix("library/")

    def same_image(self, other: ImageRef) -> bool:
        """True when both denote the same content: equal digests, or (no digest) equal tags."""
        if self.name != other.name:
            return False
        if self.digest or other.digest:
            return self.digest == other.digest
        return self.tag == other.tag

    def with_tag(self, tag: str) -> ImageRef:
        return replace(self, tag=tag, digest=None)

    def with_digest(self, digest: str) -> ImageRef:
        return replace(self, digest=digest)

    def with_registry(self, registry: str) -> ImageRef:
        return replace(self, registry=registry)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def _diagnose(text: str) -> str:
    """Which part of a reference distribution's grammar refused, with the fix."""
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.match(digest):
        return "digest must be sha256:<64 lowercase hex digits>"
    name, tag = rest, None
    if ":" in rest.rsplit("/", 1)[-1]:
        name, tag = rest.rsplit(":", 1)
    if tag is not None and not _TAG.match(tag):
        return (
            f"tag {tag!r} is not valid: at most 128 ASCII letters, digits, '_', '.' and '-',"
            " not starting with '.' or '-'"
        )
    if any(c in name for c in "${}") or name.startswith("__") or name.endswith("__"):
        return (
            "repository looks like a placeholder or template; put the real image there"
            " (render the template first)"
        )
    return (
        f"repository {name!r} is not valid: lowercase ASCII letters, digits and separators"
        " (. _ __ -) in /-separated parts, after an optional registry host[:port]"
    )
