"""The default directive: parsing, the user's own text, tool names, and the answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kimibridge.emulator import anthropic_messages, openai_chat
from kimibridge.emulator.directive import (
    Conversation,
    DirectiveError,
    default_turn,
    parse_calls,
    resolve_tool_name,
    strip_reminders,
    user_text,
)


def test_parse_one_call() -> None:
    assert parse_calls('please [[call Bash {"command": "echo hi > out.txt"}]] now') == [
        ("Bash", '{"command": "echo hi > out.txt"}')
    ]


def test_parse_parallel_calls_and_brackets_inside_json() -> None:
    text = '[[call read {"path": "a]]"}]] and [[call bash {"x": [[1, 2]]}]]'
    calls = parse_calls(text)
    assert [name for name, _ in calls] == ["read", "bash"]
    assert json.loads(calls[0][1]) == {"path": "a]]"}
    assert json.loads(calls[1][1]) == {"x": [[1, 2]]}


def test_parse_without_arguments_means_empty_object() -> None:
    assert parse_calls("[[call Glob]]") == [("Glob", "{}")]
    assert parse_calls("[[CALL glob ]]") == [("glob", "{}")]


@pytest.mark.parametrize(
    "text", ["[[call Bash {not json}]]", '[[call Bash {"a": 1}', '[[call Bash ["list"]]]']
)
def test_parse_errors_are_reported(text: str) -> None:
    with pytest.raises(DirectiveError):
        parse_calls(text)


def test_no_directive_no_calls() -> None:
    assert parse_calls("just chat [call x]") == []


def test_reminders_are_stripped_and_reminder_only_texts_skipped() -> None:
    assert strip_reminders("<system-reminder>\nctx\n</system-reminder>\nhello") == "hello"
    assert user_text(["real prompt", "<system-reminder>x</system-reminder>"]) == "real prompt"
    assert user_text(["<system-reminder>a</system-reminder>", "do it"]) == "do it"


def test_names_resolve_case_insensitively_with_the_advertised_spelling() -> None:
    assert resolve_tool_name("bash", ["Read", "Bash"]) == "Bash"
    assert resolve_tool_name("BASH", ["bash"]) == "bash"
    assert resolve_tool_name("bash", ["Shell", "ReadFile"]) == "Shell"  # kimi-cli
    assert resolve_tool_name("shell", ["Bash"]) == "Bash"
    assert resolve_tool_name("write", ["Bash"]) is None


def test_default_turns() -> None:
    conv = Conversation(("hi there",), None, ())
    assert default_turn(conv).text == "Hello from the Kimi emulator. You said: hi there"
    conv = Conversation(("x",), ("line one", "line two"), ("Bash",))
    assert default_turn(conv).text == "Tool result: line one\nline two"
    conv = Conversation(('[[call bash {"command": "ls"}]]',), None, ("Bash",))
    (call,) = default_turn(conv).tool_calls
    assert (call.name, json.loads(call.arguments)) == ("Bash", {"command": "ls"})
    conv = Conversation(("[[call Nope]]",), None, ("Bash",))
    turn = default_turn(conv)
    assert not turn.tool_calls and "Nope" in turn.text and "Bash" in turn.text


def test_tool_result_quote_is_cut_at_200_chars() -> None:
    turn = default_turn(Conversation((), ("x" * 500,), ()))
    assert turn.text == "Tool result: " + "x" * 200


def test_claude_code_shaped_request() -> None:
    """Reminder before the prompt, an inline system message, then a tool round trip."""
    prompt = '[[call bash {"command": "echo hello > out.txt"}]]'
    first: dict[str, Any] = {
        "tools": [{"name": "Bash", "input_schema": {}}, {"name": "Read", "input_schema": {}}],
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "<system-reminder>\nskills\n</system-reminder>"},
                    {"type": "text", "text": prompt},
                ],
            },
            {"role": "system", "content": "environment info"},
        ],
    }
    history: list[Any] = first["messages"]
    conv = anthropic_messages.conversation(first)
    assert conv.tools == ("Bash", "Read")
    assert default_turn(conv).tool_calls[0].name == "Bash"
    second = dict(first)
    second["messages"] = [
        *history,
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "t1", "name": "Bash", "input": {}}],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "t1",
                    "content": "(Bash completed with no output)",
                },
                {"type": "text", "text": "<system-reminder>r</system-reminder>"},
            ],
        },
    ]
    conv = anthropic_messages.conversation(second)
    assert user_text(conv.texts_of_last_user_message) == prompt
    assert default_turn(conv).text == "Tool result: (Bash completed with no output)"


def test_kimi_cli_shaped_request() -> None:
    body: dict[str, Any] = {
        "tools": [{"type": "function", "function": {"name": "Shell", "parameters": {}}}],
        "messages": [
            {"role": "system", "content": "You are Kimi Code CLI"},
            {"role": "user", "content": '[[call bash {"command": "echo hi"}]]'},
            {
                "role": "assistant",
                "tool_calls": [
                    {
                        "id": "Shell:0",
                        "type": "function",
                        "function": {"name": "Shell", "arguments": "{}"},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "Shell:0",
                "content": [
                    {"type": "text", "text": "<system>Command executed successfully.</system>"}
                ],
            },
        ],
    }
    messages: list[Any] = body["messages"]
    conv = openai_chat.conversation(body)
    assert default_turn(conv).text == "Tool result: <system>Command executed successfully.</system>"
    body["messages"] = messages[:2]
    assert default_turn(openai_chat.conversation(body)).tool_calls[0].name == "Shell"
