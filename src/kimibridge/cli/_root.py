"""The root command: a Typer app whose groups are imported on first use."""

from __future__ import annotations

import importlib
import sys

import typer
from typer import _click as click  # Typer >= 0.29 vendors click; pinned in pyproject
from typer.core import TyperGroup

from kimibridge._version import __version__

# name -> (module, Typer app attribute, one-line help). One line per command group; the
# module is imported only when the command runs (or when its own --help is asked for).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "emulator": ("kimibridge.cli.emulator", "app", "Run the built-in Kimi emulator on loopback."),
    "config": ("kimibridge.cli.config_cmd", "app", "Show and change settings, with their sources."),
    "login": ("kimibridge.cli.login", "app", "Sign in to Kimi: an API key (recommended) or OAuth."),
    "logout": ("kimibridge.cli.logout", "app", "Remove kimibridge's own credential."),
    "status": ("kimibridge.cli.status", "app", "Show sign-in, identity and its risk, quota."),
    "serve": ("kimibridge.cli.serve", "app", "Run the local gateway every coding agent can use."),
    "key": ("kimibridge.cli.key", "app", "Show or add the gateway's local keys (one per agent)."),
    "usage": ("kimibridge.cli.usage", "app", "Tokens and cache hits through the gateway."),
    "team": ("kimibridge.cli.team", "app", "Teams of coding agents in tmux, on Kimi."),
    "run": ("kimibridge.cli.run", "app", "Run claude, pi, opencode or kimi on Kimi, one command."),
    "setup": ("kimibridge.cli.setup", "app", "Point a harness's own command at kimibridge."),
    "mcp": ("kimibridge.cli.mcp", "app", "Kimi's search, fetch and datasource tools over MCP."),
    "models": ("kimibridge.cli.models", "app", "Kimi's models: context, thinking, efforts."),
}

QUICK_START = """\
One Kimi For Coding login, one local endpoint for every coding agent.

Quick start:

\b
  kimibridge login               # a Kimi Code API key (recommended) or --oauth
  kimibridge run claude          # Claude Code on Kimi (also: pi, opencode, kimi)
  kimibridge serve               # one local endpoint for any agent (--offline: no account)
  kimibridge status              # sign-in, identity headers and risk, models, quota

Every command's help: docs/cli.md.
"""


class LazyGroup(TyperGroup):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*super().list_commands(ctx), *COMMANDS]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return super().get_command(ctx, cmd_name)
        module_name, attr, _help = COMMANDS[cmd_name]
        target: typer.Typer = getattr(importlib.import_module(module_name), attr)
        # A Typer app with one command and no callback becomes that command itself.
        return typer.main.get_command(target)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing help must not import every group: use the one-line help from COMMANDS.
        rows = [(name, COMMANDS[name][2]) for name in sorted(COMMANDS)]
        rows += [
            (name, cmd.get_short_help_str())
            for name in super().list_commands(ctx)
            if (cmd := super().get_command(ctx, name)) is not None
        ]
        with formatter.section("Commands"):
            formatter.write_dl(sorted(rows))


app = typer.Typer(
    cls=LazyGroup,
    help=QUICK_START,
    no_args_is_help=True,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        print(f"kimibridge {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_version, is_eager=True, help="Print the version."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks for errors."),
) -> None:
    """One Kimi For Coding login, one local endpoint for every coding agent."""
    _state["debug"] = debug


_state: dict[str, bool] = {"debug": False}


def run(args: list[str]) -> None:
    """Run the CLI; a KimibridgeError becomes one red line and exit code 1."""
    from kimibridge.errors import KimibridgeError

    command = typer.main.get_command(app)
    try:
        # Standalone mode: click prints usage errors (exit 2) and handles Ctrl-C itself.
        command.main(args=args, prog_name="kimibridge")
    except KimibridgeError as exc:
        if _state["debug"]:
            raise
        from kimibridge.cli._output import error

        error(str(exc))
        sys.exit(1)
