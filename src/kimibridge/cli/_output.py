"""The one place the CLI prints through Rich."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def error(message: str) -> None:
    """One red line on stderr: what went wrong and what to do next."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def bind_failed(exc: OSError, host: str, port: int) -> typer.Exit:
    """Say why a server could not bind ``host:port`` (one line); raise the returned exit."""
    import errno

    if exc.errno == errno.EADDRINUSE:
        error(f"port {port} on {host} is already in use; pick another with --port (0 = any)")
    else:
        error(f"cannot serve on {host}:{port}: {exc.strerror or exc}")
    return typer.Exit(1)
