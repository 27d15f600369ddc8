"""The async HTTP client for Kimi's coding endpoint: one pooled aiohttp session per process.

    upstream = KimiUpstream(endpoints.api_base, token_source, identity)
    async with upstream:
        reply = await upstream.models()
        async with await upstream.chat_completions(body, stream=True, caller_headers=h) as s:
            async for chunk in s:          # raw bytes as they arrive, for relaying
                ...

What it does for every call:

- ``Authorization: Bearer`` from the ``TokenSource`` plus the ``Identity`` headers for the kind
  of route (chat and messages, account routes, tool routes; see ``kimi.identity``);
- on 401 it asks ``token_source.after_unauthorized`` and sends the request once more. A 401
  arrives as the status line, before any body byte, so this is safe for streams too; nothing is
  retried once a byte has been handed to the caller;
- every other non-2xx answer becomes a typed error (``kimi.upstream_errors``): 403
  ``access_terminated_error`` and 429 quota are never retried; 429/5xx and connection errors are
  retried only when ``max_retries`` > 0 (default 0: the gateway's clients retry themselves);
- aiohttp exceptions are converted here and nowhere else, with ``raise ... from exc``.

Performance: one ``ClientSession`` (created lazily inside the running loop) with a keep-alive
pool sized for many concurrent streams; request bodies are taken as bytes and never re-parsed;
route URLs are built once.
"""

from __future__ import annotations

import asyncio
import io
import json
import mimetypes
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeAlias, overload

import aiohttp
from yarl import URL

from kimibridge.errors import AccessTerminated, NeedsLogin, QuotaExceeded, UpstreamStatusError
from kimibridge.kimi.identity import Identity, RequestKind
from kimibridge.kimi.tokens import TokenSource
from kimibridge.kimi.upstream_errors import RETRYABLE_STATUSES, from_client_error, from_status
from kimibridge.kimi.upstream_responses import (
    ACCOUNT_TIMEOUTS,
    DEFAULT_TIMEOUTS,
    TOOL_TIMEOUTS,
    Timeouts,
    UpstreamReply,
    UpstreamStream,
)

__all__ = [
    "ACCOUNT_TIMEOUTS",
    "DEFAULT_TIMEOUTS",
    "TOOL_TIMEOUTS",
    "KimiUpstream",
    "Timeouts",
    "UpstreamReply",
    "UpstreamStream",
]

JSONBody: TypeAlias = bytes | Mapping[str, Any]
_BodyFactory: TypeAlias = Callable[[], bytes | aiohttp.FormData | None]


_DEFAULT_ANTHROPIC_VERSION: Final = "2023-06-01"
# Caller headers that mean something to Kimi's Anthropic endpoint and pass through unchanged.
_ANTHROPIC_PASSTHROUGH: Final = ("anthropic-version", "anthropic-beta")


@dataclass(frozen=True, slots=True)
class _Route:
    path: str
    kind: RequestKind  # which identity headers
    method: str = "POST"
    timeouts: Literal["model", "tool", "account"] = "model"


_ROUTES: Final[Mapping[str, _Route]] = {
    "chat": _Route("/chat/completions", RequestKind.MODEL),
    "messages": _Route("/messages", RequestKind.MODEL),
    "count_tokens": _Route("/messages/count_tokens", RequestKind.MODEL),
    "files": _Route("/files", RequestKind.MODEL),
    "models": _Route("/models", RequestKind.ACCOUNT, "GET", "account"),
    "usages": _Route("/usages", RequestKind.ACCOUNT, "GET", "account"),
    "me": _Route("/me", RequestKind.SERVICE, "GET", "account"),
    "search": _Route("/search", RequestKind.SERVICE, timeouts="tool"),
    "fetch": _Route("/fetch", RequestKind.SERVICE, timeouts="tool"),
    "tools": _Route("/tools", RequestKind.SERVICE, timeouts="tool"),
}


def _json_bytes(body: JSONBody) -> bytes:
    if isinstance(body, bytes | bytearray | memoryview):
        return bytes(body)
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def _caller_user_agent(caller_headers: Mapping[str, str] | None) -> str | None:
    if not caller_headers:
        return None
    return _header(caller_headers, "user-agent")


