"""``kimibridge serve``: the local gateway every coding agent can use, in the foreground."""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

import typer

from kimibridge.cli._app import command_app

__all__ = ["app"]

HELP = """\
Run the local gateway: one endpoint for every coding agent, in its own dialect
(OpenAI Chat Completions or Anthropic Messages), in front of Kimi For Coding.

Every request needs the local key (`kimibridge key` shows it), sent as x-api-key or
Authorization: Bearer. The gateway binds 127.0.0.1 unless --host and --allow-remote say otherwise.

\b
Examples:
  kimibridge serve                       # http://127.0.0.1:8765, Kimi's OpenAI endpoint
  kimibridge serve --offline             # no account: the built-in Kimi emulator upstream
  kimibridge serve --upstream-protocol anthropic
  kimibridge serve --model-map 'claude-*haiku*=kimi-for-coding-highspeed'
  kimibridge serve --stop                # stop the gateway started in the background

\b
Point agents at it:
  Claude Code   ANTHROPIC_BASE_URL=http://127.0.0.1:8765  ANTHROPIC_API_KEY=<key>
  OpenAI SDKs   OPENAI_BASE_URL=http://127.0.0.1:8765/v1  OPENAI_API_KEY=<key>
The prefixes /anthropic and /openai also work (e.g. http://127.0.0.1:8765/anthropic).
"""

app = command_app()


@app.command(help=HELP)
def serve(
    host: Annotated[str | None, typer.Option(help="Address to bind [default: 127.0.0.1].")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to bind; 0 picks a free one [default: 8765].")
    ] = None,
    upstream_protocol: Annotated[
        str, typer.Option(help="Kimi endpoint to call: openai (default) or anthropic.")
    ] = "openai",
    offline: Annotated[
        bool, typer.Option("--offline", help="Use the built-in Kimi emulator as the upstream.")
    ] = False,
    allow_remote: Annotated[
        bool, typer.Option("--allow-remote", help="Allow binding a non-loopback address.")
    ] = False,
    model_map: Annotated[
        str | None,
        typer.Option(
            metavar="PATTERN=MODEL,...", help="Client model names to Kimi models, first match wins."
        ),
    ] = None,
    no_ledger: Annotated[bool, typer.Option("--no-ledger", help="Do not record usage.")] = False,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    stop: Annotated[
        bool, typer.Option("--stop", help="Stop the gateway running in the background.")
    ] = False,
) -> None:
    from kimibridge.config import UNSET, Paths, Settings

    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    if stop:
        _stop(paths)
        return

    from kimibridge.cli._output import bind_failed, warn
    from kimibridge.errors import ConfigError, NeedsLogin
    from kimibridge.gateway import server as srv
    from kimibridge.kimi.model_map import DEFAULT_MODEL_MAP, parse_model_map

    if upstream_protocol not in ("openai", "anthropic"):
        raise ConfigError(
            f"--upstream-protocol is {upstream_protocol!r}; expected openai or anthropic"
        )
    protocol: Literal["openai", "anthropic"] = (
        "anthropic" if upstream_protocol == "anthropic" else "openai"
    )
    flags: dict[str, Any] = {
        "gateway.host": UNSET if host is None else host,
        "gateway.port": port if port else UNSET,  # 0 (any free port) is a bind choice only
    }
    settings = Settings.load(paths, environ=environ, flags=flags)
    bind_host, bind_port = settings.gateway.host, settings.gateway.port if port is None else port
    if not srv.is_loopback_bind(bind_host):
        if not allow_remote:
            raise ConfigError(
                f"--host {bind_host} is not a loopback address; add --allow-remote to expose the gateway"
            )
        warn(
            f"the gateway listens on {bind_host}: anyone who can reach it with the local key uses "
            "your Kimi account"
        )
    try:
        rules = parse_model_map(model_map) if model_map else DEFAULT_MODEL_MAP
    except ValueError as exc:
        raise ConfigError(f"--model-map: {exc}") from None

    def build(offline_now: bool) -> srv.Built:
        from kimibridge.team.agent_mcp import TeamExtension  # the mcp SDK: only when serving
        from kimibridge.tools.gateway_mount import KimiToolsExtension

        options = srv.BuildOptions(
            upstream_protocol=protocol,
            offline=offline_now,
            allow_remote=allow_remote,
            model_map=rules,
            ledger=not no_ledger,
            extensions=(TeamExtension, KimiToolsExtension),
        )
        return srv.build_gateway(settings, paths, environ, options)

    try:
        built = build(offline)
    except NeedsLogin:
        if not _ask_offline():
            raise NeedsLogin(
                "not signed in to Kimi; run `kimibridge login`, or `kimibridge serve --offline` "
                "for the built-in emulator"
            ) from None
        offline = True
        built = build(True)
    try:
        try:
            sock = srv.bind_socket(bind_host, bind_port)
        except OSError as exc:
            raise bind_failed(exc, bind_host, bind_port) from None
        real_port = sock.getsockname()[1]
        _banner(built, bind_host, real_port, offline, protocol)
        srv.write_pidfile(paths, bind_host, real_port, offline=offline)
        try:
            srv.serve_foreground(built.gateway, sock, log_level=log_level)
        finally:
            srv.remove_pidfile(paths)
            sock.close()
    finally:
        built.close()
    print("kimibridge gateway stopped.", flush=True)


def _ask_offline() -> bool:
    import sys

    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        return False
    return typer.confirm(
        "No Kimi login found. Start with the built-in emulator instead?", default=False
    )


def _banner(built: Any, host: str, port: int, offline: bool, protocol: str) -> None:
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}"
    lines = [f"kimibridge gateway on {url} (Ctrl-C to stop)"]
    if offline:
        lines.append("  OFFLINE: the upstream is the built-in Kimi emulator; answers are canned.")
    lines += [
        f"  upstream        {built.upstream_url} ({protocol} dialect)",
        f"  identity        {built.identity_preset}"
        + (
            " (each agent's own User-Agent is sent; Kimi admits coding agents only)"
            if built.identity_preset == "harness"
            else ""
        ),
        "  local key       `kimibridge key` shows it",
        "",
        f"  Anthropic base  {url}            (ANTHROPIC_BASE_URL)",
        f"  OpenAI base     {url}/v1         (OPENAI_BASE_URL)",
        f"  Kimi tools      {url}/mcp/kimi   (MCP, streamable HTTP)",
    ]
    if offline:
        lines += ["", "  Try it (another terminal):", f"    {try_command(url)}"]
    print("\n".join(lines), flush=True)


def try_command(url: str) -> str:
    """One copy-paste request through the gateway. The emulator, like Kimi, admits coding agents
    only; ``kimibridge/`` is kimibridge's own honest User-Agent, which the emulator admits."""
    body = '{"model":"kimi-for-coding","messages":[{"role":"user","content":"hi"}]}'
    return (
        f'curl -s {url}/v1/chat/completions -H "x-api-key: $(kimibridge key)" '
        f"-A kimibridge/try -H 'content-type: application/json' -d '{body}'"
    )


def _stop(paths: Any) -> None:
    import signal

    from kimibridge.gateway.pidfile import read_pidfile

    info = read_pidfile(paths)
    if info is None:
        print("no kimibridge gateway is running.")
        return
    os.kill(int(info["pid"]), signal.SIGTERM)
    print(f"stopped the gateway on {info.get('url')} (pid {info['pid']}).")
