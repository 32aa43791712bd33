"""The exception types the CLI turns into a one-line message and a non-zero exit.

Every failure the user can act on is a :class:`PipelineError`. Three kinds say which exit
code it gets (the table itself lives in one place, :mod:`ray_worker_image.cli.exits`):
:class:`UsageError` (bad input, 2), :class:`CheckFailed` (a check found a difference, 1),
:class:`Unavailable` (an engine, registry or network that does not answer, 3).
"""

from __future__ import annotations


class PipelineError(Exception):
    """A failure the user can act on.

    The message is a single line that names what is wrong (file, field, value)
    and how to fix it. It must never contain a secret: callers pass names of
    files and environment variables, never their contents.
    """

    transient = False  # True when retrying the same call may succeed (resets, 429, 5xx)

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class UsageError(PipelineError):
    """Bad input: a flag, an environment variable, a config or definition value, a reference."""


class CheckFailed(PipelineError):
    """A check ran and found a difference or a failure (drift, stale lock, broken contract)."""


class Unavailable(PipelineError):
    """Could not run: the engine, the registry or the network does not answer."""


class DefinitionError(UsageError):
    """The image definition file is missing, malformed or fails its schema."""


class EngineError(PipelineError):
    """The container engine refused an operation."""


class EngineUnavailable(EngineError, Unavailable):
    """No container engine answers (not installed, not started, socket missing)."""


class LockError(CheckFailed):
    """The lock or the constraints are stale."""


class ImageTestFailure(CheckFailed):
    """The in-image test suite failed."""


class PushError(PipelineError):
    """The push was refused or the registry disagreed about the result."""


class RegistryUnavailable(PushError, Unavailable):
    """The registry does not answer (nothing listens, resets and timeouts past the retries)."""


class RolloutError(UsageError):
    """The RayCluster cannot be patched as asked."""
