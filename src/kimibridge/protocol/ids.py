"""Tool-call ids: sanitised to what Anthropic accepts, with a map back to the original.

Anthropic requires tool-use ids to match ``^[a-zA-Z0-9_-]+$``; Kimi's OpenAI side emits ids
such as ``functions.Bash:0`` and OpenAI clients may send anything. Sanitising is deterministic
(the same id always gives the same result) so a conversation replayed on the next request
produces the same bytes and keeps Kimi's prefix cache warm; the gateway is stateless between
requests, so determinism is what makes the mapping stable across turns.
"""

from __future__ import annotations

import hashlib
import re

__all__ = ["MAX_TOOL_ID_LENGTH", "ToolIdMap", "is_valid_tool_id", "sanitize_tool_id"]

MAX_TOOL_ID_LENGTH = 64
_INVALID = re.compile(r"[^a-zA-Z0-9_-]")
_VALID = re.compile(r"[a-zA-Z0-9_-]{1,64}")


def is_valid_tool_id(tool_id: str) -> bool:
    return _VALID.fullmatch(tool_id) is not None


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def sanitize_tool_id(tool_id: str) -> str:
    """Replace every character outside ``[a-zA-Z0-9_-]`` by ``_`` and cap at 64 characters.

    >>> sanitize_tool_id("functions.Bash:0")
    'functions_Bash_0'
    >>> sanitize_tool_id("toolu_01ABC")
    'toolu_01ABC'

    An over-long id keeps a hash of the whole so two long ids that share a prefix stay apart.
    """
    if _VALID.fullmatch(tool_id):
        return tool_id
    clean = _INVALID.sub("_", tool_id) or "toolu_" + _digest(tool_id)
    if len(clean) > MAX_TOOL_ID_LENGTH:
        clean = clean[: MAX_TOOL_ID_LENGTH - 9] + "_" + _digest(tool_id)
    return clean


class ToolIdMap:
    """A two-way map between one side's tool ids and their sanitised form.

    ``outward(original)`` returns the sanitised id (registering it); ``back(sanitised)`` returns
    the original, or the id unchanged when it was never registered. When two different
    originals sanitise to the same id (``a:1`` and ``a.1``), the second gets a hash suffix, so
    the map stays one-to-one within a request.
    """

    __slots__ = ("_back", "_out")

    def __init__(self) -> None:
        self._out: dict[str, str] = {}
        self._back: dict[str, str] = {}

    def outward(self, original: str) -> str:
        known = self._out.get(original)
        if known is not None:
            return known
        clean = sanitize_tool_id(original)
        if self._back.get(clean, original) != original:
            clean = clean[: MAX_TOOL_ID_LENGTH - 9] + "_" + _digest(original)
        self._out[original] = clean
        self._back[clean] = original
        return clean

    def back(self, sanitised: str) -> str:
        return self._back.get(sanitised, sanitised)

    def __len__(self) -> int:
        return len(self._out)

    def items(self) -> list[tuple[str, str]]:
        """``(original, sanitised)`` pairs, in registration order."""
        return list(self._out.items())
