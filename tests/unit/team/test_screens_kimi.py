"""kimi-cli screens: status and reply extraction replayed from real 1.52 captures and from
legacy-prompt screens built from seed 004's description."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.team.screens import kimi_cli, reader_for
from kimibridge.team.screens.ansi import parse, plain
from tests.unit.team import kimi_legacy_screens as legacy

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kimi-tui-1.52"


def _capture(name: str) -> str:
    return (FIXTURES / f"{name}.ansi.txt").read_text()


@pytest.mark.parametrize(
    ("name", "state"),
    [
        ("01-idle-startup", "idle"),
        ("02-typed-not-submitted", "idle"),
        ("03-busy-1", "busy"),
        ("03-busy-2", "busy"),
        ("03-busy-3", "busy"),
        ("03-busy-4", "busy"),
        ("03-busy-5", "busy"),
        ("03-busy-6", "busy"),
        ("04-idle-after-answer", "idle"),
        ("05-tool-calling", "busy"),
        ("05-tool-using-shell", "busy"),
        ("06-approval-prompt", "waiting"),
        ("08-idle-after-tool-turn", "idle"),
        ("09-yolo-idle", "idle"),
        ("10-thinking-tool-answer", "idle"),
        ("11-thinking-markdown-answer", "idle"),
        # A frame caught mid-redraw (no input box drawn yet): not idle.
        ("12-between-steps-no-spinner", "unknown"),
        ("13-long-reply-scrollback", "idle"),
        ("14-llm-error", "error"),
    ],
)
def test_status_of_real_screens(name: str, state: str) -> None:
    assert kimi_cli.read_status(_capture(name)).state == state


def test_status_details() -> None:
    assert kimi_cli.read_status(_capture("05-tool-using-shell")).detail.endswith(
        "Using Shell (echo hello > out.txt)"
    )
    approval = kimi_cli.read_status(_capture("06-approval-prompt"))
    assert approval.detail == "Shell is requesting approval to run command:"
    busy = kimi_cli.read_status(_capture("03-busy-1"))
    assert (busy.turns, busy.answered) == (1, False)
    done = kimi_cli.read_status(_capture("04-idle-after-answer"))
    assert (done.turns, done.answered) == (1, True)
    assert kimi_cli.read_status(_capture("01-idle-startup")).turns == 0
    error = kimi_cli.read_status(_capture("14-llm-error"))
    assert error.detail.startswith("LLM provider error: Error code: 400")


@pytest.mark.parametrize(
    ("name", "reply"),
    [
        ("04-idle-after-answer", "Hi from the fake server."),
        ("08-idle-after-tool-turn", "Done: the command ran."),
        # Thinking (grey bullet whose colour is carried from the line before) and the tool
        # line are not part of the answer.
        ("10-thinking-tool-answer", "The scripted answer after the tool."),
        (
            "11-thinking-markdown-answer",
            "Answer line one.\n\nAnswer line two with bold and code.\n\n• item a\n• item b\n"
            "print('hi')\n\nFinal line.",
        ),
        ("01-idle-startup", None),
        ("03-busy-2", None),
        ("05-tool-using-shell", None),
        ("14-llm-error", None),
    ],
)
def test_reply_of_real_screens(name: str, reply: str | None) -> None:
    assert kimi_cli.extract_reply(_capture(name)) == reply


def test_reply_spanning_many_screens_from_scrollback() -> None:
    capture = _capture("13-long-reply-scrollback")
    # 80 paragraphs in the turn before last, then a tall wrapped block in the last turn.
    assert len(plain(capture).splitlines()) > 200
    last = kimi_cli.extract_reply(capture)
    assert last is not None
    assert last.startswith("Row 001 of a tall block.") and "Row 029" in last
    earlier = capture[: capture.index("✨ rows")]
    paragraphs = kimi_cli.extract_reply(earlier)
    assert paragraphs == "\n\n".join(f"Paragraph {i:03d} of a long reply." for i in range(1, 81))


def test_the_thinking_bullet_colour_is_carried_across_lines() -> None:
    lines = parse(_capture("10-thinking-tool-answer"))
    carried = next(ln for ln in lines if ln.text.startswith("• The user wrote"))
    assert _capture("10-thinking-tool-answer").splitlines()[34].startswith("•")  # no escape
    assert carried.lead.fg == "244"


def test_legacy_prompt_status() -> None:
    assert kimi_cli.read_status(legacy.IDLE_START).state == "idle"
    assert kimi_cli.read_status(legacy.BUSY_SPINNER).state == "busy"
    assert kimi_cli.read_status(legacy.BUSY_MOON).state == "busy"
    answered = kimi_cli.read_status(legacy.ANSWERED)
    assert (answered.state, answered.turns, answered.answered) == ("idle", 1, True)
    assert kimi_cli.read_status(legacy.ERROR).state == "error"


def test_legacy_prompt_reply_without_thinking() -> None:
    assert kimi_cli.extract_reply(legacy.ANSWERED) == legacy.ANSWERED_REPLY
    assert kimi_cli.extract_reply(legacy.IDLE_START) is None
    assert kimi_cli.extract_reply(legacy.BUSY_SPINNER) is None


def test_legacy_long_reply_is_complete() -> None:
    capture, expected = legacy.long_answer(400)
    assert kimi_cli.extract_reply(capture) == expected


def test_reader_registry() -> None:
    reader = reader_for("kimi_cli")
    assert reader.read_status(legacy.IDLE_START).state == "idle"
