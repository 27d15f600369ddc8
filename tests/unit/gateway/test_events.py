"""The in-process turn-event bus."""

from __future__ import annotations

import time

from kimibridge.gateway.events import EventBus, TurnEvent, sse_bytes


def event(agent: str, n: int = 0) -> TurnEvent:
    return TurnEvent(
        "response_finished", agent, f"r{n}", "kimi-for-coding", "anthropic", time.time(), text="hi"
    )


async def test_subscribers_filter_by_agent_and_drop_oldest() -> None:
    bus = EventBus()
    everyone = bus.subscribe()
    only_b = bus.subscribe("b", maxsize=2)
    for n in range(3):
        bus.publish(event("b", n))
    bus.publish(event("a"))
    assert (await everyone.get(1)).request_id == "r0"
    assert [(await only_b.get(1)).request_id for _ in range(2)] == ["r1", "r2"]
    assert only_b.queue.empty()
    only_b.close()
    assert bus.subscribers == 1
    with bus.subscribe() as sub:
        bus.started("a", "r9", "m", "openai", True)
        assert (await sub.get(1)).kind == "request_started"
    assert bus.subscribers == 1


def test_sse_bytes_omit_empty_fields() -> None:
    raw = sse_bytes(event("a"))
    assert raw.startswith(b"event: response_finished\ndata: {")
    assert b"error" not in raw and raw.endswith(b"\n\n")