def _header(headers: Mapping[str, str], lower_name: str) -> str | None:
    value = headers.get(lower_name)
    if value is not None:
        return value
    for name, candidate in headers.items():
        if name.lower() == lower_name:
            return candidate
    return None


class KimiUpstream:
    """Kimi's coding API at ``base_url`` (e.g. ``https://api.kimi.com/coding/v1``).

    ``max_retries`` > 0 retries 429 (not quota), 5xx and connection failures that happen before
    a response was returned, with a short exponential backoff honouring ``Retry-After``.
    """

    def __init__(
        self,
        base_url: str,
        token_source: TokenSource,
        identity: Identity,
        *,
        timeouts: Timeouts = DEFAULT_TIMEOUTS,
        tool_timeouts: Timeouts = TOOL_TIMEOUTS,
        account_timeouts: Timeouts = ACCOUNT_TIMEOUTS,
        max_retries: int = 0,
        pool_size: int = 256,
        trust_env: bool = False,
    ) -> None:
        base = base_url.rstrip("/")
        self.base_url = base
        self.identity = identity
        self._tokens = token_source
        self._urls = {name: URL(base + route.path) for name, route in _ROUTES.items()}
        self._host = URL(base).host or base
        self._timeouts = {
            "model": timeouts.client_timeout(),
            "tool": tool_timeouts.client_timeout(),
            "account": account_timeouts.client_timeout(),
        }
        self._max_retries = max(0, max_retries)
        self._pool_size = pool_size
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None

    def __repr__(self) -> str:
        return f"KimiUpstream(base_url={self.base_url!r}, preset={self.identity.preset!r})"

    @property
    def token_source(self) -> TokenSource:
        """Where this client's credential comes from (shared with the gateway's Kimi tools)."""
        return self._tokens

    # ------------------------------------------------------------------ lifecycle

    def _client(self) -> aiohttp.ClientSession:
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size,
                limit_per_host=self._pool_size,
                keepalive_timeout=30.0,
                ttl_dns_cache=300,
            )
            session = aiohttp.ClientSession(
                connector=connector,
                # Kimi's API sets no cookie we need, and one agent's cookie must not ride along
                # on another's request; a dummy jar also skips cookie filtering per request.
                cookie_jar=aiohttp.DummyCookieJar(),
                trust_env=self._trust_env,
                timeout=self._timeouts["model"],
            )
            self._session = session
        return session

    async def aclose(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ model routes

    @overload
    async def chat_completions(
        self,
        body: JSONBody,
        *,
        stream: Literal[True],
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamStream: ...
    @overload
    async def chat_completions(
        self,
        body: JSONBody,
        *,
        stream: Literal[False],
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply: ...
    @overload
    async def chat_completions(
        self, body: JSONBody, *, stream: bool, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream | UpstreamReply: ...
    async def chat_completions(
        self, body: JSONBody, *, stream: bool, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream | UpstreamReply:
        """``POST {base}/chat/completions``; ``stream`` must match the body's ``stream`` flag."""
        return await self._dispatch("chat", _json_bytes(body), stream, caller_headers)

    @overload
    async def messages(
        self,
        body: JSONBody,
        *,
        stream: Literal[True],
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamStream: ...
    @overload
    async def messages(
        self,
        body: JSONBody,
        *,
        stream: Literal[False],
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply: ...
    @overload
    async def messages(
        self, body: JSONBody, *, stream: bool, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream | UpstreamReply: ...
    async def messages(
        self, body: JSONBody, *, stream: bool, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamStream | UpstreamReply:
        """``POST {base}/messages``: Kimi's Anthropic endpoint (``.../coding/v1/messages``)."""
        return await self._dispatch(
            "messages",
            _json_bytes(body),
            stream,
            caller_headers,
            _anthropic_headers(caller_headers),
        )

    async def count_tokens(
        self, body: JSONBody, *, caller_headers: Mapping[str, str] | None = None
    ) -> UpstreamReply:
        """``POST {base}/messages/count_tokens`` (Anthropic dialect)."""
        return await self.send(
            "count_tokens",
            _json_bytes(body),
            caller_headers=caller_headers,
            extra_headers=_anthropic_headers(caller_headers),
        )

    async def files(
        self,
        data: bytes,
        *,
        mime: str,
        purpose: str = "video",
        filename: str | None = None,
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        """``POST {base}/files`` (multipart ``purpose`` + ``file``); the reply's JSON has ``id``."""
        name = filename or f"upload{mimetypes.guess_extension(mime) or ''}"

        def form() -> aiohttp.FormData:  # a FormData can be sent once: one per attempt
            fd = aiohttp.FormData()
            fd.add_field("purpose", purpose)
            # A file-like payload is streamed in chunks; raw bytes over 1 MiB make aiohttp warn
            # that one write of the whole body could hold up the event loop.
            fd.add_field("file", io.BytesIO(data), filename=name, content_type=mime)
            return fd

        response, path = await self._start("files", None, caller_headers, None, None, form)
        return await self._read(response, path)

    # ------------------------------------------------------------------ account routes

    async def models(self, *, caller_headers: Mapping[str, str] | None = None) -> UpstreamReply:
        """``GET {base}/models``: ``{"data": [...]}`` (see ``kimi.catalog``)."""
        return await self.send("models", None, caller_headers=caller_headers)

    async def usages(self, *, caller_headers: Mapping[str, str] | None = None) -> UpstreamReply:
        """``GET {base}/usages``: the plan's quota windows."""
        return await self.send("usages", None, caller_headers=caller_headers)

    async def me(self, *, caller_headers: Mapping[str, str] | None = None) -> UpstreamReply:
        """``GET {base}/me``: who is signed in."""
        return await self.send("me", None, caller_headers=caller_headers)

    # ------------------------------------------------------------------ tool routes

    async def search(
        self,
        query: str,
        *,
        limit: int = 5,
        include_content: bool = False,
        tool_call_id: str | None = None,
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        """``POST {base}/search`` with kimi-cli's body; the reply's JSON has ``search_results``."""
        body = {
            "text_query": query,
            "limit": max(1, min(20, limit)),
            "enable_page_crawling": include_content,
            "timeout_seconds": 30,
        }
        return await self.send(
            "search",
            _json_bytes(body),
            caller_headers=caller_headers,
            tool_call_id=tool_call_id,
        )

    async def fetch(
        self,
        url: str,
        *,
        tool_call_id: str | None = None,
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        """``POST {base}/fetch`` with ``Accept: text/markdown``; the reply's text is the page."""
        return await self.send(
            "fetch",
            _json_bytes({"url": url}),
            caller_headers=caller_headers,
            tool_call_id=tool_call_id,
            extra_headers={"Accept": "text/markdown"},
        )

    async def tools(
        self,
        method: str,
        params: Mapping[str, Any],
        *,
        tool_call_id: str | None = None,
        caller_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        """``POST {base}/tools`` with ``{"method", "params"}`` (datasource tools, chat titles)."""
        return await self.send(
            "tools",
            _json_bytes({"method": method, "params": dict(params)}),
            caller_headers=caller_headers,
            tool_call_id=tool_call_id,
        )

    # ------------------------------------------------------------------ the one way out

    async def send(
        self,
        route: str,
        body: bytes | None,
        *,
        caller_headers: Mapping[str, str] | None = None,
        tool_call_id: str | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamReply:
        """Send JSON ``body`` to a named route (``chat``, ``models``, ...) and read the answer."""
        response, path = await self._start(route, body, caller_headers, tool_call_id, extra_headers)
        return await self._read(response, path)

    async def open_stream(
        self,
        route: str,
        body: bytes | None,
        *,
        caller_headers: Mapping[str, str] | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamStream:
        """Send JSON ``body`` to a named route and hand back the body unread, as a stream."""
        response, path = await self._start(route, body, caller_headers, None, extra_headers)
        return UpstreamStream(response, path, self._host)

    async def _dispatch(
        self,
        route: str,
        body: bytes,
        stream: bool,
        caller_headers: Mapping[str, str] | None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> UpstreamStream | UpstreamReply:
        if stream:
            return await self.open_stream(
                route, body, caller_headers=caller_headers, extra_headers=extra_headers
            )
        return await self.send(
            route, body, caller_headers=caller_headers, extra_headers=extra_headers
        )

    async def _start(
        self,
        route: str,
        body: bytes | None,
        caller_headers: Mapping[str, str] | None,
        tool_call_id: str | None,
        extra_headers: Mapping[str, str] | None,
        form: Callable[[], aiohttp.FormData] | None = None,
    ) -> tuple[aiohttp.ClientResponse, str]:
        spec = _ROUTES.get(route)
        if spec is None:
            raise ValueError(f"unknown Kimi route {route!r}; known: {', '.join(_ROUTES)}")
        response = await self._open(
            spec,
            self._urls[route],
            form if form is not None else (lambda: body),
            caller_user_agent=_caller_user_agent(caller_headers),
            tool_call_id=tool_call_id,
            extra_headers=extra_headers,
            content_type="application/json" if body is not None else None,
        )
        return response, spec.path

    async def _read(self, response: aiohttp.ClientResponse, path: str) -> UpstreamReply:
        try:
            data = await response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise from_client_error(exc, route=path, host=self._host) from exc
        finally:
            response.release()
        return UpstreamReply(response.status, response.headers, data)

    async def _open(
        self,
        spec: _Route,
        url: URL,
        body: _BodyFactory,
        *,
        caller_user_agent: str | None,
        tool_call_id: str | None,
        extra_headers: Mapping[str, str] | None,
        content_type: str | None,
    ) -> aiohttp.ClientResponse:
        """A 2xx response with its body unread, after at most one 401 refresh (and retries)."""
        session = self._client()
        timeout = self._timeouts[spec.timeouts]
        credential = await self._tokens.current()
        refreshed = False
        attempt = 0
        while True:
            headers = self.identity.headers(
                spec.kind, caller_user_agent=caller_user_agent, tool_call_id=tool_call_id
            )
            if extra_headers:
                headers.update(extra_headers)
            if content_type is not None:
                headers["Content-Type"] = content_type
            headers["Authorization"] = f"Bearer {credential.token}"
            try:
                response = await session.request(
                    spec.method, url, data=body(), headers=headers, timeout=timeout
                )
            except (TimeoutError, aiohttp.ClientError) as exc:
                error = from_client_error(exc, route=spec.path, host=self._host)
                if attempt < self._max_retries and isinstance(exc, aiohttp.ClientConnectorError):
                    attempt += 1
                    await asyncio.sleep(_backoff(attempt, None))
                    continue
                raise error from exc
            if response.status < 300:
                return response
            if response.status == 401 and not refreshed:
                await self._discard(response)
                refreshed = True
                credential = await self._tokens.after_unauthorized(credential)
                continue
            error_body = await self._error_body(response)
            error = from_status(
                response.status,
                error_body,
                response.headers,
                route=spec.path,
                preset=self.identity.preset,
                secret=credential.token,
            )
            if response.status == 401:
                raise NeedsLogin(
                    f"Kimi rejected the credential for {spec.path} even after a refresh "
                    f"({error.error_type or '401'})"
                ) from error
            if attempt < self._max_retries and _retryable(error):
                attempt += 1
                await asyncio.sleep(_backoff(attempt, response.headers.get("Retry-After")))
                continue
            raise error

    async def _discard(self, response: aiohttp.ClientResponse) -> None:
        try:
            await response.read()
        except (TimeoutError, aiohttp.ClientError):
            response.close()
        else:
            response.release()

    async def _error_body(self, response: aiohttp.ClientResponse) -> bytes:
        try:
            return await response.content.read(64 * 1024)
        except (TimeoutError, aiohttp.ClientError):
            return b""
        finally:
            response.close()


def _anthropic_headers(caller_headers: Mapping[str, str] | None) -> dict[str, str]:
    headers = {"anthropic-version": _DEFAULT_ANTHROPIC_VERSION}
    if caller_headers:
        for name in _ANTHROPIC_PASSTHROUGH:
            value = _header(caller_headers, name)
            if value:
                headers[name] = value
    return headers


def _retryable(error: UpstreamStatusError) -> bool:
    if isinstance(error, QuotaExceeded | AccessTerminated):
        return False
    return error.status in RETRYABLE_STATUSES


def _backoff(attempt: int, retry_after: str | None) -> float:
    if retry_after:
        try:
            return min(max(float(retry_after), 0.0), 10.0)
        except ValueError:
            pass
    return float(min(0.5 * 2 ** (attempt - 1), 8.0))
