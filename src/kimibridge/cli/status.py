"""`kimibridge status`: how kimibridge signs in, what it tells Kimi, and what the account has."""

from __future__ import annotations

import enum
import json
import time
from typing import Annotated, Any

import typer

from kimibridge.cli._app import command_app

__all__ = ["app"]

app = command_app()


class RegionChoice(enum.StrEnum):
    mainland = "mainland"
    global_ = "global"


@app.command("status")
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            "--no-network",
            help="Do not call Kimi: show the stored login, identity and cached models only.",
        ),
    ] = False,
    region: Annotated[
        RegionChoice | None,
        typer.Option("--region", help="Check against this region's hosts instead."),
    ] = None,
) -> None:
    """Show the sign-in method, region, token, sharing mode, identity preset (with its risk and
    the exact headers sent, token redacted), the account, its models and its quota.

    Every failure is one line and a non-zero exit: not signed in (1), Kimi unreachable (1),
    403 access_terminated_error (1), a login from the other region (1).

    Examples:

    \b
      kimibridge status
      kimibridge status --json | jq .identity.headers
      kimibridge status --offline
    """
    from kimibridge.cli._account import account_context
    from kimibridge.cli._status_info import gather_status
    from kimibridge.config import UNSET

    ctx = account_context({"region": region.value if region else UNSET})
    info = gather_status(ctx, offline=offline)
    if as_json:
        typer.echo(json.dumps(info, indent=2))
        return
    _render(info)


# Labels for kimi.identity.RequestKind values; an unknown kind is shown by its own name.
_ROUTES = {
    "model": "/chat/completions, /messages, /files",
    "account": "/models, /usages",
    "service": "/search, /fetch, /tools, /me",
}


def _expiry_text(info: dict[str, Any]) -> str:
    if info["method"] == "api_key":
        return "API key (does not expire)"
    if info["expires_at"] is None:
        return "unknown"
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(info["expires_at"]))
    left = info["expires_in_s"]
    if left <= 0:
        return f"expired at {when} (renewed on next use)"
    return f"expires in {left // 60} min {left % 60} s (at {when})"


def _source_text(info: dict[str, Any]) -> str:
    src = info["token_source"]
    if src["kind"] == "env":
        return f"environment variable {src['variable']}"
    if src["kind"] == "own":
        return f"kimibridge's own file {src['path']}"
    return f"{src['kind']}'s file {src['path']} (shared)"


def _quota_lines(usage: dict[str, Any] | None) -> list[str]:
    if not usage:
        return []
    from kimibridge.cli._quota import quota_line
    from kimibridge.kimi.quota import parse_usages

    return [quota_line(w) for w in parse_usages(usage).windows]


def _render(info: dict[str, Any]) -> None:
    from rich.table import Table

    from kimibridge.cli._output import console

    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold")
    table.add_column()
    method = "Kimi Code API key" if info["method"] == "api_key" else "OAuth device login"
    table.add_row("Signed in", f"{method} ({info.get('who') or 'account not checked'})")
    table.add_row("Region", f"{info['region']}: {info['api_base']} (sign-in {info['auth_host']})")
    table.add_row("Token", f"{_expiry_text(info)}, from {_source_text(info)}")
    table.add_row("Sharing", info["sharing"])
    ident = info["identity"]
    flag = " [bold yellow]RISK[/]" if info["risk"] else ""
    table.add_row("Identity", f"{ident['preset']}{flag}: {ident['summary']}")
    if ident.get("risk"):
        table.add_row("", f"[yellow]{ident['risk']}[/]")
    for kind, headers in ident["headers"].items():
        lines = "\n".join(f"  {name}: {value}" for name, value in headers.items())
        table.add_row("", f"on {_ROUTES.get(kind, kind)}:\n{lines}")
    models = info["models"]
    text = ", ".join(
        f"{m['id']} ({m['context_length']:,} ctx, thinking {m['thinking']})" for m in models
    )
    cached = " (cached)" if info["offline"] else ""
    table.add_row("Models", (text or "none known; run without --offline") + cached)
    tools = info["tools"]
    names = ", ".join(tools["enabled"]) or "all off"
    where = f" (switched in {tools['project_file']})" if tools["project_file"] else ""
    usable = "" if tools["usable"] else "; they need the OAuth sign-in, calls answer with an error"
    table.add_row("Kimi tools", f"{names} via `kimibridge mcp`{where}{usable}")
    quota = _quota_lines(info["usage"])
    if quota:
        table.add_row("Quota", "\n".join(quota))
    elif not info["offline"]:
        table.add_row("Quota", "not available")
    console.print(table, highlight=False)
