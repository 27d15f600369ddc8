"""Issue 4's SDK matrix: {OpenAI, Anthropic client} x {OpenAI, Anthropic upstream} x {stream,
non-stream} x {text, thinking, single tool call, parallel tool calls, multi-turn tool loop}.

Each cell drives the official SDK through the gateway over the emulator until the model stops
calling tools, checks every turn against the script, and checks that the final messages are equal
across the two upstream protocols."""

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

BASH_LS = {"name": "Bash", "arguments": {"command": "ls -la"}}
READ = {"name": "Read", "arguments": {"path": "README.md", "limit": 10}}
SCENARIOS: dict[str, list[dict[str, Any]]] = {
    # thinking off (the client does not ask for it)
    "text": [{"text": "Hello from the matrix."}],
    "single-tool": [{"tool_calls": [BASH_LS]}, {"text": "Listed."}],
    # thinking on: every step scripts its own (the emulator's default thinking is prompt-dependent)
    "thinking": [{"thinking": "a short think", "text": "Thought about it."}],
    "parallel-tools": [
        {"thinking": "two at once", "tool_calls": [BASH_LS, READ]},
        {"thinking": "both back", "text": "Both are in."},
    ],
    "tool-loop": [
        {"thinking": "two tools at once", "tool_calls": [BASH_LS, READ]},
        {
            "thinking": "now one more",
            "tool_calls": [{"name": "Bash", "arguments": {"command": "pwd"}}],
        },
        {"thinking": "finished", "text": "All three results are in."},
    ],
}
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


def thinks(steps: list[dict[str, Any]]) -> bool:
    return any("thinking" in step for step in steps)


def run_openai_loop(base: str, key: str, stream: bool, thinking: bool) -> list[dict[str, Any]]:
    client = openai.OpenAI(base_url=base, api_key=key, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "inspect the repo"}]
    finals: list[dict[str, Any]] = []
    with client:
        for _ in range(3):
            kwargs: Any = {
                "model": "gpt-5",
                "messages": messages,
                "tools": O_TOOLS,
            }
            if thinking:
                kwargs["reasoning_effort"] = "high"
            else:
                kwargs["extra_body"] = {"thinking": {"type": "disabled"}}
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


def run_anthropic_loop(base: str, key: str, stream: bool, thinking: bool) -> list[dict[str, Any]]:
    client = anthropic.Anthropic(base_url=base, api_key=key, max_retries=0)
    messages: list[Any] = [{"role": "user", "content": "inspect the repo"}]
    finals: list[dict[str, Any]] = []
    with client:
        for _ in range(3):
            kwargs: Any = {
                "model": "claude-opus-5-5",
                "max_tokens": 16000,
                "tools": A_TOOLS,
                "messages": messages,
            }
            # saying nothing leaves thinking to Kimi's default (on), so "off" is said explicitly
            kwargs["thinking"] = (
                {"type": "enabled", "budget_tokens": 4000} if thinking else {"type": "disabled"}
            )
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


def expected_turns(steps: list[dict[str, Any]], client: str) -> list[dict[str, Any]]:
    """What each turn's final message must hold, read off the emulator's script."""
    turns = []
    for step in steps:
        calls = [(c["name"], c["arguments"]) for c in step.get("tool_calls", [])]
        thinking, text = step.get("thinking", ""), step.get("text", "")
        if client == "openai":
            finish = "tool_calls" if calls else "stop"
            turns.append({"content": text, "reasoning": thinking, "finish": finish, "calls": calls})
        else:
            kinds = (
                ["thinking"] * bool(thinking) + ["text"] * bool(text) + ["tool_use"] * len(calls)
            )
            stop = "tool_use" if calls else "end_turn"
            turns.append(
                {"stop": stop, "kinds": kinds, "thinking": thinking, "text": text, "calls": calls}
            )
    return turns


@pytest.mark.parametrize("scenario", list(SCENARIOS))
@pytest.mark.parametrize("stream", [False, True], ids=["non-stream", "stream"])
@pytest.mark.parametrize("client", ["openai", "anthropic"])
def test_final_messages_equal_across_upstream_protocols(
    tmp_path: Path, client: str, stream: bool, scenario: str
) -> None:
    steps = SCENARIOS[scenario]
    results: dict[str, list[dict[str, Any]]] = {}
    for upstream in ("openai", "anthropic"):
        with (
            run_emulator() as kimi,
            gateway_env(kimi, tmp_path / upstream, upstream_protocol=upstream) as env,
        ):
            kimi.script(steps)
            if client == "openai":
                results[upstream] = run_openai_loop(env.openai_base, env.key, stream, thinks(steps))
            else:
                results[upstream] = run_anthropic_loop(env.url, env.key, stream, thinks(steps))
            model_calls = [
                r for r in kimi.requests if r.path.endswith(("/completions", "/messages"))
            ]
            # one upstream call per client turn, on the configured protocol
            assert len(model_calls) == len(steps)
            assert all(
                r.path.endswith("/completions" if upstream == "openai" else "/messages")
                for r in model_calls
            )
    assert results["openai"] == results["anthropic"]
    assert results["openai"] == expected_turns(steps, client)
