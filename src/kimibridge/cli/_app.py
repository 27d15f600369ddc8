"""The one way a command group's Typer app is made: the same help flags and plain output."""

from __future__ import annotations

from typing import Any

import typer

__all__ = ["command_app"]


def command_app(**options: Any) -> typer.Typer:
    """A Typer app with kimibridge's defaults (``-h``/``--help``, no completion, no Rich
    markup in help, no pretty tracebacks: errors are one line from ``_root.run``)."""
    defaults: dict[str, Any] = {
        "add_completion": False,
        "rich_markup_mode": None,
        "context_settings": {"help_option_names": ["-h", "--help"]},
        "pretty_exceptions_enable": False,
    }
    return typer.Typer(**{**defaults, **options})
