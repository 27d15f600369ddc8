"""Scenario steps: parsing, files, and how ModelState consumes them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kimibridge.emulator.app import EmulatorConfig
from kimibridge.emulator.directive import Conversation
from kimibridge.emulator.faults import FaultKind
from kimibridge.emulator.model import ModelState
from kimibridge.emulator.scenario import ScenarioError, load_steps, parse_steps


def test_parse_full_step() -> None:
    (turn,) = parse_steps(
        [
            {
                "text": "done",
                "thinking": "hmm",
                "tool_calls": [
                    {"name": "Bash", "arguments": {"command": "ls"}, "id": "x1"},
                    {"name": "read", "arguments": '{"p": 1}'},
                ],
                "match": "Go",
                "delay_ms": 20,
            }
        ]
    )
    assert turn.text == "done" and turn.thinking == "hmm" and turn.delay_s == 0.02
    assert [(c.name, json.loads(c.arguments), c.id) for c in turn.tool_calls] == [
        ("Bash", {"command": "ls"}, "x1"),
        ("read", {"p": 1}, None),
    ]
    assert turn.matches("let's go now") and not turn.matches("stop")


def test_faults_and_errors() -> None:
    cut, err = parse_steps(
        [
            {"fault": {"kind": "stream_cut", "after_chunks": 1}},
            {"error": {"status": 400, "message": "bad"}},
        ]
    )
    assert (
        cut.fault is not None
        and cut.fault.kind is FaultKind.STREAM_CUT
        and cut.fault.after_chunks == 1
    )
    assert err.error is not None and (err.error.status, err.error.type, err.error.message) == (
        400,
        "invalid_request_error",
        "bad",
    )


@pytest.mark.parametrize(
    ("steps", "words"),
    [
        (["text"], "expected a mapping"),
        ([{"txt": "typo"}], "unknown keys"),
        ([{"fault": {"kind": "nope"}}], "unknown fault kind"),
        ([{"tool_calls": [{"arguments": {}}]}], "name"),
        ([{"tool_calls": [{"name": "x", "arguments": "{oops"}]}], "not JSON"),
    ],
)
def test_bad_steps_name_the_step(steps: list[object], words: str) -> None:
    with pytest.raises(ScenarioError, match=words):
        parse_steps(steps)


def test_load_yaml_and_json_files(tmp_path: Path) -> None:
    yml = tmp_path / "s.yaml"
    yml.write_text(
        "steps:\n  - tool_calls: [{name: Bash, arguments: {command: ls}}]\n  - text: done\n"
    )
    assert [t.text for t in load_steps(yml)] == ["", "done"]
    js = tmp_path / "s.json"
    js.write_text(json.dumps([{"text": "a"}]))
    assert load_steps(js)[0].text == "a"
    bad = tmp_path / "bad.yaml"
    bad.write_text("text: a\n")
    with pytest.raises(ScenarioError):
        load_steps(bad)


def _conv(text: str) -> Conversation:
    return Conversation((text,), None, ())


def test_model_state_consumes_in_order_then_falls_back() -> None:
    state = ModelState(EmulatorConfig())
    state.script([{"text": "one"}, {"text": "two"}])
    assert [state.next_turn(_conv("x")).text for _ in range(3)] == [
        "one",
        "two",
        "Hello from the Kimi emulator. You said: x",
    ]


def test_a_step_with_match_waits_for_its_request() -> None:
    state = ModelState(EmulatorConfig())
    state.script([{"text": "main answer", "match": "write hello"}])
    assert state.next_turn(_conv("Generate a title for this conversation")).text.startswith("Hello")
    assert state.pending_steps == 1
    assert state.next_turn(_conv("please WRITE HELLO to out.txt")).text == "main answer"
    assert state.pending_steps == 0


def test_scenario_path_in_config_is_loaded(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("- text: from file\n")
    state = ModelState(EmulatorConfig(scenario_path=path))
    assert state.next_turn(_conv("x")).text == "from file"


def test_broken_yaml_is_a_scenario_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- text: [unclosed\n")
    with pytest.raises(ScenarioError, match="not YAML"):
        load_steps(bad)


def test_stats_count_pending_steps() -> None:
    state = ModelState(EmulatorConfig())
    state.script([{"text": "a"}, {"text": "b"}])
    state.next_turn(_conv("x"))
    assert state.stats()["pending_steps"] == 1
    assert state.stats()["cache_lookups"] == 0
