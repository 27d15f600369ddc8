"""`kimibridge login`: the Kimi Code API key first, the OAuth device login on explicit choice."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from kimibridge.cli._app import command_app

__all__ = ["app"]

app = command_app()


class RegionChoice(enum.StrEnum):
    mainland = "mainland"
    global_ = "global"


class ShareChoice(enum.StrEnum):
    own = "own"
    kimi_cli = "kimi-cli"
    kimi_code = "kimi-code"


class PresetChoice(enum.StrEnum):
    harness = "harness"
    kimibridge = "kimibridge"
    kimi_cli = "kimi-cli"
    kimi_code = "kimi-code"
    custom = "custom"


EXIT_USAGE = 2

INTRO = """\
Two ways to sign in to Kimi For Coding:

  1. A Kimi Code API key (recommended). Create one for third-party coding agents in the
     Kimi Code console; this is the way Kimi offers to tools that are not its own.
  2. The OAuth device login Kimi's own CLI uses. It can reach subscription models a key
     may not, but Kimi's rules reserve it for Kimi's official clients.
"""

NO_CHOICE = (
    "choose how to sign in: `kimibridge login --api-key` (recommended; the key comes from "
    "--api-key-stdin or KIMI_API_KEY) or `kimibridge login --oauth` (see docs/account-safety.md)"
)


@app.command("login")
def login(
    api_key: Annotated[
        bool,
        typer.Option(
            "--api-key",
            help="Sign in with a Kimi Code API key: prompted (hidden), or from KIMI_API_KEY.",
        ),
    ] = False,
    api_key_stdin: Annotated[
        bool,
        typer.Option(
            "--api-key-stdin", help="Read the API key from standard input (implies --api-key)."
        ),
    ] = False,
    oauth: Annotated[
        bool,
        typer.Option("--oauth", help="Use Kimi's OAuth device login instead (read the risk)."),
    ] = False,
    share: Annotated[
        ShareChoice | None,
        typer.Option(
            "--share",
            help="OAuth: reuse kimi-cli's or Kimi Code's existing login, or `own` for a new one.",
        ),
    ] = None,
    region: Annotated[
        RegionChoice | None,
        typer.Option("--region", help="Kimi deployment: mainland (kimi.com) or global (kimi.ai)."),
    ] = None,
    identity: Annotated[
        PresetChoice | None,
        typer.Option(
            "--identity",
            help="Identity preset to store (default: harness with a key, kimi-cli with OAuth).",
        ),
    ] = None,
    no_browser: Annotated[
        bool,
        typer.Option("--no-browser", help="Do not open a browser; just print the URL and code."),
    ] = False,
    timeout: Annotated[
        float,
        typer.Option("--timeout", hidden=True, min=1.0, help="Device login limit, seconds."),
    ] = 15 * 60.0,
) -> None:
    """Sign in to Kimi For Coding, with an API key (recommended) or the OAuth device login.

    The key is never read from the command line: it comes from a hidden prompt, from
    --api-key-stdin, or from KIMI_API_KEY. It is checked with one call to /models and is not
    stored if Kimi rejects it. With a key the identity preset is harness (a kimibridge or
    custom preset already chosen is kept); the OAuth login proposes kimi-cli and says so.
    --identity chooses explicitly. Without a terminal, --api-key or --oauth is required.

    Examples:

    \b
      kimibridge login                              # explains both, asks, defaults to the key
      kimibridge login --api-key                    # hidden prompt for the key
      pass kimi/key | kimibridge login --api-key-stdin
      KIMI_API_KEY=sk-kimi-... kimibridge login --api-key --region global
      kimibridge login --oauth                      # device login in the browser
      kimibridge login --oauth --share kimi-cli     # reuse kimi-cli's login
      kimibridge login --oauth --identity kimibridge --no-browser
    """
    from kimibridge.cli import _login_flow as flow
    from kimibridge.cli._account import RISK_SENTENCE, account_context, stdin_is_interactive
    from kimibridge.cli._output import console, error
    from kimibridge.config import UNSET
    from kimibridge.kimi.endpoints import ENV_API_KEY

    use_key = api_key or api_key_stdin
    if use_key and (oauth or share is not None):
        error("--api-key and --oauth/--share are two different ways to sign in; pick one")
        raise typer.Exit(EXIT_USAGE)
    ctx = account_context({"region": region.value if region else UNSET})
    interactive = stdin_is_interactive()
    env_key = ctx.environ.get(ENV_API_KEY, "").strip()

    method: str
    if use_key:
        method = "api_key"
    elif oauth or share is not None:
        method = "oauth"
    elif env_key:
        method = "api_key"
        console.print(f"Using the API key in {ENV_API_KEY}.")
    elif not interactive:
        error(NO_CHOICE)
        raise typer.Exit(EXIT_USAGE)
    else:
        console.print(INTRO, highlight=False)
        answer = typer.prompt("Sign in with [1] an API key or [2] the OAuth login", default="1")
        method = "oauth" if answer.strip() in ("2", "oauth") else "api_key"

    if ctx.login is not None:
        current = "an API key" if ctx.login.method == "api_key" else "the OAuth login"
        console.print(
            f"Already signed in with {current}; a successful sign-in replaces it.",
            highlight=False,
            soft_wrap=True,
        )
    preset = identity.value if identity else None
    if method == "api_key":
        key, from_env = flow.read_api_key(api_key_stdin, env_key, interactive)
        flow.login_with_api_key(ctx, key, preset or flow.key_preset(ctx), from_env=from_env)
        return
    console.print(f"[yellow]Note:[/] {RISK_SENTENCE}", highlight=False)
    shared = flow.pick_shared_login(ctx, share.value if share else None, interactive)
    if preset is None:
        preset = flow.propose_kimi_cli_identity(ctx, interactive)
    flow.login_with_oauth(ctx, shared, preset, browser=not no_browser, timeout=timeout)
