"""Scripted turns: what the model does for one model request each.

A scenario is a list of steps (YAML or JSON file, or ``ModelState.script(steps)``); a file
may also be ``{"steps": [...]}``. Each step is a mapping with any of:

``text``        the answer text;
``thinking``    the reasoning text (sent only when the request has thinking on; when thinking
                is on and a step gives none, a deterministic default is used);
``tool_calls``  ``[{name, arguments, id?}]``; ``arguments`` is an object or a JSON string;
                ``name`` is matched case-insensitively against the request's tools and sent
                with the advertised spelling (as given when no tool matches);
``fault``       ``{kind, after_chunks?, delay_s?}`` with a ``faults.FaultKind`` value: a status
                kind answers that error; ``slow_first_byte`` waits ``delay_s`` then answers;
                ``stream_cut`` / ``malformed_chunk`` act on the answer's stream;
``error``       ``{status, type, message}``: answer this error in the request's dialect;
``match``       a string: the step is only taken by a request whose last user text contains
                it (case-insensitive); otherwise the request gets the default directive and the
                step waits;
``delay_ms``    pause between streamed chunks (a slow stream).

Steps are consumed in order, one per model request (``count_tokens`` consumes none); when
none are left the default directive answers (``directive.py``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from kimibridge.emulator.faults import Fault, FaultKind

__all__ = ["ErrorSpec", "ScenarioError", "ToolCallSpec", "Turn", "load_steps", "parse_steps"]


class ScenarioError(ValueError):
    """A scenario step that cannot be understood; the message names the step."""


@dataclass(frozen=True, slots=True)
class ToolCallSpec:
    name: str
    arguments: str  # JSON text, as it goes on the wire
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ErrorSpec:
    status: int
    type: str
    message: str


@dataclass(frozen=True, slots=True)
class Turn:
    """One model answer. ``thinking`` None means "default when thinking is on"."""

    text: str = ""
    thinking: str | None = None
    tool_calls: tuple[ToolCallSpec, ...] = ()
    fault: Fault | None = None
    error: ErrorSpec | None = None
    match: str | None = None
    delay_s: float = 0.0

    def matches(self, last_user_text: str) -> bool:
        return self.match is None or self.match.lower() in last_user_text.lower()


def _tool_call(index: int, raw: Any) -> ToolCallSpec:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise ScenarioError(f"step {index}: each tool call needs a string 'name'")
    args = raw.get("arguments", {})
    if isinstance(args, str):
        try:
            json.loads(args)
        except ValueError as exc:
            raise ScenarioError(f"step {index}: tool call arguments are not JSON: {exc}") from None
        text = args
    else:
        text = json.dumps(args, ensure_ascii=False)
    call_id = raw.get("id")
    return ToolCallSpec(raw["name"], text, str(call_id) if call_id is not None else None)


def _fault(index: int, raw: Any) -> Fault:
    if not isinstance(raw, Mapping) or "kind" not in raw:
        raise ScenarioError(f"step {index}: 'fault' needs a 'kind'")
    try:
        kind = FaultKind(str(raw["kind"]))
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ScenarioError(
            f"step {index}: unknown fault kind {raw['kind']!r} (known: {known})"
        ) from None
    return Fault(
        kind,
        delay_s=float(raw.get("delay_s", 2.0)),
        after_chunks=int(raw.get("after_chunks", 2)),
    )


def _error(index: int, raw: Any) -> ErrorSpec:
    if not isinstance(raw, Mapping):
        raise ScenarioError(f"step {index}: 'error' must be a mapping")
    return ErrorSpec(
        status=int(raw.get("status", 400)),
        type=str(raw.get("type", "invalid_request_error")),
        message=str(raw.get("message", "Invalid request")),
    )


_KNOWN = {"text", "thinking", "tool_calls", "fault", "error", "match", "delay_ms"}


def parse_steps(steps: Sequence[Any]) -> list[Turn]:
    turns: list[Turn] = []
    for index, raw in enumerate(steps):
        if not isinstance(raw, Mapping):
            raise ScenarioError(f"step {index}: expected a mapping, got {type(raw).__name__}")
        unknown = set(raw) - _KNOWN
        if unknown:
            raise ScenarioError(
                f"step {index}: unknown keys {sorted(unknown)} (known: {sorted(_KNOWN)})"
            )
        calls = raw.get("tool_calls") or []
        if not isinstance(calls, list):
            raise ScenarioError(f"step {index}: 'tool_calls' must be a list")
        thinking = raw.get("thinking")
        match = raw.get("match")
        turns.append(
            Turn(
                text=str(raw.get("text", "")),
                thinking=str(thinking) if thinking is not None else None,
                tool_calls=tuple(_tool_call(index, c) for c in calls),
                fault=_fault(index, raw["fault"]) if raw.get("fault") is not None else None,
                error=_error(index, raw["error"]) if raw.get("error") is not None else None,
                match=str(match) if match is not None else None,
                delay_s=float(raw.get("delay_ms", 0)) / 1000.0,
            )
        )
    return turns


def load_steps(path: Path) -> list[Turn]:
    """Steps from a YAML or JSON file (JSON is YAML), either a list or ``{"steps": [...]}``."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{path}: not YAML or JSON: {exc}") from None
    if isinstance(data, Mapping):
        data = data.get("steps")
    if not isinstance(data, list):
        raise ScenarioError(f"{path}: expected a list of steps or a mapping with 'steps'")
    return parse_steps(data)
