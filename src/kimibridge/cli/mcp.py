"""``kimibridge mcp``: Kimi's server-side tools as an MCP server (stdio, or HTTP with --http)."""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kimibridge.cli._app import command_app

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.server.mcpserver import MCPServer

    from kimibridge.config import Paths, Settings
    from kimibridge.tools.mcp_server import KimiTools

__all__ = ["app"]

HELP = """\
Serve Kimi's server-side tools over MCP, so any harness can use them:
moonshot_search (web search), moonshot_fetch (a page as markdown) and kimi_datasource
(finance, economics, companies, papers, law). They run on your Kimi account and need the
OAuth sign-in (`kimibridge login --oauth`); with an API key each call says so.

By default it speaks MCP on stdin/stdout: harnesses start it themselves, and
`kimibridge setup claude|opencode|kimi --tools` registers it. With --http it serves streamable
HTTP at http://127.0.0.1:<port>/mcp, for clients that connect to a URL; every request needs the
local key (`kimibridge key`) as Authorization: Bearer.

Which tools are on: all by default; `kimibridge config set tools.moonshot_fetch.enabled false`
for you, or a project's .kimibridge.toml (nearest at or above the working directory):

\b
  [tools.kimi_datasource]
  enabled = false

\b
Examples:
  kimibridge mcp --list                 # the tools this directory gets, and why
  kimibridge mcp --http --port 8766     # streamable HTTP on loopback
  kimibridge mcp --offline              # canned answers from the built-in emulator
  kimibridge run claude --offline --tools   # try the tools in Claude Code, no account
"""

app = command_app()


@app.command(help=HELP)
def mcp(
    http: Annotated[bool, typer.Option("--http", help="Serve streamable HTTP, not stdio.")] = False,
    host: Annotated[str, typer.Option(help="Address for --http (loopback only).")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port for --http; 0 picks a free one.")
    ] = 8766,
    project: Annotated[
        Path | None,
        typer.Option(help="The project whose .kimibridge.toml applies [default: the cwd]."),
    ] = None,
    list_only: Annotated[
        bool, typer.Option("--list", help="Print the enabled tools and exit.")
    ] = False,
    offline: Annotated[
        bool,
        typer.Option(
            "--offline",
            envvar="KIMIBRIDGE_MCP_OFFLINE",
            help="Answer from the built-in Kimi emulator (canned results, no account).",
        ),
    ] = False,
) -> None:
    from kimibridge.config import Paths, Settings
    from kimibridge.errors import ConfigError
    from kimibridge.tools.enabled import merged_tools
    from kimibridge.tools.spec import TOOL_NAMES

    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    settings = Settings.load(paths, environ=environ)
    project_dir = (project or Path.cwd()).resolve()
    tools_settings, project_file = merged_tools(settings, project_dir)
    enabled = tuple(n for n in TOOL_NAMES if getattr(tools_settings, n).enabled)
    if list_only:
        for name in TOOL_NAMES:
            print(f"{name:16} {'on' if name in enabled else 'off'}")
        source = f"{project_file} over {paths.config_file}" if project_file else paths.config_file
        print(f"(settings: {source})")
        return
    if http:
        from kimibridge.gateway.local_auth import is_loopback_host

        if not is_loopback_host(host):
            raise ConfigError(f"--host {host} is not a loopback address; the MCP server is local")
    from kimibridge.kimi.account import open_account
    from kimibridge.tools.mcp_server import KimiTools, build_server

    if offline:
        tools, stop = _offline_tools(settings, environ)
        atexit.register(stop)
        sys.stderr.write("kimibridge mcp: OFFLINE, answers come from the built-in Kimi emulator\n")
    else:
        tools = KimiTools(lambda: open_account(paths, settings, environ))
    server = build_server(tools, enabled)
    if not http:
        if sys.stdin.isatty():
            sys.stderr.write(
                "kimibridge mcp speaks MCP on stdin/stdout for a harness to start; "
                "`kimibridge setup <harness> --tools` registers it (Ctrl-C to quit).\n"
            )
        import anyio

        async def stdio() -> None:
            try:
                await server.run_stdio_async()
            finally:
                await tools.aclose()

        with contextlib.suppress(KeyboardInterrupt):
            anyio.run(stdio)
        return
    _serve_http(server, tools, paths, host, port, enabled)


def _offline_tools(
    settings: Settings, environ: dict[str, str]
) -> tuple[KimiTools, Callable[[], None]]:
    """The tools over an emulator started in this process (as `serve --offline` does)."""
    from kimibridge.gateway.server import start_offline_upstream
    from kimibridge.kimi.account import Account, identity_for
    from kimibridge.kimi.endpoints import Endpoints
    from kimibridge.tools.mcp_server import KimiTools

    base_url, source, stop = start_offline_upstream()
    endpoints = Endpoints(region="mainland", auth_host=base_url, api_base=base_url)
    account = Account(endpoints, identity_for(settings, environ), source)
    return KimiTools(lambda: account, offline=True), stop


def _serve_http(
    server: MCPServer[Any],
    tools: KimiTools,
    paths: Paths,
    host: str,
    port: int,
    enabled: tuple[str, ...],
) -> None:
    import asyncio

    import uvicorn

    from kimibridge.cli._output import bind_failed, err_console
    from kimibridge.gateway.local_auth import HostCheck, LocalAuth, LocalKeys
    from kimibridge.gateway.server import bind_socket
    from kimibridge.tools.mcp_server import HTTP_PATH, http_app

    keys = LocalKeys.load_or_create(paths.config_dir)
    app = HostCheck(LocalAuth(http_app(server), keys, open_paths=()))
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        raise bind_failed(exc, host, port) from None
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    err_console.print(
        f"kimibridge mcp: http://{shown}:{bound}{HTTP_PATH} (streamable HTTP), tools: "
        f"{', '.join(enabled) or 'none'}\n"
        "send the local key as Authorization: Bearer (`kimibridge key` shows it); Ctrl-C stops",
        highlight=False,
    )
    config = uvicorn.Config(app, log_level="warning", lifespan="on", server_header=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        asyncio.run(tools.aclose())
