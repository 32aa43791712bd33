"""Human-readable progress goes to stderr, so stdout stays machine-readable."""

from __future__ import annotations

from rich.console import Console

err = Console(stderr=True, highlight=False, soft_wrap=True)


def step(title: str) -> None:
    err.print(f"[bold cyan]==>[/] [bold]{title}[/]")


def info(message: str) -> None:
    err.print(f"    {message}", markup=False)


def warn(message: str) -> None:
    err.print(f"[bold yellow]WARNING:[/] {message}")


def loud_warning(message: str) -> None:
    """For choices that weaken a guarantee (skipping tests, using the stand-in)."""
    err.rule("[bold red]WARNING[/]")
    err.print(f"[bold red]{message}[/]")
    err.rule(style="red")


def error_line(message: str) -> None:
    """One red line; the message is printed as text (no Rich markup: `[...]` stays as is)."""
    err.print("[bold red]error:[/] ", end="")
    err.print(message, markup=False)
