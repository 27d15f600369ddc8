"""Request parameters other than messages, both ways: tools, tool_choice, thinking and effort."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "effort_from_thinking",
    "thinking_to_anthropic",
    "tool_choice_to_anthropic",
    "tool_choice_to_openai",
    "tools_to_anthropic",
    "tools_to_openai",
]


def _empty_schema() -> dict[str, Any]:
    # A fresh dict each time: the gateway may back-fill schemas in place.
    return {"type": "object", "properties": {}}


def tools_to_openai(tools: list[Any]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if "input_schema" not in tool and tool.get("type") not in (None, "custom"):
            continue  # hosted tools (web_search_*, bash_*, ...) have no function form
        fn: dict[str, Any] = {
            "name": tool.get("name", ""),
            "description": tool.get("description") or "",
            # A missing schema is back-filled: OpenAI backends answer "missing field parameters".
            "parameters": tool.get("input_schema") or _empty_schema(),
        }
        out.append({"type": "function", "function": fn})
    return out


def tool_choice_to_openai(choice: Mapping[str, Any], body: dict[str, Any]) -> None:
    kind = choice.get("type")
    if kind == "auto":
        body["tool_choice"] = "auto"
    elif kind == "any":
        body["tool_choice"] = "required"
    elif kind == "none":
        body["tool_choice"] = "none"
    elif kind == "tool":
        body["tool_choice"] = {"type": "function", "function": {"name": choice.get("name", "")}}
    if choice.get("disable_parallel_tool_use"):
        body["parallel_tool_calls"] = False


def effort_from_thinking(req: Mapping[str, Any]) -> str | None:
    thinking = req.get("thinking") or {}
    effort = (req.get("output_config") or {}).get("effort")
    kind = thinking.get("type")
    if kind == "disabled":
        return "none"
    if effort:
        return str(effort)
    if kind == "enabled":
        budget = int(thinking.get("budget_tokens") or 0)
        return "low" if budget <= 1024 else "medium" if budget <= 8192 else "high"
    return None  # adaptive without an effort: the gateway applies the model's default


def tools_to_anthropic(tools: list[Any]) -> list[dict[str, Any]]:
    out = []
    for tool in tools:
        if tool.get("type", "function") != "function":
            continue  # custom / hosted OpenAI tools have no Anthropic form
        fn = tool.get("function") or {}
        item: dict[str, Any] = {
            "name": fn.get("name", ""),
            "input_schema": fn.get("parameters") or _empty_schema(),
        }
        if fn.get("description"):
            item["description"] = fn["description"]
        out.append(item)
    return out


def tool_choice_to_anthropic(choice: Any, parallel: Any) -> dict[str, Any] | None:
    result: dict[str, Any] | None
    if choice == "auto":
        result = {"type": "auto"}
    elif choice == "required":
        result = {"type": "any"}
    elif choice == "none":
        result = {"type": "none"}
    elif isinstance(choice, Mapping):
        result = {"type": "tool", "name": (choice.get("function") or {}).get("name", "")}
    else:
        result = None
    if parallel is False:
        result = result or {"type": "auto"}
        if result["type"] != "none":
            result["disable_parallel_tool_use"] = True
    return result


_EFFORTS = {
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "max",
    "max": "max",
}


def thinking_to_anthropic(req: Mapping[str, Any], body: dict[str, Any]) -> None:
    effort = req.get("reasoning_effort")
    raw = req.get("thinking")
    kimi: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    if effort == "none" or kimi.get("type") == "disabled":
        body["thinking"] = {"type": "disabled"}
        return
    effort = effort or kimi.get("effort")
    if effort in _EFFORTS:
        body["thinking"] = {"type": "adaptive"}
        body["output_config"] = {"effort": _EFFORTS[effort]}
    elif kimi.get("type") == "enabled":
        body["thinking"] = {"type": "adaptive"}
