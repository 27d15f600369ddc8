"""The stream translators' states and transition tables, in one place (h11 ``_state.py`` style).

Everything that decides whether an upstream event is legal in a given state lives here; the
translators only look transitions up and act on them.
"""

from __future__ import annotations

import enum
import json

from kimibridge.errors import TranslationError

__all__ = ["A2O_TRANSITIONS", "BLOCK_STATES", "O2A_TRANSITIONS", "StreamState"]


class StreamState(enum.Enum):
    START = "START"  # nothing sent to the client yet
    MESSAGE = "MESSAGE"  # message opened, no content block open
    TEXT = "TEXT"  # a text block is open
    THINKING = "THINKING"  # a thinking block is open
    TOOL = "TOOL"  # a tool block is open (OpenAI side: tool-call deltas flowing)
    FINISHING = "FINISHING"  # finish seen, waiting for usage / the end marker
    DONE = "DONE"  # well-formed end sent
    ERROR = "ERROR"  # malformed upstream or error ending


S = StreamState
BLOCK_STATES = (S.TEXT, S.THINKING, S.TOOL)

# OpenAI -> Anthropic: (state, upstream input kind) -> next state. "tool" is the first fragment
# of a new tool call (always a new block), "args" a later fragment of the open one, "end" is
# [DONE] or close(). Content after a finish is dropped (LiteLLM does the same).
O2A_TRANSITIONS: dict[tuple[StreamState, str], StreamState] = {
    **{(s, "text"): S.TEXT for s in (S.START, S.MESSAGE, *BLOCK_STATES)},
    **{(s, "thinking"): S.THINKING for s in (S.START, S.MESSAGE, *BLOCK_STATES)},
    **{(s, "tool"): S.TOOL for s in (S.START, S.MESSAGE, *BLOCK_STATES)},
    (S.TOOL, "args"): S.TOOL,
    **{(s, "finish"): S.FINISHING for s in (S.START, S.MESSAGE, *BLOCK_STATES)},
    **{(S.FINISHING, k): S.FINISHING for k in ("text", "thinking", "tool", "args", "finish")},
    **{(s, "end"): S.DONE for s in (S.START, S.MESSAGE, *BLOCK_STATES, S.FINISHING)},
}

# Anthropic -> OpenAI: (state, upstream event type) -> next state. Block bookkeeping (which
# index is which kind) is checked separately; ping and unknown event types change nothing.
A2O_TRANSITIONS: dict[tuple[StreamState, str], StreamState] = {
    (S.START, "message_start"): S.MESSAGE,
    **{(s, "content_block_start"): S.MESSAGE for s in (S.START, S.MESSAGE)},
    (S.MESSAGE, "content_block_delta"): S.MESSAGE,
    (S.MESSAGE, "content_block_stop"): S.MESSAGE,
    **{(s, "message_delta"): S.FINISHING for s in (S.START, S.MESSAGE, S.FINISHING)},
    **{(s, "message_stop"): S.DONE for s in (S.START, S.MESSAGE, S.FINISHING)},
}


# Event types the Anthropic table knows; any other type (ping, future additions) is skipped.
A2O_KINDS = frozenset(kind for _, kind in A2O_TRANSITIONS)


def protocol_error(message: str) -> TranslationError:
    return TranslationError(f"malformed upstream stream: {message}", status_hint=502)


def unparsable(parts: list[str]) -> bool:
    """Whether streamed tool-argument fragments do not (yet) form JSON: a truncated call."""
    try:
        json.loads("".join(parts) or "{}")
    except ValueError:
        return True
    return False
