"""Regression tests for the gateway bug classes in reference/gateways.md (b), through the real
gateway and the official SDKs. Each test names its class; the pure translation side of every
class is pinned in tests/unit/protocol/test_bug_classes.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

from kimibridge.testing import EmulatorHandle
from tests.integration.gateway_env import GatewayEnv, gateway_env, http

pytestmark = pytest.mark.integration

LONG_SYSTEM = "You are a careful coding agent. " * 200  # well over Kimi's 256-token cache chunk


@pytest.fixture(params=["openai", "anthropic"])
def env(
    request: pytest.FixtureRequest, kimi_emulator: EmulatorHandle, tmp_path: Path
) -> Iterator[GatewayEnv]:
    with gateway_env(kimi_emulator, tmp_path, upstream_protocol=request.param) as e:
        yield e


def upstream_body(env: GatewayEnv) -> dict[str, Any]:
    body: dict[str, Any] = env.kimi.requests[-1].json()
    return body


def _billing(cch: str) -> dict[str, str]:
    return {
        "type": "text",
        "text": f"x-anthropic-billing-header: cc_version=2.1.330.{cch}; cch={cch};",
    }


def test_class6_per_request_billing_header_does_not_bust_the_prefix_cache(
    env: GatewayEnv,
) -> None:
    """Two Claude Code sessions differ in the billing block that opens ``system``; through the
    gateway the second still reads the shared system prompt from Kimi's prefix cache."""
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    usages = []
    with a:
        for cch in ("a1b", "c2d"):
            reply = a.messages.create(
                model="claude-opus-5-5",
                max_tokens=500,
                system=[_billing(cch), {"type": "text", "text": LONG_SYSTEM}],  # type: ignore[list-item]
                messages=[{"role": "user", "content": f"session {cch}"}],
            )
            usages.append(reply.usage)
    assert not usages[0].cache_read_input_tokens
    read = usages[1].cache_read_input_tokens or 0
    assert read > 0.9 * (read + usages[1].input_tokens)
    assert "x-anthropic-billing-header" not in json.dumps(upstream_body(env))


def test_class9_count_tokens_counts_system_and_tools(env: GatewayEnv) -> None:
    """``count_tokens`` is served (no 404 storm) and counts what the request will cost: the
    system prompt and the tools, not only the messages; it matches the usage of the real call."""
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    bare: Any = {"model": "claude-x", "messages": [{"role": "user", "content": "count me"}]}
    full: Any = {
        **bare,
        "system": LONG_SYSTEM,
        "tools": [
            {
                "name": "Bash",
                "description": "run a shell command " * 20,
                "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
            }
        ],
    }
    with a:
        small = a.messages.count_tokens(**bare).input_tokens
        counted = a.messages.count_tokens(**full).input_tokens
        used = a.messages.create(**full, max_tokens=100).usage
    assert 0 < small < counted
    assert counted - small > len(LONG_SYSTEM) // 8  # the system prompt is in the count
    billed = used.input_tokens + (used.cache_read_input_tokens or 0)
    assert abs(counted - billed) <= 0.1 * billed


