"""The same scripted turns give the same final messages whichever Kimi endpoint the gateway uses,
for both clients, streamed or not: text, thinking, parallel tool calls and a multi-turn loop."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.testing import run_emulator
from tests.integration.gateway_env import gateway_env

pytestmark = pytest.mark.integration

STEPS: list[dict[str, Any]] = [
    {
        "thinking": "two tools at once",
        "tool_calls": [
            {"name": "Bash", "arguments": {"command": "ls -la"}},
            {"name": "Read", "arguments": {"path": "README.md", "limit": 10}},
        ],
    },
    {"thinking": "now one more", "tool_calls": [{"name": "Bash", "arguments": {"command": "pwd"}}]},
    {"thinking": "finished", "text": "All three results are in."},
]
O_TOOLS: Any = [
    {
        "type": "function",
        "function": {
            "name": n,
            "parameters": {
                "type": "object",
                "properties": {k: {"type": t} for k, t in props.items()},
            },
        },
    }
    for n, props in (
        ("Bash", {"command": "string"}),
        ("Read", {"path": "string", "limit": "integer"}),
    )
]
A_TOOLS: Any = [
    {"name": t["function"]["name"], "input_schema": t["function"]["parameters"]} for t in O_TOOLS
]


def run_openai_loop(base: str, key: str, stream: bool) -> list[dict[str, Any]]:
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "inspect the repo"}]
    finals: list[dict[str, Any]] = []
    with client:
        for _ in range(3):
            kwargs: Any = {
                "model": "gpt-5",
                "messages": messages,
                "tools": O_TOOLS,
                "reasoning_effort": "high",
            }
            if stream:
                content, reasoning, finish = "", "", None
                calls: dict[int, dict[str, str]] = {}
                for c in client.chat.completions.create(**kwargs, stream=True):
                    if not c.choices:
                        continue
                    delta: Any = c.choices[0].delta
                    content += delta.content or ""
                    reasoning += getattr(delta, "reasoning_content", None) or ""
                    for tc in delta.tool_calls or []:
                        slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                        slot["id"] += tc.id or ""
                        slot["name"] += (tc.function and tc.function.name) or ""
                        slot["arguments"] += (tc.function and tc.function.arguments) or ""
                    finish = c.choices[0].finish_reason or finish
                tool_calls = [calls[i] for i in sorted(calls)]
            else:
                resp = client.chat.completions.create(**kwargs)
                msg: Any = resp.choices[0].message
                content, finish = msg.content or "", resp.choices[0].finish_reason
                reasoning = getattr(msg, "reasoning_content", None) or ""
                tool_calls = [
                    {"id": t.id, "name": t.function.name, "arguments": t.function.arguments}
                    for t in msg.tool_calls or []
                ]
            finals.append(
                {
                    "content": content,
                    "reasoning": reasoning,
                    "finish": finish,
                    "calls": [(t["name"], json.loads(t["arguments"])) for t in tool_calls],
                }
            )
            if not tool_calls:
                break
            messages.append(
                {
                    "role": "assistant",
                    "content": content or None,
                    "reasoning_content": reasoning,
                    "tool_calls": [
                        {
                            "id": t["id"],
                            "type": "function",
                            "function": {"name": t["name"], "arguments": t["arguments"]},
                        }
                        for t in tool_calls
                    ],
                }
            )
            messages += [
                {"role": "tool", "tool_call_id": t["id"], "content": f"out {t['name']}"}
                for t in tool_calls
            ]
    return finals


def run_anthropic_loop(base: str, key: str, stream: bool) -> list[dict[str, Any]]:
    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "inspect the repo"}]
    finals: list[dict[str, Any]] = []
    with client:
        for _ in range(3):
            kwargs: Any = {
                "model": "claude-opus-5-5",
                "max_tokens": 16000,
                "thinking": {"type": "enabled", "budget_tokens": 4000},
                "tools": A_TOOLS,
                "messages": messages,
            }
            if stream:
                with client.messages.stream(**kwargs) as s:
                    final = s.get_final_message()
            else:
                final = client.messages.create(**kwargs)
            blocks = [b.model_dump(exclude_none=True) for b in final.content]
            finals.append(
                {
                    "stop": final.stop_reason,
                    "kinds": [b["type"] for b in blocks],
                    "thinking": "".join(b.get("thinking", "") for b in blocks),
                    "text": "".join(b.get("text", "") for b in blocks),
                    "calls": [(b["name"], b["input"]) for b in blocks if b["type"] == "tool_use"],
                }
            )
            uses = [b for b in blocks if b["type"] == "tool_use"]
            if not uses:
                break
            messages.append({"role": "assistant", "content": blocks})
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": u["id"],
                            "content": f"out {u['name']}",
                        }
                        for u in uses
                    ],
                }
            )
    return finals


@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_final_messages_equal_across_upstream_protocols(
    tmp_path: Path, client: str, stream: bool
) -> None:
    results: dict[str, list[dict[str, Any]]] = {}
    for upstream in ("openai", "anthropic"):
        with (
            run_emulator() as kimi,
            gateway_env(kimi, tmp_path / upstream, upstream_protocol=upstream) as env,
        ):
            kimi.script(STEPS)
            if client == "openai":
                results[upstream] = run_openai_loop(env.openai_base, env.key, stream)
            else:
                results[upstream] = run_anthropic_loop(env.url, env.key, stream)
    assert results["openai"] == results["anthropic"]
    turns = results["openai"]
    assert len(turns) == 3
    if client == "openai":
        assert [t["finish"] for t in turns] == ["tool_calls", "tool_calls", "stop"]
        assert turns[0]["calls"] == [
            ("Bash", {"command": "ls -la"}),
            ("Read", {"path": "README.md", "limit": 10}),
        ]
        assert turns[2]["content"] == "All three results are in."
        assert turns[0]["reasoning"] == "two tools at once"
    else:
        assert [t["stop"] for t in turns] == ["tool_use", "tool_use", "end_turn"]
        assert turns[0]["kinds"] == ["thinking", "tool_use", "tool_use"]
        assert turns[2]["text"] == "All three results are in."
        assert turns[1]["thinking"] == "now one more"
