"""What ``KimiUpstream`` hands back (a whole reply, or a stream of raw bytes) and its timeouts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Self

import aiohttp

from kimibridge.kimi.upstream_errors import from_client_error

__all__ = [
    "ACCOUNT_TIMEOUTS",
    "DEFAULT_TIMEOUTS",
    "TOOL_TIMEOUTS",
    "Timeouts",
    "UpstreamReply",
    "UpstreamStream",
]


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Seconds; ``read`` bounds the wait for the first byte and for each later chunk."""

    connect: float = 10.0
    read: float = 600.0  # openai-python's default read timeout, which kimi-cli uses
    total: float | None = None

    def client_timeout(self) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(
            total=self.total, sock_connect=self.connect, connect=None, sock_read=self.read
        )


DEFAULT_TIMEOUTS: Final = Timeouts()
# Search, fetch and the datasource tools: 180 s in both kimi-cli generations (kimi-cli-wire §6).
TOOL_TIMEOUTS: Final = Timeouts(connect=10.0, read=180.0, total=180.0)
# Account routes answer fast or not at all.
ACCOUNT_TIMEOUTS: Final = Timeouts(connect=10.0, read=30.0, total=60.0)


class UpstreamReply:
    """A complete 2xx answer."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def json(self) -> Any:
        return json.loads(self.body)

    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def __repr__(self) -> str:
        return f"UpstreamReply(status={self.status}, bytes={len(self.body)})"


class UpstreamStream:
    """A 2xx answer whose body is read chunk by chunk; close it (``async with``) when done.

    Iterating yields raw bytes as they arrive. A connection lost or a read timeout mid-stream
    raises ``UpstreamConnectError`` / ``UpstreamTimeout``; the caller has already relayed the
    earlier chunks, so this is where a gateway sends its in-stream error event.
    """

    __slots__ = ("_host", "_response", "_route", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, route: str, host: str) -> None:
        self._response = response
        self._route = route
        self._host = host
        self.status = response.status
        self.headers: Mapping[str, str] = response.headers

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[bytes]:
        content = self._response.content
        try:
            while True:
                chunk = await content.readany()
                if not chunk:
                    break
                yield chunk
        except (TimeoutError, aiohttp.ClientError) as exc:
            self._response.close()
            raise from_client_error(exc, route=self._route, host=self._host) from exc
        self._response.release()

    async def aclose(self) -> None:
        """Give the connection back (or drop it, if the body was not read to the end)."""
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"UpstreamStream(status={self.status}, route={self._route!r})"
