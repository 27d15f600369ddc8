"""The MCP server for Kimi's server-side tools (official ``mcp`` SDK), over stdio or HTTP.

    tools = KimiTools(lambda: open_account(paths, settings, environ))
    server = build_server(tools, enabled_tools(settings, Path.cwd()))
    await server.run_stdio_async()                 # what a harness spawns
    app = http_app(server)                         # streamable HTTP (the CLI adds local auth)

The account is opened on the first call, not at start: a harness starts its MCP servers with
every session, and one without a login should still list the tools and get a readable error
when it calls one. Every call sends the identity headers plus ``X-Msh-Tool-Call-Id``, refreshes
and retries once on a 401 and times out at 180 s (``kimi.upstream``'s tool routes).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, Final

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.types import ToolAnnotations
from pydantic import Field

from kimibridge.errors import KimibridgeError
from kimibridge.tools import datasource as datasource_tool
from kimibridge.tools import fetch as fetch_tool
from kimibridge.tools import search as search_tool
from kimibridge.tools.failures import ToolFailure, describe, needs_oauth
from kimibridge.tools.spec import DATA_SOURCES, SERVER_NAME, ToolName

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from kimibridge.kimi.account import Account
    from kimibridge.kimi.upstream import KimiUpstream

__all__ = ["HTTP_PATH", "KimiTools", "build_server", "http_app"]

HTTP_PATH: Final = "/mcp"
_READ_ONLY: Final = ToolAnnotations(read_only_hint=True, open_world_hint=True)


def _tool_call_id() -> str:
    # MCP does not pass the model's tool-call id to servers; Kimi only needs one per call.
    return "kb_" + secrets.token_hex(12)


class KimiTools:
    """The three tools over one account, opened on first use and kept for the process."""

    def __init__(self, open_account: Callable[[], Account], *, offline: bool = False) -> None:
        self._open_account = open_account
        # The built-in emulator takes the offline key on its tool routes; Kimi takes OAuth only.
        self._offline = offline
        self._account: Account | None = None
        self._upstream: KimiUpstream | None = None

    async def _client(self, tool: str) -> KimiUpstream:
        if self._account is None:
            try:
                self._account = self._open_account()
            except KimibridgeError as exc:
                raise describe(tool, exc) from None
        try:
            credential = await self._account.source.current()
        except KimibridgeError as exc:
            raise describe(tool, exc) from None
        if credential.method == "api_key" and not self._offline:
            self._account = None  # read the sign-in again next call: the user may log in meanwhile
            raise needs_oauth(tool)
        if self._upstream is None:
            self._upstream = self._account.upstream()
        return self._upstream

    async def search(self, query: str, limit: int, include_content: bool) -> str:
        upstream = await self._client("moonshot_search")
        return await _guarded(
            "moonshot_search",
            search_tool.search(
                upstream,
                query,
                limit=limit,
                include_content=include_content,
                tool_call_id=_tool_call_id(),
            ),
        )

    async def fetch(self, url: str) -> str:
        fetch_tool.check_url(url)  # a bad URL is the model's error, even without a login
        upstream = await self._client("moonshot_fetch")
        return await _guarded(
            "moonshot_fetch", fetch_tool.fetch(upstream, url, tool_call_id=_tool_call_id())
        )

    async def datasource(
        self, data_source_name: str, api_name: str | None, params: dict[str, Any] | None
    ) -> str:
        datasource_tool.request_for(data_source_name, api_name, params)  # validate first
        upstream = await self._client("kimi_datasource")
        return await _guarded(
            "kimi_datasource",
            datasource_tool.datasource(
                upstream, data_source_name, api_name, params, tool_call_id=_tool_call_id()
            ),
        )

    async def aclose(self) -> None:
        if self._upstream is not None:
            await self._upstream.aclose()
            self._upstream = None


async def _guarded(tool: str, call: Any) -> str:
    try:
        result: str = await call
    except KimibridgeError as exc:
        raise describe(tool, exc) from None
    return result


def build_server(tools: KimiTools, enabled: Sequence[ToolName]) -> MCPServer[Any]:
    """An MCP server offering the ``enabled`` tools (errors become MCP tool errors)."""
    server: MCPServer[Any] = MCPServer(
        SERVER_NAME,
        instructions=(
            "Kimi's server-side tools, through the user's Kimi account: web search "
            "(moonshot_search), page fetch as markdown (moonshot_fetch) and curated "
            "datasources for finance, economics, companies, papers and law (kimi_datasource)."
        ),
        log_level="WARNING",
    )

    async def moonshot_search(
        query: Annotated[str, Field(description="What to search for.")],
        limit: Annotated[int, Field(ge=1, le=20, description="How many results (1-20).")] = 5,
        include_content: Annotated[
            bool, Field(description="Also return each page's text (slower).")
        ] = False,
    ) -> str:
        try:
            return await tools.search(query, limit, include_content)
        except ToolFailure as exc:
            raise ToolError(str(exc)) from None

    async def moonshot_fetch(
        url: Annotated[str, Field(description="The page's full http(s) URL.")],
    ) -> str:
        try:
            return await tools.fetch(url)
        except ToolFailure as exc:
            raise ToolError(str(exc)) from None

    async def kimi_datasource(
        data_source_name: Annotated[
            str,
            Field(
                description="The datasource.",
                json_schema_extra={"enum": list(DATA_SOURCES)},
            ),
        ],
        api_name: Annotated[
            str | None,
            Field(description="The datasource API to call; omit to read the datasource's APIs."),
        ] = None,
        params: Annotated[dict[str, Any] | None, Field(description="The API's parameters.")] = None,
    ) -> str:
        try:
            return await tools.datasource(data_source_name, api_name, params)
        except ToolFailure as exc:
            raise ToolError(str(exc)) from None

    table: dict[ToolName, tuple[Callable[..., Any], str]] = {
        "moonshot_search": (moonshot_search, search_tool.DESCRIPTION),
        "moonshot_fetch": (moonshot_fetch, fetch_tool.DESCRIPTION),
        "kimi_datasource": (kimi_datasource, datasource_tool.DESCRIPTION),
    }
    for name in enabled:
        fn, description = table[name]
        server.add_tool(
            fn, name=name, description=description, annotations=_READ_ONLY, structured_output=False
        )
    return server


def http_app(server: MCPServer[Any]) -> Starlette:
    """Streamable HTTP at ``/mcp``, stateless (a restart loses no session)."""
    return server.streamable_http_app(
        streamable_http_path=HTTP_PATH, stateless_http=True, json_response=False
    )
