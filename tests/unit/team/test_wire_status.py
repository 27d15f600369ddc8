"""The wire status rule: unit cases and properties over random event sequences."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from kimibridge.gateway.events import EventKind, TurnEvent
from kimibridge.team.wire_status import WireStatus, combine


def ev(
    kind: EventKind, rid: str, t: float, stop: str | None = None, text: str | None = None
) -> TurnEvent:
    error = "upstream 503" if kind == "request_failed" else None
    return TurnEvent(kind, "a1", rid, "kimi-for-coding", "openai", t, True, stop, text, error)


def test_no_events_is_unknown() -> None:
    assert WireStatus().status(100.0) == "unknown"


def test_tool_turn_then_answer_completes_after_settle() -> None:
    w = WireStatus(settle=0.15)
    w.feed(ev("request_started", "r1", 1.0))
    assert w.status(1.0) == "busy"
    w.feed(ev("response_finished", "r1", 2.0, "tool_use", ""))
    assert w.status(30.0) == "busy"  # the tool runs as long as it runs
    w.feed(ev("request_started", "r2", 31.0))
    w.feed(ev("response_finished", "r2", 32.0, "end_turn", "the answer"))
    assert w.status(32.1) == "busy"  # settling
    assert w.deadline() == 32.0 + 0.15
    assert w.completions == 0
    assert w.status(32.15) == "completed"
    assert w.final_text == "the answer"
    assert w.completions == 1
    assert w.deadline() is None


def test_request_inside_settle_is_the_same_turn() -> None:
    w = WireStatus(settle=0.15)
    w.feed(ev("request_started", "r1", 1.0))
    w.feed(ev("response_finished", "r1", 2.0, "end_turn", "draft"))
    w.feed(ev("request_started", "r2", 2.05))
    w.feed(ev("response_finished", "r2", 3.0, "end_turn", "final"))
    assert w.status(5.0) == "completed"
    assert w.completions == 1
    assert w.final_text == "final"


def test_request_after_settle_is_a_new_turn() -> None:
    w = WireStatus(settle=0.15)
    w.feed(ev("request_started", "r1", 1.0))
    w.feed(ev("response_finished", "r1", 2.0, "end_turn", "one"))
    # nobody asked for the status in between: the event itself settles the old turn
    w.feed(ev("request_started", "r2", 9.0))
    assert w.completions == 1
    assert w.final_text == "one"
    assert w.status(9.0) == "busy"
    w.feed(ev("response_finished", "r2", 10.0, "stop", "two"))
    assert w.status(11.0) == "completed"
    assert (w.completions, w.final_text) == (2, "two")


def test_side_request_in_flight_keeps_busy() -> None:
    w = WireStatus()
    w.feed(ev("request_started", "main", 1.0))
    w.feed(ev("request_started", "title", 1.1))
    w.feed(ev("response_finished", "main", 2.0, "end_turn", "answer"))
    assert w.status(10.0) == "busy"
    w.feed(ev("response_finished", "title", 10.5, "end_turn", "A title"))
    assert w.status(11.0) == "completed"


def test_failure_is_busy_while_a_retry_may_come_then_error() -> None:
    w = WireStatus(retry_grace=5.0)
    w.feed(ev("request_started", "r1", 1.0))
    w.feed(ev("request_failed", "r1", 2.0))
    assert w.status(3.0) == "busy"
    assert w.deadline() == 7.0
    assert w.status(7.0) == "error"
    assert w.last_error == "upstream 503"
    w.feed(ev("request_started", "r2", 8.0))  # the harness retried after all
    assert w.status(8.0) == "busy"
    w.feed(ev("response_finished", "r2", 9.0, "end_turn", "ok"))
    assert w.status(10.0) == "completed"


def test_combine_screen_is_second_witness() -> None:
    assert combine("busy", "waiting") == combine("completed", "waiting")
    assert combine("busy", "waiting").status == "waiting"
    assert combine("busy", "busy", harness_alive=False).status == "error"
    assert combine("completed", "idle") == combine("completed", None)
    assert combine("completed", "idle").source == "wire"
    assert combine("unknown", "idle").status == "idle"
    assert combine("unknown", "idle").source == "screen"
    assert combine("unknown", None).status == "unknown"
    assert combine("busy", "error").status == "busy"  # a stale error line; the wire is working
    assert combine("completed", "error").status == "error"


# -------------------------------------------------------------------------- properties

STOPS = ("end_turn", "tool_use", "tool_calls", "max_tokens", "stop", None)


@st.composite
def sequences(draw: st.DrawFn) -> list[TurnEvent]:
    """Random but well-formed event sequences: every end belongs to a started request."""
    events: list[TurnEvent] = []
    open_ids: list[str] = []
    t = 0.0
    for n in range(draw(st.integers(0, 25))):
        t += draw(st.sampled_from((0.0, 0.01, 0.1, 0.149, 0.15, 0.2, 1.0, 6.0)))
        close: bool = draw(st.booleans())
        if open_ids and close:
            rid = open_ids.pop(draw(st.integers(0, len(open_ids) - 1)))
            if draw(st.integers(0, 4)) == 0:
                events.append(ev("request_failed", rid, t))
            else:
                stop = draw(st.sampled_from(STOPS))
                events.append(ev("response_finished", rid, t, stop, f"text {n}"))
        else:
            rid = f"r{n}"
            open_ids.append(rid)
            events.append(ev("request_started", rid, t))
    return events


@settings(max_examples=300)
@given(sequences(), st.lists(st.floats(0, 200), max_size=10))
def test_polling_never_changes_the_outcome(events: list[TurnEvent], polls: list[float]) -> None:
    quiet, polled = WireStatus(), WireStatus()
    for e in events:
        quiet.feed(e)
        for p in polls:  # a poll at a time not after the next event (a clock never runs back)
            if p <= e.time:
                polled.status(p)
        polled.feed(e)
    end = (events[-1].time if events else 0.0) + 10.0
    assert quiet.status(end) == polled.status(end)
    assert (quiet.completions, quiet.final_text) == (polled.completions, polled.final_text)


@settings(max_examples=300)
@given(sequences())
def test_invariants(events: list[TurnEvent]) -> None:
    w = WireStatus()
    last_completions = 0
    for e in events:
        w.feed(e)
        s = w.status(e.time)
        if w.in_flight:
            assert s == "busy"
        if s == "completed":
            assert w.completions > 0
            assert w.last_stop_reason not in ("tool_use", "tool_calls")
        assert w.completions >= last_completions
        last_completions = w.completions
    ended = [e for e in events if e.kind == "response_finished"]
    if not ended:
        assert w.completions == 0
    if events and not w.in_flight:
        last = events[-1]
        final = w.status(last.time + 10.0)
        if last.kind == "response_finished" and last.stop_reason not in ("tool_use", "tool_calls"):
            assert final == "completed"
            assert w.final_text == last.text
        if last.kind == "request_failed":
            assert final == "error"
