"""``kimibridge key``: the gateway's local keys, one per agent."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Annotated

import typer

from kimibridge.cli._app import command_app

if TYPE_CHECKING:
    from kimibridge.gateway.local_auth import LocalKeys

__all__ = ["app"]

app = command_app(
    help=(
        "Show the gateway's local key (created on first use). Agents send it as x-api-key or "
        "Authorization: Bearer; one key per agent (`key add <label>`) attributes usage to it."
    ),
    invoke_without_command=True,
)


def _keys() -> LocalKeys:
    from kimibridge.config import Paths
    from kimibridge.gateway.local_auth import LocalKeys

    return LocalKeys.load_or_create(Paths.from_env(os.environ).config_dir)


@app.callback()
def show(ctx: typer.Context) -> None:
    """Print the default key (no subcommand)."""
    if ctx.invoked_subcommand is None:
        print(_keys().default)


@app.command("list")
def list_keys(
    reveal: Annotated[bool, typer.Option("--reveal", help="Print whole keys.")] = False,
) -> None:
    """Every label and its key (masked unless --reveal)."""
    for label, key in _keys().labels().items():
        print(f"{label}\t{key if reveal else key[:6] + '…' + key[-4:]}")


@app.command()
def add(label: Annotated[str, typer.Argument(help="The agent's name, e.g. reviewer.")]) -> None:
    """Create a key for an agent (prints it; an existing label keeps its key)."""
    print(_keys().add(label))


@app.command()
def remove(label: str) -> None:
    """Delete an agent's key (the last key cannot be removed)."""
    from kimibridge.cli._output import error

    if not _keys().remove(label):
        error(f"no removable key labelled {label!r} (see `kimibridge key list`)")
        raise typer.Exit(1)


@app.command()
def path() -> None:
    """Where the key file lives."""
    print(_keys().path)
