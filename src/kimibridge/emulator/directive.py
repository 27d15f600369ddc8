"""The default answer when no scenario step applies: a directive real agent CLIs can be driven with.

- The last user text contains ``[[call NAME {json args}]]`` (one or more; several mean
  parallel calls; the arguments may be omitted for ``{}``): answer with those tool calls. NAME
  is matched case-insensitively against the tools the request advertises and sent with the
  advertised spelling; ``bash`` and ``shell`` stand in for each other (Claude Code, pi and
  opencode call it Bash/bash, kimi-cli calls it Shell). An unknown name or malformed arguments
  → a text answer saying so.
- The last message is a tool result: ``Tool result: <first 200 chars>`` (several results are
  joined by newlines first).
- Otherwise: ``Hello from the Kimi emulator. You said: <first 80 chars>``.

The *last user text* is the last text of the last user message that carries text (messages
holding only tool results are skipped), with ``<system-reminder>…</system-reminder>`` spans
removed; a text that is nothing but reminders does not count.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kimibridge.emulator.scenario import ToolCallSpec, Turn

__all__ = [
    "Conversation",
    "DirectiveError",
    "default_thinking",
    "default_turn",
    "parse_calls",
    "resolve_tool_name",
    "strip_reminders",
    "user_text",
]

_REMINDER = re.compile(r"<system-reminder>.*?(?:</system-reminder>|$)", re.DOTALL)
_OPEN = re.compile(r"\[\[call\s+([^\s\]{]+)\s*", re.IGNORECASE)
_ALIASES = ({"bash", "shell"},)


class DirectiveError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Conversation:
    """What the default directive needs from a request, in either dialect."""

    texts_of_last_user_message: tuple[str, ...]  # of the last user message that has text
    tool_results: tuple[str, ...] | None  # the trailing tool results, when the last message is one
    tools: tuple[str, ...]  # advertised tool names


def strip_reminders(text: str) -> str:
    return _REMINDER.sub("", text).strip()


def user_text(texts: Sequence[str]) -> str:
    for text in reversed(texts):
        stripped = strip_reminders(text)
        if stripped:
            return stripped
    return ""


def parse_calls(text: str) -> list[tuple[str, str]]:
    """``(name, arguments JSON)`` for each ``[[call NAME {args}]]`` in ``text``, in order."""
    calls: list[tuple[str, str]] = []
    decoder = json.JSONDecoder()
    pos = 0
    while (m := _OPEN.search(text, pos)) is not None:
        name, pos = m.group(1), m.end()
        args: object = {}
        if text.startswith("{", pos):
            try:
                args, pos = decoder.raw_decode(text, pos)
            except ValueError as exc:
                raise DirectiveError(
                    f"the arguments of [[call {name} …]] are not JSON: {exc}"
                ) from None
            if not isinstance(args, dict):
                raise DirectiveError(f"the arguments of [[call {name} …]] must be a JSON object")
        rest = text[pos:].lstrip()
        if not rest.startswith("]]"):
            raise DirectiveError(f"[[call {name} …]] is not closed with ]]")
        pos = len(text) - len(rest) + 2
        calls.append((name, json.dumps(args, ensure_ascii=False)))
    return calls


def resolve_tool_name(name: str, tools: Sequence[str]) -> str | None:
    """The advertised spelling of ``name`` (case-insensitive, with aliases), or None."""
    wanted = name.lower()
    by_lower = {t.lower(): t for t in tools}
    if wanted in by_lower:
        return by_lower[wanted]
    for group in _ALIASES:
        if wanted in group:
            for alias in sorted(group):
                if alias in by_lower:
                    return by_lower[alias]
    return None


def default_thinking(last_user_text: str) -> str:
    return f"The user wrote {len(last_user_text)} characters. I will answer as the emulator's directive says."


def default_turn(conv: Conversation) -> Turn:
    if conv.tool_results is not None:
        quoted = "\n".join(conv.tool_results)[:200]
        return Turn(text=f"Tool result: {quoted}")
    said = user_text(conv.texts_of_last_user_message)
    try:
        calls = parse_calls(said)
    except DirectiveError as exc:
        return Turn(text=f"Emulator directive error: {exc}")
    if calls:
        specs: list[ToolCallSpec] = []
        for name, args in calls:
            resolved = resolve_tool_name(name, conv.tools)
            if resolved is None:
                offered = ", ".join(conv.tools) or "none"
                return Turn(text=f"Emulator: no tool named {name!r} is offered (tools: {offered}).")
            specs.append(ToolCallSpec(resolved, args))
        return Turn(tool_calls=tuple(specs))
    return Turn(text=f"Hello from the Kimi emulator. You said: {said[:80]}")
