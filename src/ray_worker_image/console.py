"""Human-readable progress goes to stderr, so stdout stays machine-readable.

Messages are data, never Rich markup: every text that is not a literal of this
module is escaped, so `[/tmp/x]` or `pkg[extra]` print as written.
"""

from __future__ import annotations

from rich.console import Console
from rich.markup import escape

err = Console(stderr=True, highlight=False, soft_wrap=True)


def step(title: str) -> None:
    err.print(f"[bold cyan]==>[/] [bold]{escape(title)}[/]")


def info(message: str) -> None:
    err.print(f"    {message}", markup=False)


def warn(message: str) -> None:
    err.print(f"[bold yellow]WARNING:[/] {escape(message)}")


def loud_warning(message: str) -> None:
    """For choices that weaken a guarantee (skipping tests, using the stand-in)."""
    err.rule("[bold red]WARNING[/]")
    err.print(f"[bold red]{escape(message)}[/]")
    err.rule(style="red")


def error_line(message: str) -> None:
    """One red line; the message is printed as text (no Rich markup: `[...]` stays as is)."""
    err.print("[bold red]error:[/] ", end="")
    err.print(message, markup=False)


error = error_line  # the one line a failed task prints (`error: ...`)
