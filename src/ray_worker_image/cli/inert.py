"""invoke's core flags that do nothing for these tasks, refused before any work.

The tasks call the package, not ``c.run``, so invoke's run options would be silently
ignored: ``invoke --dry patch --write F`` would edit F. Each is read from invoke's merged
config (the flag sets it; a config file or ``INVOKE_RUN_*`` can too), so the refusal names
both. Source of the flag-to-key mapping: invoke's ``Program.update_config``.
"""

from __future__ import annotations

from typing import Any

from ..errors import UsageError

# (config path, flag, what to do instead)
INERT: tuple[tuple[tuple[str, str], str, str], ...] = (
    (("run", "dry"), "-R/--dry", "use the task's --dry-run (push, release) to see the plan"),
    (("run", "echo"), "-e/--echo", "progress is on stderr already"),
    (("run", "warn"), "-w/--warn-only", "a failure always stops the task"),
    (("run", "pty"), "-p/--pty", "no command runs through invoke's pty"),
    (("timeouts", "command"), "-T/--command-timeout", "each step has its own timeout"),
)


def _get(config: Any, path: tuple[str, str]) -> Any:
    section = config.get(path[0]) or {}
    return section.get(path[1]) if hasattr(section, "get") else None


def check_inert(config: Any) -> None:
    """Raise UsageError for the first inert option set in invoke's ``config``."""
    for path, flag, instead in INERT:
        if _get(config, path):
            env = "INVOKE_" + "_".join(path).upper()
            raise UsageError(
                f"{flag} (invoke's {'.'.join(path)}, set by the flag, a config file or "
                f"${env}) has no effect on this tool's tasks; drop it: {instead}"
            )
