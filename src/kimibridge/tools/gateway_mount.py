"""Kimi's tools on the gateway's own port: ``<gateway>/mcp/kimi``, streamable HTTP.

The same server as ``kimibridge mcp --http``, for clients that already talk to the gateway: one
URL and one local key (the gateway's ``LocalAuth`` has checked it before a request gets here).
The tools use the gateway's own credential; behind ``serve --offline`` they answer from its
built-in emulator.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any, Final, Protocol

from kimibridge.config import Paths, Settings
from kimibridge.tools.enabled import enabled_tools

__all__ = ["MOUNT_PATH", "KimiToolsExtension"]

MOUNT_PATH: Final = "/mcp/kimi"


class _Gateway(Protocol):
    """What this mount needs of ``gateway.app.Gateway`` (tools may not import the gateway)."""

    upstream: Any  # a kimi.upstream.KimiUpstream: base_url, identity, token_source
    config: Any


class KimiToolsExtension:
    """A gateway extension (``gateway.app.Extension``) serving the Kimi tools at ``/mcp/kimi``."""

    def __init__(self, paths: Paths, environ: Mapping[str, str]) -> None:
        self.prefix = MOUNT_PATH
        self.paths = paths
        self.environ = dict(environ)
        self._app: Any = None
        self._tools: Any = None
        self._stack = contextlib.AsyncExitStack()

    async def start(self, gateway: _Gateway) -> None:
        from kimibridge.kimi.account import Account
        from kimibridge.kimi.endpoints import Endpoints
        from kimibridge.tools.mcp_server import KimiTools, build_server

        upstream = gateway.upstream
        base = upstream.base_url
        # The gateway's upstream carries the base URL, identity and credential it was built with
        # (the region was checked when that credential was opened; only api_base is used here).
        account = Account(
            Endpoints(region="mainland", auth_host=base, api_base=base),
            upstream.identity,
            upstream.token_source,
        )
        self._tools = KimiTools(lambda: account, offline=bool(gateway.config.offline))
        settings = Settings.load(self.paths, environ=self.environ)
        # The gateway serves every project: the user's settings decide, not a project file.
        server = build_server(self._tools, enabled_tools(settings, None))
        self._app = server.streamable_http_app(
            streamable_http_path=MOUNT_PATH, stateless_http=True, json_response=False
        )
        await self._stack.enter_async_context(server.session_manager.run())
        self._stack.push_async_callback(self._tools.aclose)

    async def stop(self) -> None:
        await self._stack.aclose()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self._app(scope, receive, send)
