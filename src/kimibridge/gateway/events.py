"""Per-agent turn events: published in-process, and served as SSE on ``GET /v1/events``.

The orchestrator (``kimibridge team``) derives each agent's status from these: a request
started (busy), a response finished with its stop reason and final text (completed, or a tool
is running when the stop reason is ``tool_use``/``tool_calls``), a request failed (error).

Publishing never blocks and never fails the request: a subscriber that does not keep up loses
its oldest events (its queue is bounded), not the gateway's time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from typing import Any, Literal

__all__ = ["EventBus", "EventKind", "Subscription", "TurnEvent", "sse_bytes"]

EventKind = Literal["request_started", "response_finished", "request_failed"]


@dataclass(frozen=True, slots=True)
class TurnEvent:
    kind: EventKind
    agent: str
    request_id: str
    model: str
    dialect: str  # the client's dialect
    time: float
    stream: bool = False
    stop_reason: str | None = None  # Anthropic names (end_turn, tool_use, max_tokens, ...)
    text: str | None = None  # the response's final visible text
    error: str | None = None
    status: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


class Subscription:
    """An async iterator of events for one subscriber; ``close()`` (or ``with``) unsubscribes."""

    def __init__(self, bus: EventBus, agent: str | None, maxsize: int) -> None:
        self._bus = bus
        self.agent = agent
        self.queue: asyncio.Queue[TurnEvent] = asyncio.Queue(maxsize)

    def offer(self, event: TurnEvent) -> None:
        if self.agent is not None and event.agent != self.agent:
            return
        if self.queue.full():
            with contextlib.suppress(asyncio.QueueEmpty):
                self.queue.get_nowait()
        self.queue.put_nowait(event)

    def __aiter__(self) -> AsyncIterator[TurnEvent]:
        return self._iter()

    async def _iter(self) -> AsyncIterator[TurnEvent]:
        while True:
            yield await self.queue.get()

    async def get(self, wait: float | None = None) -> TurnEvent:
        """The next event; ``TimeoutError`` after ``wait`` seconds without one."""
        return await asyncio.wait_for(self.queue.get(), wait)

    def close(self) -> None:
        self._bus._subs.discard(self)

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class EventBus:
    def __init__(self) -> None:
        self._subs: set[Subscription] = set()

    def subscribe(self, agent: str | None = None, *, maxsize: int = 1000) -> Subscription:
        sub = Subscription(self, agent, maxsize)
        self._subs.add(sub)
        return sub

    @property
    def subscribers(self) -> int:
        return len(self._subs)

    def publish(self, event: TurnEvent) -> None:
        for sub in tuple(self._subs):
            sub.offer(event)

    def started(self, agent: str, request_id: str, model: str, dialect: str, stream: bool) -> None:
        if self._subs:
            self.publish(
                TurnEvent("request_started", agent, request_id, model, dialect, time.time(), stream)
            )


def sse_bytes(event: TurnEvent) -> bytes:
    data = json.dumps(event.to_json(), ensure_ascii=False, separators=(",", ":"))
    return f"event: {event.kind}\ndata: {data}\n\n".encode()
