"""Generated answers through both stream translators: content, ids and arguments survive."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from kimibridge.protocol import (
    AnthropicMessageCollector,
    AnthropicToOpenAIStream,
    OpenAICompletionCollector,
    OpenAIToAnthropicStream,
    encode_anthropic,
)

from ._cases import Case, Tool, anthropic_content, anthropic_sse, openai_message, openai_sse
from ._replay import check_anthropic, check_openai, run

_text = st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=12)
_args = st.dictionaries(
    st.text(min_size=1, max_size=5),
    st.one_of(
        st.integers(), st.text(max_size=10), st.booleans(), st.lists(st.integers(), max_size=3)
    ),
    max_size=4,
)


@st.composite
def tools(draw: st.DrawFn, n: int) -> Tool:
    text = json.dumps(draw(_args), ensure_ascii=False)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6)))
    fragments = tuple(text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True))
    prefix = draw(st.sampled_from(["functions.Bash:", "call_", "toolu_0", "x y/"]))
    return Tool(f"{prefix}{n}", draw(st.sampled_from(["Bash", "Read", "mcp__s__t"])), fragments)


@st.composite
def cases(draw: st.DrawFn) -> Case:
    steps: list[Any] = []
    for n in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["think", "text", "tool"]))
        steps.append(draw(tools(n)) if kind == "tool" else (kind, draw(_text)))
    has_tools = any(isinstance(s, Tool) for s in steps)
    return Case(
        "generated",
        tuple(steps),
        "tool_calls" if has_tools else "stop",
        "tool_use" if has_tools else "end_turn",
        kimi_usage=draw(st.booleans()),
    )


@settings(max_examples=120, deadline=None)
@given(cases(), st.data())
def test_generated_answers_survive_both_directions(case: Case, data: st.DataObject) -> None:
    raw = openai_sse(case)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=10)))
    pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    events = run(raw, OpenAIToAnthropicStream(), pieces)
    check_anthropic(events)
    collected = AnthropicMessageCollector()
    collected.feed_all(events)
    assert collected.message["content"] == anthropic_content(case)
    assert collected.message["stop_reason"] == case.stop_reason

    back = run(encode_anthropic(events), AnthropicToOpenAIStream())
    check_openai(back)
    completion = OpenAICompletionCollector()
    completion.feed_all(back)
    assert completion.result["choices"][0]["message"] == openai_message(case, sanitize=True)

    items = run(anthropic_sse(case), AnthropicToOpenAIStream())
    check_openai(items)
    direct = OpenAICompletionCollector()
    direct.feed_all(items)
    assert direct.result["choices"][0]["message"] == openai_message(case)
