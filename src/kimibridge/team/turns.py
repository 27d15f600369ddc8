"""When is a turn done? A small state machine over screen snapshots. No I/O.

The screen alone says what the harness shows *now*; a turn's completion is a conclusion over
time, and concluding too early is the worst failure an orchestrator has (CAO #459: a worker
``/exit``-ed mid-task because its idle-looking footer was read as done). So:

- ``sent()`` opens a turn. Until the harness is seen working on it, an idle screen means "not
  started yet", never "done".
- Working is seen as a ``busy`` or ``waiting`` snapshot, or as *evidence*: the screen shows more
  input echoes than when the turn was sent and an answer after the last one (a turn too fast to
  be caught busy), or the provider's own record of the turn (kimi-cli's session transcript).
- Once working was seen, ``settle`` consecutive idle snapshots with the same content complete
  the turn: kimi-cli draws a reply in pieces and shows no spinner between two steps for a frame.
- ``error`` counts only once the turn has visibly progressed (an old error on screen is not
  this turn's).

``state`` is plain data (``TurnState``) so the runtime can persist it and a restarted
kimibridge can resume watching a turn it did not start.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Final

from kimibridge.team.screens import ScreenStatus
from kimibridge.team.store import Status

__all__ = ["SETTLE", "TurnState", "TurnTracker"]

SETTLE: Final = 2  # identical idle snapshots that complete a turn


@dataclass(frozen=True, slots=True)
class TurnState:
    status: Status = "unknown"
    active: bool = False  # a turn was sent and is not completed yet
    seen_busy: bool = False
    baseline: int = 0  # input echoes visible on screen when the turn was sent


class TurnTracker:
    def __init__(self, state: TurnState | None = None, *, settle: int = SETTLE) -> None:
        self.state = state or TurnState()
        self.settle = settle
        self._streak = 0
        self._fingerprint: str | None = None

    def sent(self, echoes_before: int) -> TurnState:
        """Input was just sent; ``echoes_before`` = ``ScreenStatus.turns`` before sending."""
        self.state = TurnState("busy", active=True, seen_busy=False, baseline=echoes_before)
        self._streak, self._fingerprint = 0, None
        return self.state

    def observe(
        self, snap: ScreenStatus, *, fingerprint: str = "", evidence: bool = False
    ) -> TurnState:
        """Feed one snapshot (``fingerprint``: the captured text, to tell a settled screen from
        one still being drawn); returns the new state."""
        st = self.state
        if snap.state in ("busy", "waiting"):
            self._streak = 0
            self.state = replace(st, status=snap.state, seen_busy=st.seen_busy or st.active)
            return self.state
        if not st.active:
            if snap.state != "unknown" and st.status != "completed":
                self.state = replace(st, status=snap.state)
            return self.state
        progressed = st.seen_busy or evidence or (snap.turns > st.baseline and snap.answered)
        if snap.state == "error" and (progressed or snap.turns > st.baseline):
            self.state = replace(st, status="error", active=False)
            return self.state
        if snap.state != "idle" or not progressed:
            self._streak = 0
            if st.status != "busy":
                self.state = replace(st, status="busy")
            return self.state
        if fingerprint == self._fingerprint:
            self._streak += 1
        else:
            self._streak, self._fingerprint = 1, fingerprint
        if self._streak >= self.settle:
            self.state = replace(st, status="completed", active=False, seen_busy=True)
        else:
            self.state = replace(st, seen_busy=True)
        return self.state
