"""An agent's status from the wire: a sans-I/O state machine fed the gateway's turn events.

Every agent talks to Kimi through the gateway with its own key, so the gateway sees each of its
LLM requests start and end (``gateway.events.TurnEvent``). That is a better witness than the
screen: it does not depend on how a TUI renders, and it carries the answer's exact text.

The rule (``WireStatus.status(now)``), first match wins:

1. **busy** while any request of the agent is in flight;
2. **busy** while a tool runs: the last response ended with ``tool_use`` / ``tool_calls`` /
   ``pause_turn`` (the harness runs the tool, then sends the next request);
3. **busy** for ``retry_grace`` after a failed request (harnesses retry 429/5xx and dropped
   streams with backoff), then **error**;
4. **busy** for ``settle`` after a response that ended the turn (``end_turn``, ``stop``,
   ``max_tokens``, ...), then **completed**, with that response's text as the final answer;
5. **unknown** before the first event (the caller then trusts the screen).

Why a settle time: a harness may follow a turn-ending response with another request of the same
turn (a retry, a queued user message, a compaction); that request starts within the harness's
own reaction time, a few milliseconds after the last byte, since no human or tool is involved.
150 ms is an order of magnitude above that and well under the 300 ms target for seeing a
completion. A request that starts after the settle time is a new turn.

``completions`` counts settled completions, so a waiter can tell "completed again, after my
input" from "still completed from before" (no false completion: a turn completes only after a
request was seen for it). ``deadline()`` says when the status can change with no new event,
so the I/O edge knows when to look again.

``combine`` adds the screen as a second witness: an approval prompt on screen means
**waiting** (the wire only says a tool is pending), a crashed harness means **error**, and an
agent the wire has not seen yet has the screen's status.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from kimibridge.gateway.events import TurnEvent

__all__ = [
    "DEFAULT_RETRY_GRACE",
    "DEFAULT_SETTLE",
    "TOOL_STOP_REASONS",
    "Combined",
    "WireState",
    "WireStatus",
    "combine",
]

WireState = Literal["unknown", "busy", "completed", "error"]

DEFAULT_SETTLE: Final = 0.150
DEFAULT_RETRY_GRACE: Final = 5.0
# Stop reasons after which the harness keeps working on the same turn (Anthropic and OpenAI
# names: the gateway reports Anthropic's, the client dialect may have had OpenAI's).
TOOL_STOP_REASONS: Final = frozenset({"tool_use", "tool_calls", "function_call", "pause_turn"})


class WireStatus:
    """One agent's wire status. ``feed`` events in order; ``status(now)`` reads it.

    ``now`` is whatever clock the events carry (``TurnEvent.time``, epoch seconds)."""

    def __init__(
        self, *, settle: float = DEFAULT_SETTLE, retry_grace: float = DEFAULT_RETRY_GRACE
    ) -> None:
        self.settle = settle
        self.retry_grace = retry_grace
        self.in_flight: dict[str, float] = {}  # request id -> started at
        self.last_event_at: float | None = None
        self.last_stop_reason: str | None = None
        self.last_error: str | None = None
        self.last_text: str | None = None  # the last response's text (any stop reason)
        self.final_text: str | None = None  # the answer of the last completed turn
        self.completions = 0  # settled completions so far
        self.requests = 0
        self._ended_at: float | None = None  # a turn-ending response not yet settled
        self._ended_text: str | None = None
        self._failed_at: float | None = None

    # ----------------------------------------------------------------------------- input

    def feed(self, event: TurnEvent) -> None:
        # Settle what the clock already decided before this event can change it: a request
        # arriving after the settle time starts a new turn, it does not undo the completion.
        self.advance(event.time)
        self.last_event_at = event.time
        if event.kind == "request_started":
            self.requests += 1
            self.in_flight[event.request_id] = event.time
            self._ended_at = None
            self._failed_at = None
            self.last_error = None
            return
        self.in_flight.pop(event.request_id, None)
        if event.kind == "request_failed":
            self.last_error = event.error or "request failed"
            self.last_stop_reason = None
            if not self.in_flight:
                self._failed_at = event.time
                self._ended_at = None
            return
        # response_finished
        self.last_stop_reason = event.stop_reason
        self.last_text = event.text
        if self.in_flight:
            return  # another request of this agent still runs (a side request or a sub-agent)
        if event.stop_reason in TOOL_STOP_REASONS:
            self._ended_at = None
            return
        self._ended_at = event.time
        self._ended_text = event.text

    def advance(self, now: float) -> None:
        """Let time pass: a turn end older than ``settle`` becomes a completion."""
        if (
            self._ended_at is not None
            and not self.in_flight
            and now >= self._ended_at + self.settle
        ):
            self.completions += 1
            self.final_text = self._ended_text
            self._ended_at = None

    # ----------------------------------------------------------------------------- output

    def status(self, now: float) -> WireState:
        self.advance(now)
        if self.last_event_at is None:
            return "unknown"
        if self.in_flight or self._ended_at is not None:
            return "busy"
        if self._failed_at is not None:
            return "error" if now >= self._failed_at + self.retry_grace else "busy"
        if self.last_stop_reason in TOOL_STOP_REASONS:
            return "busy"
        if self.completions:
            return "completed"
        return "unknown"  # only events we cannot place (e.g. an end without a start)

    def deadline(self) -> float | None:
        """When ``status`` may change with no new event (None: only an event can change it)."""
        if self.in_flight:
            return None
        if self._ended_at is not None:
            return self._ended_at + self.settle
        if self._failed_at is not None:
            return self._failed_at + self.retry_grace
        return None


@dataclass(frozen=True, slots=True)
class Combined:
    status: str  # one of team.store.Status
    source: Literal["wire", "screen"]


def combine(wire: WireState, screen: str | None, *, harness_alive: bool = True) -> Combined:
    """The agent's status from both witnesses (``screen``: the screen classifier's verdict).

    The wire is the primary truth for busy/completed/error; the screen adds what the wire cannot
    see: an approval prompt (the harness waits for a human, the wire shows a pending tool) and
    a harness that is gone."""
    if not harness_alive:
        return Combined("error", "screen")
    if screen == "waiting":
        return Combined("waiting", "screen")
    if screen == "error" and wire != "busy":
        return Combined("error", "screen")
    if wire != "unknown":
        return Combined(wire, "wire")
    return Combined(screen or "unknown", "screen")
