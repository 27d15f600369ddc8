"""Every request the emulator answered, kept for tests to inspect.

Secrets (bearer tokens, API keys, refresh tokens, device codes) stay in the recorded bytes so
tests can check exactly what was sent, but never appear in ``repr`` or ``redacted()``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from multidict import CIMultiDict, CIMultiDictProxy

__all__ = ["REDACTED", "RecordedRequest", "Recorder", "redact_headers", "redact_value"]

REDACTED = "<redacted>"
_SECRET_HEADERS = frozenset({"authorization", "x-api-key", "cookie", "proxy-authorization"})
_SECRET_FIELDS = frozenset(
    {"access_token", "refresh_token", "device_code", "api_key", "key", "password", "token"}
)


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in headers.items():
        if name.lower() in _SECRET_HEADERS:
            # Keep the scheme so a reader can still tell Bearer from Basic.
            scheme, _, rest = value.partition(" ")
            value = f"{scheme} {REDACTED}" if rest and name.lower() != "x-api-key" else REDACTED
        out[name] = value
    return out


def redact_value(value: Any) -> Any:
    """A copy of parsed JSON with secret-named fields replaced."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if k in _SECRET_FIELDS and v is not None else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


@dataclass(slots=True, eq=False)
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: CIMultiDictProxy[str]
    body: bytes
    received_at: float  # time.monotonic() when the request arrived
    wall_time: float  # time.time() when the request arrived
    status: int | None = None  # None while the answer is still being produced
    handler_started_at: float | None = None  # monotonic time the route handler began
    answered_at: float | None = None  # monotonic time the handler returned
    rejected: str | None = None  # why the platform refused it, e.g. "unknown_token"
    auth: str | None = None  # "oauth" or "api_key" when a credential was accepted
    fault: str | None = None  # the injected fault taken by this request, if any
    extra: dict[str, Any] = field(default_factory=dict)

    def json(self) -> Any:
        """The body parsed as JSON (raises ``ValueError`` when it is not JSON)."""
        return json.loads(self.body)

    @property
    def content_type(self) -> str:
        return self.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()

    @property
    def tool_call_id(self) -> str | None:
        return self.headers.get("X-Msh-Tool-Call-Id")

    def _redacted_body(self) -> Any:
        if not self.body:
            return None
        if self.content_type == "application/json":
            try:
                return redact_value(self.json())
            except ValueError:
                return f"<{len(self.body)} bytes, invalid JSON>"
        if self.content_type == "application/x-www-form-urlencoded":
            pairs = parse_qsl(self.body.decode("latin-1"), keep_blank_values=True)
            return {k: REDACTED if k in _SECRET_FIELDS else v for k, v in pairs}
        return f"<{len(self.body)} bytes {self.content_type or 'unknown type'}>"

    def redacted(self) -> dict[str, Any]:
        """A JSON-ready view with every secret replaced; safe to print or log."""
        return {
            "method": self.method,
            "path": self.path,
            "query": dict(self.query),
            "headers": redact_headers(self.headers),
            "body": self._redacted_body(),
            "status": self.status,
            "rejected": self.rejected,
            "auth": self.auth,
            "fault": self.fault,
            "wall_time": self.wall_time,
            "received_at": self.received_at,
            "handler_started_at": self.handler_started_at,
            "answered_at": self.answered_at,
        }

    def __repr__(self) -> str:
        ua = self.headers.get("User-Agent", "")
        return (
            f"RecordedRequest({self.method} {self.path} status={self.status} "
            f"rejected={self.rejected} auth={self.auth} ua={ua!r} body={len(self.body)}B)"
        )


class Recorder:
    """A thread-safe list of recorded requests (the server thread appends, tests read)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[RecordedRequest] = []

    def record(
        self,
        method: str,
        path: str,
        query: Iterable[tuple[str, str]],
        headers: Mapping[str, str],
        body: bytes,
    ) -> RecordedRequest:
        item = RecordedRequest(
            method=method,
            path=path,
            query=dict(query),
            headers=CIMultiDictProxy(CIMultiDict(headers)),
            body=body,
            received_at=time.monotonic(),
            wall_time=time.time(),
        )
        with self._lock:
            self._items.append(item)
        return item

    def all(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __repr__(self) -> str:
        return f"Recorder({len(self)} requests)"
