"""Each Kimi shaping rule, alone and through its table."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from kimibridge.errors import TranslationError
from kimibridge.kimi import payload as p
from kimibridge.kimi.model_map import DEFAULT_SPECS, ModelMap, ModelSpec, parse_model_map

KFC = DEFAULT_SPECS["kimi-for-coding"]
K3 = DEFAULT_SPECS["k3"]
NO_THINK = ModelSpec("plain", supports_thinking_type="no")


def ctx(spec: ModelSpec = KFC, **kw: Any) -> p.ShapeContext:
    return p.ShapeContext(spec=spec, **kw)


# ------------------------------------------------------------------------ model map


def test_model_map_defaults() -> None:
    m = ModelMap()
    assert m.resolve("claude-opus-5-5").id == "kimi-for-coding"
    assert m.resolve("gpt-5").id == "kimi-for-coding"
    assert m.resolve("fake-model").id == "kimi-for-coding"
    assert m.resolve(None).id == "kimi-for-coding"
    assert m.resolve("k3").id == "k3"
    assert m.resolve("kimi-for-coding-highspeed").id == "kimi-for-coding-highspeed"


def test_model_map_user_rules_first() -> None:
    m = ModelMap(parse_model_map("claude-*haiku*=kimi-for-coding-highspeed, gpt-5*=k3"))
    assert m.resolve("claude-haiku-4-5").id == "kimi-for-coding-highspeed"
    assert m.resolve("claude-sonnet-4").id == "kimi-for-coding"
    assert m.resolve("GPT-5-codex").id == "k3"
    with pytest.raises(ValueError):
        parse_model_map("nonsense")


def test_model_map_live_catalog() -> None:
    m = ModelMap()
    m.update_catalog(
        [
            {
                "id": "kimi-for-coding",
                "context_length": 131072,
                "supports_thinking_type": "only",
                "think_efforts": {
                    "support": True,
                    "valid_efforts": ["low"],
                    "default_effort": "low",
                },
            }
        ]
    )
    spec = m.resolve("claude-x")
    assert spec.context_length == 131072
    assert spec.supports_thinking_type == "only"
    assert spec.valid_efforts == ("low",)


# ------------------------------------------------------------------------ intent


def test_intent_from_anthropic() -> None:
    assert p.intent_from_anthropic({}) == p.ThinkingIntent()
    assert p.intent_from_anthropic({"thinking": {"type": "disabled"}}).enabled is False
    i = p.intent_from_anthropic(
        {"thinking": {"type": "adaptive"}, "output_config": {"effort": "medium"}}
    )
    assert (i.enabled, i.effort) == (True, "high")
    i = p.intent_from_anthropic({"thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert (i.enabled, i.effort, i.budget_tokens) == (True, "low", 1024)


def test_intent_from_openai() -> None:
    assert p.intent_from_openai({"reasoning_effort": "xhigh"}) == p.ThinkingIntent(True, "max")
    assert p.intent_from_openai({"reasoning_effort": "none"}).enabled is False
    assert p.intent_from_openai({"reasoning_effort": None}).enabled is None
    assert p.intent_from_openai({"thinking": {"type": "disabled"}}).enabled is False


def test_session_key_sources() -> None:
    assert p.session_key({"x-claude-code-session-id": "s1"}, {}) == "s1"
    assert p.session_key({"x-session-id": "oc"}, {}) == "oc"
    uid = json.dumps({"device_id": "d", "account_uuid": "", "session_id": "s2"})
    assert p.session_key({}, {"metadata": {"user_id": uid}}) == "s2"
    assert p.session_key({}, {"metadata": {"user_id": "user_ab_account__session_s3"}}) == "s3"
    assert p.session_key({}, {"prompt_cache_key": "k"}) == "k"
    assert p.session_key({}, {}) is None


# ------------------------------------------------------------------------ Anthropic client


def test_strip_billing_header() -> None:
    body: dict[str, Any] = {
        "system": [
            {"type": "text", "text": "x-anthropic-billing-header: cc_version=2.1.330.440; cch=ab;"},
            {"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}},
        ]
    }
    p.strip_billing_header(body, ctx())
    assert body["system"] == [
        {"type": "text", "text": "You are Claude.", "cache_control": {"type": "ephemeral"}}
    ]


def test_fold_inline_system_into_adjacent_user() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "env: linux"},
            {"role": "assistant", "content": "ok"},
            {"role": "system", "content": [{"type": "text", "text": "note"}]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "t", "content": "r"},
                    {"type": "text", "text": "go"},
                ],
            },
            {"role": "assistant", "content": "done"},
            {"role": "system", "content": "tail"},
        ]
    }
    p.fold_inline_system_anthropic(body, ctx())
    msgs = body["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant", "user"]
    # Claude Code's case: the reminder goes ahead of the prompt, which stays the last text
    assert msgs[0]["content"] == [
        {"type": "text", "text": "<system-reminder>\nenv: linux\n</system-reminder>"},
        {"type": "text", "text": "hi"},
    ]
    # after the leading tool results, before the text
    assert [b["type"] for b in msgs[2]["content"]] == ["tool_result", "text", "text"]
    assert msgs[2]["content"][1]["text"].startswith("<system-reminder>\nnote")
    assert "tail" in msgs[4]["content"][0]["text"]


def test_drop_anthropic_only_and_deferred() -> None:
    body: dict[str, Any] = {
        "context_management": {"edits": []},
        "tools": [
            {"name": "Bash", "input_schema": {"type": "object"}},
            {"name": "DeferredToolPlaceholder", "defer_loading": True, "input_schema": {}},
            {"name": "Read", "defer_loading": False, "input_schema": {"type": "object"}},
        ],
    }
    p.drop_anthropic_only_fields(body, ctx())
    p.drop_deferred_tools(body, ctx())
    assert "context_management" not in body
    assert [t["name"] for t in body["tools"]] == ["Bash", "Read"]
    assert "defer_loading" not in body["tools"][1]


def test_documents() -> None:
    body: dict[str, Any] = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "title": "a.txt",
                        "source": {"type": "text", "data": "abc"},
                    },
                ],
            }
        ]
    }
    p.documents_to_text(body, ctx())
    assert body["messages"][0]["content"][0] == {"type": "text", "text": "Document: a.txt\n\nabc"}
    pdf: dict[str, Any] = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {
                        "type": "document",
                        "source": {"type": "base64", "media_type": "application/pdf", "data": "x"},
                    }
                ],
            }
        ]
    }
    with pytest.raises(TranslationError) as info:
        p.documents_to_text(pdf, ctx())
    assert info.value.status_hint == 400
    assert "application/pdf" in str(info.value)


def test_sanitize_tool_ids_anthropic() -> None:
    body: dict[str, Any] = {
        "messages": [
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": "functions.Bash:0", "name": "Bash", "input": {}}
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "functions.Bash:0", "content": "ok"}
                ],
            },
        ]
    }
    p.sanitize_tool_ids_anthropic(body, ctx())
    assert body["messages"][0]["content"][0]["id"] == "functions_Bash_0"
    assert body["messages"][1]["content"][0]["tool_use_id"] == "functions_Bash_0"


# ------------------------------------------------------------------------ OpenAI upstream


def test_developer_and_inline_system_openai() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "developer", "content": "sys"},
            {"role": "system", "content": "sys2"},
            {"role": "user", "content": "hi"},
            {"role": "system", "content": "late"},
        ]
    }
    p.developer_to_system(body, ctx())
    p.fold_inline_system_openai(body, ctx())
    assert [m["role"] for m in body["messages"]] == ["system", "system", "user", "user"]
    assert body["messages"][3]["content"] == "<system-reminder>\nlate\n</system-reminder>"


@pytest.mark.parametrize(
    ("spec", "intent", "expected"),
    [
        (KFC, p.ThinkingIntent(), {"type": "enabled"}),
        (KFC, p.ThinkingIntent(False), {"type": "disabled"}),
        (K3, p.ThinkingIntent(False), {"type": "enabled", "effort": "high"}),
        (K3, p.ThinkingIntent(True, "max"), {"type": "enabled", "effort": "max"}),
        (K3, p.ThinkingIntent(True, "medium"), {"type": "enabled", "effort": "high"}),
        (NO_THINK, p.ThinkingIntent(True, "high"), None),
    ],
)
def test_thinking_openai(spec: ModelSpec, intent: p.ThinkingIntent, expected: Any) -> None:
    body: dict[str, Any] = {"reasoning_effort": "high"}
    p.thinking_openai(body, ctx(spec, intent=intent))
    assert "reasoning_effort" not in body
    assert body.get("thinking") == expected


def test_pad_reasoning_content() -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    body: dict[str, Any] = {
        "messages": [
            {"role": "assistant", "tool_calls": [call]},
            {"role": "assistant", "tool_calls": [call], "reasoning_content": "kept"},
            {"role": "assistant", "content": "text only"},
        ]
    }
    off = copy.deepcopy(body)
    p.pad_reasoning_content(body, ctx())
    assert body["messages"][0]["reasoning_content"] == p.REASONING_PLACEHOLDER
    assert body["messages"][1]["reasoning_content"] == "kept"
    assert "reasoning_content" not in body["messages"][2]
    p.pad_reasoning_content(off, ctx(intent=p.ThinkingIntent(False)))
    assert "reasoning_content" not in off["messages"][0]


def test_tool_choice_openai() -> None:
    body: dict[str, Any] = {"tool_choice": "required", "tools": [{"type": "function"}]}
    p.coerce_tool_choice_openai(body, ctx())
    assert body["tool_choice"] == "auto"
    named: dict[str, Any] = {
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "tools": [{}],
    }
    p.coerce_tool_choice_openai(named, ctx(intent=p.ThinkingIntent(False)))
    assert named["tool_choice"]["type"] == "function"
    p.coerce_tool_choice_openai(named, ctx())
    assert named["tool_choice"] == "auto"
    notools: dict[str, Any] = {"tool_choice": "auto"}
    p.coerce_tool_choice_openai(notools, ctx())
    assert "tool_choice" not in notools


def test_tool_schemas_openai_backfill() -> None:
    body: dict[str, Any] = {
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "Workflow",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "args": {"description": "x"},
                            "mode": {"enum": ["a", "b"]},
                            "n": {"enum": [1, 2.5]},
                            "list": {"items": {"const": True}},
                            "any": {"anyOf": [{"type": "string"}, {}]},
                        },
                    },
                },
            },
            {"type": "function", "function": {"name": "NoParams"}},
        ]
    }
    p.tool_schemas_openai(body, ctx())
    props = body["tools"][0]["function"]["parameters"]["properties"]
    assert props["args"]["type"] == "string"
    assert props["mode"]["type"] == "string"
    assert props["n"]["type"] == "number"
    assert props["list"]["type"] == "array"
    assert props["list"]["items"]["type"] == "boolean"
    assert "type" not in props["any"]
    assert props["any"]["anyOf"][1]["type"] == "string"
    assert body["tools"][1]["function"]["parameters"] == {"type": "object", "properties": {}}


def test_tool_schema_shrinks_under_limit() -> None:
    from kimibridge.kimi.tool_schemas import SIZE_LIMIT, shrink_schema

    item = {
        "type": "object",
        "properties": {
            f"f{i}": {"type": "string", "description": "a field " * 5} for i in range(10)
        },
    }
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {f"p{i}": copy.deepcopy(item) for i in range(40)},
    }
    assert len(json.dumps(schema)) > SIZE_LIMIT
    assert shrink_schema(schema)
    assert len(json.dumps(schema, separators=(",", ":"))) <= SIZE_LIMIT
    assert schema["properties"]["p0"] == {"$ref": "#/$defs/d0"}
    assert schema["$defs"]["d0"] == item


def test_sanitize_ids_openai_and_tool_content() -> None:
    body: dict[str, Any] = {
        "messages": [
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "SearchWeb:0",
                        "type": "function",
                        "function": {"name": "s", "arguments": "{}"},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "SearchWeb:0", "content": None},
        ]
    }
    p.sanitize_tool_ids_openai(body, ctx())
    assert body["messages"][0]["tool_calls"][0]["id"] == "SearchWeb_0"
    assert body["messages"][1] == {"role": "tool", "tool_call_id": "SearchWeb_0", "content": ""}


def test_clamp_and_cache_key_and_usage() -> None:
    body: dict[str, Any] = {
        "max_completion_tokens": 10**6,
        "stream": True,
        "messages": [{"role": "system", "content": "s"}],
    }
    p.clamp_max_tokens_openai(body, ctx())
    assert body["max_completion_tokens"] == KFC.max_output_tokens
    p.prompt_cache_key(body, ctx(session="sess"))
    assert body["prompt_cache_key"] == "sess"
    other = copy.deepcopy(body)
    p.prompt_cache_key(body, ctx())
    p.prompt_cache_key(other, ctx())
    assert body["prompt_cache_key"] == other["prompt_cache_key"]
    assert body["prompt_cache_key"].startswith("kb_")
    p.stream_usage(body, ctx())
    assert body["stream_options"] == {"include_usage": True}


def test_shape_openai_upstream_whole_pi_request() -> None:
    body: dict[str, Any] = {
        "model": "fake-model",
        "reasoning_effort": "medium",
        "max_completion_tokens": 8192,
        "stream": True,
        "messages": [{"role": "developer", "content": "sys"}, {"role": "user", "content": "hi"}],
        "tools": [
            {
                "type": "function",
                "function": {
                    "name": "bash",
                    "parameters": {"type": "object", "properties": {"c": {}}},
                    "strict": False,
                },
            }
        ],
    }
    out = p.shape_openai_upstream(body, ctx(session="pi-1"))
    assert out["model"] == "kimi-for-coding"
    assert out["thinking"] == {"type": "enabled"}
    assert out["messages"][0]["role"] == "system"
    assert out["prompt_cache_key"] == "pi-1"
    assert out["tools"][0]["function"]["parameters"]["properties"]["c"]["type"] == "string"


# ------------------------------------------------------------------------ Anthropic upstream


def test_shape_anthropic_upstream() -> None:
    body: dict[str, Any] = {
        "model": "claude-opus-5-5",
        "max_tokens": 128000,
        "thinking": {"type": "adaptive", "display": "updates"},
        "output_config": {"effort": "medium"},
        "tool_choice": {"type": "any"},
        "tools": [
            {"name": "W", "input_schema": {"type": "object", "properties": {"args": {}}}},
            {"type": "web_search_20250305", "name": "web_search"},
        ],
    }
    intent = p.intent_from_anthropic(body)
    p.shape_anthropic_upstream(body, ctx(intent=intent))
    assert body["model"] == "kimi-for-coding"
    assert body["max_tokens"] == KFC.max_output_tokens
    assert body["thinking"] == {"type": "adaptive"}
    assert "output_config" not in body  # kimi-for-coding lists no efforts
    assert body["tool_choice"] == {"type": "auto"}
    assert body["tools"][0]["input_schema"]["properties"]["args"]["type"] == "string"
    assert "input_schema" not in body["tools"][1]


def test_thinking_anthropic_budget_below_max_tokens_and_effort() -> None:
    body: dict[str, Any] = {
        "max_tokens": 2000,
        "thinking": {"type": "enabled", "budget_tokens": 5000},
    }
    p.shape_anthropic_upstream(body, ctx(K3, intent=p.intent_from_anthropic(body)))
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 1999}
    assert body["output_config"] == {"effort": "high"}
    off: dict[str, Any] = {"max_tokens": 10, "thinking": {"type": "disabled"}}
    p.shape_anthropic_upstream(off, ctx(intent=p.intent_from_anthropic(off)))
    assert off["thinking"] == {"type": "disabled"}
