"""Reading a harness's screen: what it is doing now, and the last turn's answer. No I/O here.

Each harness has one module with two pure functions over a ``tmux capture-pane -e`` text:

- ``read_status(capture) -> ScreenStatus``: what the screen shows *now* (``busy``, ``waiting``
  for an approval, ``idle``, ``error``, or ``unknown`` while it boots). Whether a turn is
  *completed* is not a screen fact; ``team.turns.TurnTracker`` decides it from a sequence of these.
- ``extract_reply(capture) -> str | None``: the last turn's answer without thinking, tool lines
  or chrome; ``None`` when the capture holds no answer.

``reader_for(provider)`` returns the pair for a provider id.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from kimibridge.errors import TeamError

__all__ = ["READERS", "ScreenReader", "ScreenState", "ScreenStatus", "reader_for"]

ScreenState = Literal["unknown", "idle", "busy", "waiting", "error"]


@dataclass(frozen=True, slots=True)
class ScreenStatus:
    state: ScreenState
    detail: str = ""  # the spinner line, the approval's question, the error line
    turns: int = 0  # user inputs visible in the capture (echoes of what was sent)
    answered: bool = False  # the last visible input is followed by an answer


@dataclass(frozen=True, slots=True)
class ScreenReader:
    read_status: Callable[[str], ScreenStatus]
    extract_reply: Callable[[str], str | None]


# provider id -> module with read_status / extract_reply (one module per harness).
READERS: Final = {
    "kimi_cli": "kimibridge.team.screens.kimi_cli",
    "claude_code": "kimibridge.team.screens.claude_code",
}


def reader_for(provider: str) -> ScreenReader:
    name = READERS.get(provider)
    if name is None:
        raise TeamError(f"no screen reader for provider {provider!r}")
    mod = importlib.import_module(name)
    return ScreenReader(mod.read_status, mod.extract_reply)