def test_class10_every_route_variant_answers_in_its_dialect(env: GatewayEnv) -> None:
    """Query strings, base-path prefixes and Claude Code's side routes reach a route; anything
    else is a 404 in the dialect's error shape, never an empty 200."""
    headers = {"content-type": "application/json", "x-api-key": env.key}
    a_body = json.dumps(
        {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    o_body = json.dumps(
        {"model": "gpt-x", "messages": [{"role": "user", "content": "hi"}]}
    ).encode()
    for path in (
        "/v1/messages",
        "/v1/messages?beta=true",
        "/anthropic/v1/messages",
        "/anthropic/v1/messages?beta=true",
        "/messages",
    ):
        resp = http("POST", env.url + path, a_body, headers)
        assert resp.status_code == 200, path
        assert resp.json()["type"] == "message" and resp.json()["content"], path
    for path in ("/v1/messages/count_tokens?beta=true", "/anthropic/v1/messages/count_tokens"):
        resp = http("POST", env.url + path, a_body, headers)
        assert resp.status_code == 200 and resp.json()["input_tokens"] > 0, path
    for path in ("/v1/chat/completions", "/openai/v1/chat/completions", "/chat/completions"):
        resp = http("POST", env.url + path, o_body, headers)
        assert resp.status_code == 200, path
        assert resp.json()["choices"][0]["message"]["content"], path
    for path in ("/v1/models", "/openai/v1/models", "/anthropic/v1/models", "/models"):
        resp = http("GET", env.url + path, None, headers)
        assert resp.status_code == 200 and resp.json()["data"], path
    assert http("POST", env.url + "/api/event_logging/batch", b"{}", headers).status_code == 200
    assert http("HEAD", env.url + "/", None, {}).status_code == 200
    for path, dialect in (("/v1/responses", "openai"), ("/anthropic/v1/complete", "anthropic")):
        resp = http("POST", env.url + path, a_body, headers)
        assert resp.status_code == 404, path
        error = resp.json()["error"]
        assert error["message"], path
        assert ("type" in resp.json()) == (dialect == "anthropic"), path


def test_class7_cache_reads_reach_both_clients(env: GatewayEnv) -> None:
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    kwargs: Any = {
        "model": "claude-x",
        "max_tokens": 500,
        "system": LONG_SYSTEM,
        "messages": [{"role": "user", "content": "hi"}],
    }
    with a:
        a.messages.create(**kwargs)
        again = a.messages.create(**kwargs)
        assert again.usage.cache_read_input_tokens and again.usage.cache_read_input_tokens > 0
        with a.messages.stream(**kwargs) as s:
            streamed = s.get_final_message()
        assert streamed.usage.cache_read_input_tokens == again.usage.cache_read_input_tokens
    o = openai.OpenAI(base_url=env.openai_base, api_key=env.key, max_retries=0)
    msgs: Any = [{"role": "system", "content": LONG_SYSTEM}, {"role": "user", "content": "hi"}]
    with o:
        resp = o.chat.completions.create(model="gpt-x", messages=msgs)
        assert resp.usage and resp.usage.prompt_tokens_details
        assert (resp.usage.prompt_tokens_details.cached_tokens or 0) > 0
        chunks = list(
            o.chat.completions.create(
                model="gpt-x", messages=msgs, stream=True, stream_options={"include_usage": True}
            )
        )
        usage = [c.usage for c in chunks if c.usage][-1]
        assert usage.prompt_tokens_details and (usage.prompt_tokens_details.cached_tokens or 0) > 0
        assert usage.prompt_tokens == resp.usage.prompt_tokens


def test_class12_max_tokens_clamped_not_refused(env: GatewayEnv) -> None:
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    with (
        a,
        a.messages.stream(
            model="claude-x", max_tokens=128000, messages=[{"role": "user", "content": "hi"}]
        ) as s,
    ):
        assert s.get_final_message().content
    body = upstream_body(env)
    limit = env.gateway.models.resolve("claude-x").max_output_tokens
    assert (body.get("max_tokens") or body.get("max_completion_tokens")) == limit


def test_class13_untyped_and_oversized_schemas_and_odd_ids(env: GatewayEnv) -> None:
    big = {
        "type": "object",
        "properties": {
            f"p{i}": {
                "type": "object",
                "properties": {
                    f"f{j}": {"type": "string", "description": "field " * 8} for j in range(12)
                },
            }
            for i in range(40)
        },
    }
    assert len(json.dumps(big)) > 15_000
    tools: Any = [
        {
            "name": "Workflow",
            "input_schema": {"type": "object", "properties": {"args": {"description": "untyped"}}},
        },
        {"name": "Big", "input_schema": big},
        {
            "name": "Bash",
            "input_schema": {"type": "object", "properties": {"command": {"type": "string"}}},
        },
    ]
    env.kimi.script([{"text": "fine"}])
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    messages: Any = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "functions.Bash:0",
                    "name": "Bash",
                    "input": {"command": "ls"},
                }
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "functions.Bash:0", "content": "a.txt"}
            ],
        },
    ]
    with a:
        reply = a.messages.create(model="claude-x", max_tokens=1000, tools=tools, messages=messages)
    assert "".join(b.text for b in reply.content if b.type == "text") == "fine"
    sent = json.dumps(upstream_body(env))
    assert "functions.Bash:0" not in sent and "functions_Bash_0" in sent


def test_class14_tool_choice_and_stop_sequences(env: GatewayEnv) -> None:
    o = openai.OpenAI(base_url=env.openai_base, api_key=env.key, max_retries=0)
    tools: Any = [
        {
            "type": "function",
            "function": {
                "name": "Bash",
                "parameters": {"type": "object", "properties": {"command": {"type": "string"}}},
            },
        }
    ]
    with o:
        resp = o.chat.completions.create(
            model="gpt-x",
            messages=[{"role": "user", "content": "hi"}],
            tools=tools,
            tool_choice="required",
            stop=["END"],
        )
    assert resp.choices[0].message is not None
    body = upstream_body(env)
    if env.gateway.config.upstream_protocol == "openai":
        assert body["tool_choice"] == "auto" and body["stop"] == ["END"]
    else:
        assert body["tool_choice"]["type"] == "auto" and body["stop_sequences"] == ["END"]


def test_class15_anthropic_only_features_not_forwarded(env: GatewayEnv) -> None:
    a = anthropic.Anthropic(base_url=env.url, api_key=env.key, max_retries=0)
    with a:
        reply = a.messages.create(
            model="claude-opus-5-5",
            max_tokens=1000,
            thinking={"type": "adaptive"},
            extra_body={
                "context_management": {
                    "edits": [{"type": "clear_thinking_20251015", "keep": "all"}]
                },
                "output_config": {"effort": "medium"},
            },
            tools=[
                {
                    "name": "DeferredToolPlaceholder",
                    "input_schema": {"type": "object"},
                    "defer_loading": True,
                },
            ],
            messages=[
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "document",
                            "source": {"type": "text", "media_type": "text/plain", "data": "notes"},
                        }
                    ],
                }
            ],
        )
    assert reply.content
    sent = json.dumps(upstream_body(env))
    for word in ("context_management", "defer_loading", "DeferredToolPlaceholder", '"document"'):
        assert word not in sent
    assert "notes" in sent
