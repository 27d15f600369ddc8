"""The one timeout of agent-to-agent calls, and every layer's value derived from it.

A ``handoff`` is one MCP tool call that lasts as long as the worker's whole turn. Each layer
between the two agents has its own timer, and when an outer one is shorter than an inner one
a handoff that succeeds is reported as failed and retried (CAO #710: an MCP HTTP timeout of
30 s under a provider start of 60-120 s). So there is one number, the setting
``team.handoff_timeout`` (default 600 s), and the layers are derived from it, each outer layer
longer than the one inside it:

    handoff wait (start + turn)   handoff                  the tool answers "timed out" itself
    harness MCP tool-call timeout handoff + MARGIN         kimi-cli's tool_call_timeout_ms,
                                  (mcp_tool_timeout_ms)    Claude Code's MCP_TOOL_TIMEOUT
    MCP HTTP read (SSE) timeout   300 s in the MCP client  never reached: the server's SSE
                                                           response pings every 15 s
    gateway / uvicorn             none for a running request

A caller's own ``timeout`` argument may only shorten the wait. ``TeamTimeouts.from_settings``
is the one place the setting becomes these values: the gateway process (handoff waits, the
workers it starts) and ``kimibridge team up`` (the agents it starts) both build it there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from kimibridge.config import Settings

__all__ = ["DEFAULT_HANDOFF_TIMEOUT", "MARGIN", "TeamTimeouts"]

DEFAULT_HANDOFF_TIMEOUT: Final = 600.0  # the default of team.handoff_timeout (kimibridge.config)
# Room for the tool's own answer (teardown, extraction) to reach the harness before its timer.
MARGIN: Final = 60.0


@dataclass(frozen=True, slots=True)
class TeamTimeouts:
    """Every team timer, from ``handoff``: the seconds a handoff may take (start + turn)."""

    handoff: float = DEFAULT_HANDOFF_TIMEOUT

    def __post_init__(self) -> None:
        if not 0 < self.handoff < float("inf"):
            raise ValueError(f"handoff timeout must be a number of seconds > 0, not {self.handoff}")

    @classmethod
    def from_settings(cls, settings: Settings) -> TeamTimeouts:
        return cls(handoff=float(settings.team.handoff_timeout))

    @property
    def mcp_tool_timeout_ms(self) -> int:
        """The harness's MCP tool-call timeout: longer than the handoff, so the tool answers
        (even "timed out") before the harness gives up on it."""
        return int((self.handoff + MARGIN) * 1000)

    def handoff_wait(self, requested: float | None) -> float:
        """The wait a handoff uses: the caller's ``timeout`` if given and shorter, else the
        setting (never more, or the harness's own timer would fire first)."""
        if requested is None or requested <= 0:
            return self.handoff
        return min(float(requested), self.handoff)
