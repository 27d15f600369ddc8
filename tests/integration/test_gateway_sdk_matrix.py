"""The official SDKs through the gateway over the emulator, on both upstreams: usage, the
upstream model name, the billing block removed, and reasoning_content and tool results as Kimi
receives them. The full matrix (every client x stream x scenario cell, final messages equal
across upstreams) is tests/integration/test_gateway_equivalence.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.testing import EmulatorHandle
from tests.integration.gateway_env import GatewayEnv, gateway_env

pytestmark = pytest.mark.integration

BASH: Any = {
    "type": "function",
    "function": {
        "name": "Bash",
        "description": "run a command",
        "parameters": {
            "type": "object",
            "properties": {"command": {"type": "string"}},
            "required": ["command"],
        },
    },
}
BASH_A: Any = {
    "name": "Bash",
    "description": "run a command",
    "input_schema": {
        "type": "object",
        "properties": {"command": {"type": "string"}},
        "required": ["command"],
    },
}
READ_A: Any = {
    "name": "Read",
    "description": "read",
    "input_schema": {"type": "object", "properties": {"path": {}}},
}


@pytest.fixture(params=["openai", "anthropic"])
def env(
    request: pytest.FixtureRequest, kimi_emulator: EmulatorHandle, tmp_path: Path
) -> Iterator[GatewayEnv]:
    with gateway_env(kimi_emulator, tmp_path, upstream_protocol=request.param) as e:
        yield e


def oai(env: GatewayEnv) -> openai.OpenAI:
    return openai.OpenAI(base_url=env.openai_base, api_key=env.key, max_retries=0)


def ant(env: GatewayEnv) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)


# ------------------------------------------------------------------------------ OpenAI client


@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_text(env: GatewayEnv, stream: bool) -> None:
    env.kimi.script([{"text": "hello from kimi"}])
    client = oai(env)
    messages: Any = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}]
    if stream:
        chunks = list(
            client.chat.completions.create(
                model="gpt-5",
                messages=messages,
                stream=True,
                stream_options={"include_usage": True},
            )
        )
        text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        finish = [
            c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
        ]
        usage = [c.usage for c in chunks if c.usage]
        assert finish == ["stop"]
        assert usage and usage[-1].prompt_tokens > 0
    else:
        resp = client.chat.completions.create(model="gpt-5", messages=messages)
        text = resp.choices[0].message.content or ""
        assert resp.choices[0].finish_reason == "stop"
        assert resp.usage is not None and resp.usage.completion_tokens > 0
    assert text == "hello from kimi"
    sent = env.kimi.requests[-1]
    assert sent.json()["model"] == "kimi-for-coding"


@pytest.mark.parametrize("stream", [False, True])
def test_openai_client_tool_call_round_trip(env: GatewayEnv, stream: bool) -> None:
    env.kimi.script(
        [
            {"tool_calls": [{"name": "Bash", "arguments": {"command": "echo hi"}}]},
            {"text": "done"},
        ]
    )
    client = oai(env)
    messages: list[Any] = [{"role": "user", "content": "run it"}]
    if stream:
        calls: dict[int, dict[str, str]] = {}
        finish = None
        for c in client.chat.completions.create(
            model="m", messages=messages, tools=[BASH], stream=True
        ):
            if not c.choices:
                continue
            for tc in c.choices[0].delta.tool_calls or []:
                slot = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                slot["id"] += tc.id or ""
                slot["name"] += (tc.function and tc.function.name) or ""
                slot["arguments"] += (tc.function and tc.function.arguments) or ""
            finish = c.choices[0].finish_reason or finish
        assert finish == "tool_calls"
        call = calls[0]
    else:
        resp = client.chat.completions.create(model="m", messages=messages, tools=[BASH])
        assert resp.choices[0].finish_reason == "tool_calls"
        made: Any = resp.choices[0].message.tool_calls[0]  # type: ignore[index]
        call = {"id": made.id, "name": made.function.name, "arguments": made.function.arguments}
    assert call["name"] == "Bash"
    assert json.loads(call["arguments"]) == {"command": "echo hi"}
    messages += [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": call["id"],
                    "type": "function",
                    "function": {"name": "Bash", "arguments": call["arguments"]},
                }
            ],
        },
        {"role": "tool", "tool_call_id": call["id"], "content": "hi"},
    ]
    resp2 = client.chat.completions.create(model="m", messages=messages, tools=[BASH])
    assert resp2.choices[0].message.content == "done"


# ------------------------------------------------------------------------------ Anthropic client


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_text(env: GatewayEnv, stream: bool) -> None:
    env.kimi.script([{"text": "hello claude"}])
    client = ant(env)
    kwargs: Any = {
        "model": "claude-opus-5-5",
        "max_tokens": 20000,
        "system": [
            {
                "type": "text",
                "text": "x-anthropic-billing-header: cc_version=2.1.330.440; cch=abc;",
            },
            {"type": "text", "text": "You are helpful."},
        ],
        "messages": [{"role": "user", "content": "hi"}],
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            final = s.get_final_message()
    else:
        final = client.messages.create(**kwargs)
    assert [b.type for b in final.content if b.type == "text"] == ["text"]
    assert "".join(b.text for b in final.content if b.type == "text") == "hello claude"
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 0
    sent = json.dumps(env.kimi.requests[-1].json())
    assert "x-anthropic-billing-header" not in sent


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_client_thinking_and_parallel_tools(env: GatewayEnv, stream: bool) -> None:
    env.kimi.script(
        [
            {
                "thinking": "let me think",
                "tool_calls": [
                    {"name": "Bash", "arguments": {"command": "ls"}},
                    {"name": "Read", "arguments": {"path": "a.txt"}},
                ],
            },
            {"text": "all done"},
        ]
    )
    client = ant(env)
    kwargs: Any = {
        "model": "claude-sonnet-4",
        "max_tokens": 4096,
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "tools": [BASH_A, READ_A],
        "messages": [{"role": "user", "content": "go"}],
    }
    if stream:
        with client.messages.stream(**kwargs) as s:
            final = s.get_final_message()
    else:
        final = client.messages.create(**kwargs)
    kinds = [b.type for b in final.content]
    assert kinds[0] == "thinking"
    uses = [b for b in final.content if b.type == "tool_use"]
    assert [u.name for u in uses] == ["Bash", "Read"]
    assert uses[0].input == {"command": "ls"}
    assert uses[1].input == {"path": "a.txt"}
    assert final.stop_reason == "tool_use"
    # the loop: thinking and tool uses go back, results follow
    messages: list[Any] = [
        *kwargs["messages"],
        {"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in final.content]},
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": u.id, "content": f"result {i}"}
                for i, u in enumerate(uses)
            ],
        },
    ]
    again = client.messages.create(**{**kwargs, "messages": messages})
    assert "".join(b.text for b in again.content if b.type == "text") == "all done"
    upstream_body = env.kimi.requests[-1].json()
    if "messages" in upstream_body and env.gateway.config.upstream_protocol == "openai":
        assistant = next(m for m in upstream_body["messages"] if m["role"] == "assistant")
        assert assistant["reasoning_content"]
        tools = [m for m in upstream_body["messages"] if m["role"] == "tool"]
        assert [t["content"] for t in tools] == ["result 0", "result 1"]
