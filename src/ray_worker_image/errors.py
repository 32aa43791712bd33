"""The one exception type the CLI turns into a one-line message and a non-zero exit."""

from __future__ import annotations


class PipelineError(Exception):
    """A failure the user can act on.

    The message is a single line that names what is wrong (file, field, value)
    and how to fix it. It must never contain a secret: callers pass names of
    files and environment variables, never their contents.
    """

    exit_code = 1
    transient = False  # True when retrying the same call may succeed (resets, 429, 5xx)

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class DefinitionError(PipelineError):
    """The image definition file is missing, malformed or fails its schema."""


class EngineError(PipelineError):
    """No usable container engine, or the engine refused an operation."""


class LockError(PipelineError):
    """The lock or the constraints are stale, or pip-compile failed."""


class ImageTestFailure(PipelineError):
    """The in-image test suite failed."""


class PushError(PipelineError):
    """The push was refused or the registry disagreed about the result."""


class RolloutError(PipelineError):
    """The RayCluster cannot be patched as asked."""
