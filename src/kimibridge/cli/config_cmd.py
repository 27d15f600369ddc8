"""`kimibridge config`: show the resolved settings and where each came from; edit the file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

import typer

from kimibridge.cli._app import command_app
from kimibridge.config import KEYS, Paths, Settings, parse_value, update_config_file

__all__ = ["app", "load_settings"]

app = command_app(
    help="Show and change kimibridge's settings (defaults < config file < environment < flags).",
    no_args_is_help=True,
)

_SECRET_WORDS = ("authorization", "key", "token", "secret", "cookie")


def load_settings(flags: Mapping[str, object] | None = None) -> tuple[Paths, Settings]:
    """The CLI's one way to resolve settings: this process's environment plus the given flags."""
    paths = Paths.from_env(os.environ)
    return paths, Settings.load(paths, environ=os.environ, flags=flags or {})


def _shown(key: str, value: object) -> object:
    """Header values that look like secrets are redacted in anything printed."""
    if key == "identity.custom_headers" and isinstance(value, dict):
        return {
            name: "***" if any(w in name.lower() for w in _SECRET_WORDS) else v
            for name, v in value.items()
        }
    return value


@app.command("show")
def show(
    as_json: bool = typer.Option(False, "--json", help="Print JSON: {key: {value, source}}."),
) -> None:
    """Print every setting, its value and where the value came from.

    Examples:

    \b
      kimibridge config show
      KIMIBRIDGE_REGION=global kimibridge config show --json
    """
    paths, settings = load_settings()
    rows = [(key, _shown(key, value), str(source)) for key, value, source in settings.items()]
    if as_json:
        data = {key: {"value": value, "source": source} for key, value, source in rows}
        typer.echo(json.dumps(data, indent=2))
        return
    from rich.table import Table

    from kimibridge.cli._output import console

    table = Table(title=f"settings (file: {paths.config_file})", title_justify="left")
    table.add_column("key")
    table.add_column("value")
    table.add_column("source", style="dim")
    for key, value, source in rows:
        text = "-" if value is None or value == {} else json.dumps(value)
        table.add_row(key, text.strip('"'), source)
    console.print(table)


@app.command("path")
def path() -> None:
    """Print where the config file lives (it may not exist yet).

    Examples:

    \b
      kimibridge config path
      $EDITOR "$(kimibridge config path)"
    """
    typer.echo(str(Paths.from_env(os.environ).config_file))


@app.command("set")
def set_(
    key: str = typer.Argument(..., help=f"One of: {', '.join(KEYS)}."),
    value: str = typer.Argument(..., help="The value, written as in the environment variable."),
) -> None:
    """Write one setting to the config file (comments in the file are kept).

    Examples:

    \b
      kimibridge config set identity.preset kimibridge
      kimibridge config set gateway.port 8800
      kimibridge config set identity.versions kimi-cli=1.51.0
    """
    paths = Paths.from_env(os.environ)
    update_config_file(paths.config_file, {key: parse_value(key, value)})
    typer.echo(f"{key} set in {paths.config_file}")


@app.command("unset")
def unset(key: str = typer.Argument(..., help=f"One of: {', '.join(KEYS)}.")) -> None:
    """Remove one setting from the config file, so its default (or environment) applies.

    Examples:

    \b
      kimibridge config unset identity.preset
    """
    paths = Paths.from_env(os.environ)
    update_config_file(paths.config_file, {key: None})
    typer.echo(f"{key} removed from {paths.config_file}")
