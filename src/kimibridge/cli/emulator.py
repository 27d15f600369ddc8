"""``kimibridge emulator``: a Kimi-compatible server on loopback, in the foreground."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Annotated

import typer

from kimibridge.cli._app import command_app

__all__ = ["DEFAULT_API_KEY", "DEFAULT_PORT", "app"]

DEFAULT_PORT = 8787
# Registered on every CLI-started emulator so a user can try it at once; it only works here.
DEFAULT_API_KEY = "sk-kimi-emulator-local-key"

HELP = """\
Run the built-in Kimi emulator on loopback, in the foreground (Ctrl-C stops it).

It behaves like Kimi For Coding: OAuth device login, both API dialects, models, files,
search, fetch, tools, usages, scripted replies and injected faults. No account, no network.

\b
Examples:
  kimibridge emulator                          # http://127.0.0.1:8787
  kimibridge emulator --port 0                 # any free port (printed)
  kimibridge emulator --scenario turns.yaml    # scripted replies
  kimibridge emulator --token-ttl 30 --approve-after 0
  kimibridge emulator --api-key sk-kimi-mine --latency 50

\b
Then, in another shell (use the lines it prints):
  export KIMI_CODE_BASE_URL=http://127.0.0.1:8787/coding/v1
  export KIMI_CODE_OAUTH_HOST=http://127.0.0.1:8787
  curl -s -H "Authorization: Bearer sk-kimi-emulator-local-key" \\
       -H "User-Agent: kimibridge/dev" $KIMI_CODE_BASE_URL/models

The control API under /_emulator/ (approve logins, inject faults, read requests) is
described in docs/emulator.md.
"""

app = command_app()


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@app.command(help=HELP)
def emulator(
    host: Annotated[str, typer.Option(help="Address to bind (loopback advised).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port to bind; 0 picks a free one.")
    ] = DEFAULT_PORT,
    scenario: Annotated[
        Path | None,
        typer.Option(
            exists=True, dir_okay=False, readable=True, help="YAML or JSON file of scripted turns."
        ),
    ] = None,
    token_ttl: Annotated[float, typer.Option(help="Access token lifetime, seconds.")] = 900.0,
    latency: Annotated[float, typer.Option(help="Delay added before every answer, ms.")] = 0.0,
    approve_after: Annotated[
        int,
        typer.Option(min=0, help="Device logins approve themselves after N pending polls."),
    ] = 1,
    poll_interval: Annotated[
        int, typer.Option(min=0, help="Device-flow poll interval; faster polls get slow_down.")
    ] = 5,
    manual_approval: Annotated[
        bool,
        typer.Option(
            "--manual-approval",
            help="Never auto-approve device logins; approve via the control API.",
        ),
    ] = False,
    api_key: Annotated[
        list[str] | None,
        typer.Option(metavar="KEY", help="Extra static API key to accept (repeatable)."),
    ] = None,
    accept_any_key: Annotated[
        bool, typer.Option("--accept-any-key", help="Accept any bearer starting with sk-kimi-.")
    ] = False,
) -> None:
    from kimibridge.cli._output import bind_failed, error, warn
    from kimibridge.emulator.app import Emulator, EmulatorConfig
    from kimibridge.emulator.server import Urls, run_foreground

    if not _is_loopback(host):
        warn(f"binding {host}: the emulator and its control API have no real auth; keep it local.")
    config = EmulatorConfig(
        token_ttl=token_ttl,
        latency_ms=latency,
        scenario_path=scenario,
        static_keys=(DEFAULT_API_KEY, *(api_key or [])),
        accept_any_static_key=accept_any_key,
        approve_after_polls=None if manual_approval else approve_after,
        poll_interval=poll_interval,
    )

    def ready(urls: Urls) -> None:
        lines = [
            f"Kimi emulator listening on {urls.url} (Ctrl-C to stop)",
            f"  OpenAI base     {urls.base_url}",
            f"  Anthropic base  {urls.anthropic_base_url}",
            f"  OAuth host      {urls.oauth_host}",
            f"  API key         {DEFAULT_API_KEY}",
            f"  Control API     {urls.url}/_emulator/",
            "",
            "Environment for kimibridge and kimi clients:",
            f"  export KIMI_CODE_BASE_URL={urls.base_url}",
            f"  export KIMI_CODE_OAUTH_HOST={urls.oauth_host}",
            f"  export KIMI_API_KEY={DEFAULT_API_KEY}",
        ]
        print("\n".join(lines), flush=True)

    try:
        emu = Emulator(config)  # loads --scenario
    except (OSError, ValueError) as exc:
        error(f"cannot load scenario {scenario}: {exc}")
        raise typer.Exit(1) from None
    try:
        run_foreground(emu, host, port, ready)
    except OSError as exc:
        raise bind_failed(exc, host, port) from None
    print("Kimi emulator stopped.", flush=True)
