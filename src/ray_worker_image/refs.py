"""Parse and print container image references (``registry/repo:tag@sha256:...``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .errors import PipelineError

DOCKER_HUB = "docker.io"
_DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")
_TAG = re.compile(r"^[\w][\w.-]{0,127}$")
_REPO_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


@dataclass(frozen=True)
class ImageRef:
    """A fully qualified reference. ``registry`` is always explicit (docker.io for Hub)."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @classmethod
    def parse(cls, text: str, *, what: str = "image reference") -> ImageRef:
        rest, _, digest = text.partition("@")
        if digest and not _DIGEST.match(digest):
            raise PipelineError(f"{what} {text!r}: digest must be sha256:<64 hex digits>")
        name, tag = rest, None
        last = rest.rsplit("/", 1)[-1]
        if ":" in last:
            name, tag = rest.rsplit(":", 1)
            if not _TAG.match(tag):
                raise PipelineError(f"{what} {text!r}: tag {tag!r} is not a valid tag")
        first, _, remainder = name.partition("/")
        if remainder and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, remainder
        else:
            registry, repository = DOCKER_HUB, name
        if registry == DOCKER_HUB and "/" not in repository:
            repository = f"library/{repository}"
        if not repository or not all(_REPO_PART.match(p) for p in repository.split("/")):
            raise PipelineError(f"{what} {text!r}: repository {repository!r} is not valid")
        return cls(registry, repository, tag, digest or None)

    @property
    def name(self) -> str:
        """``registry/repository`` without tag or digest."""
        return f"{self.registry}/{self.repository}"

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
