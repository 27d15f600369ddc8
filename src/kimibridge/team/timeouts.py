"""The one timeout of agent-to-agent calls, and every layer's value derived from it.

A ``handoff`` is one MCP tool call that lasts as long as the worker's whole turn. Each layer
between the two agents has its own timer, and when an outer one is shorter than an inner one
a handoff that succeeds is reported as failed and retried (CAO #710: an MCP HTTP timeout of
30 s under a provider start of 60-120 s). So there is one number, ``HANDOFF_TIMEOUT``, and the
layers are derived from it, each outer layer longer than the one inside it:

    handoff wait (start + turn)   HANDOFF_TIMEOUT          the tool answers "timed out" itself
    harness MCP tool-call timeout HANDOFF_TIMEOUT + MARGIN  kimi-cli's tool_call_timeout_ms
    MCP HTTP read (SSE) timeout   300 s in the MCP client   never reached: the server's SSE
                                                            response pings every 15 s
    gateway / uvicorn             none for a running request

A caller's own ``timeout`` argument may only shorten the wait.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "HANDOFF_TIMEOUT",
    "MARGIN",
    "MCP_TOOL_TIMEOUT_MS",
    "handoff_wait",
]

HANDOFF_TIMEOUT: Final = 600.0
# Room for the tool's own answer (teardown, extraction) to reach the harness before its timer.
MARGIN: Final = 60.0
MCP_TOOL_TIMEOUT_MS: Final = int((HANDOFF_TIMEOUT + MARGIN) * 1000)


def handoff_wait(requested: float | None) -> float:
    """The wait a handoff uses: the caller's ``timeout`` if given and shorter, else the
    setting (never more, or the harness's own timer would fire first)."""
    if requested is None or requested <= 0:
        return HANDOFF_TIMEOUT
    return min(float(requested), HANDOFF_TIMEOUT)
