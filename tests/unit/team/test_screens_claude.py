"""Claude Code 2.1.330 screens and transcript: status, reply, long replies from the transcript."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kimibridge.team.providers.claude_code import reply_in_transcript
from kimibridge.team.screens import claude_code, reader_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "claude-tui-2.1.330"


def _capture(name: str) -> str:
    return (FIXTURES / f"{name}.ansi.txt").read_text()


@pytest.mark.parametrize(
    ("name", "state", "reply"),
    [
        ("001-boot", "unknown", None),
        ("006-boot", "idle", None),
        ("008-hi", "busy", None),
        ("010-hi", "idle", "Hello! First answer line.\n\nSecond paragraph of the answer."),
        ("012-tool", "busy", None),
        ("015-tool", "busy", None),
        ("021-tool", "idle", "Done: the command ran and out.txt says hi."),
        ("023-long", "busy", None),
        ("026-long", "busy", None),
        ("031-long", "idle", None),  # the turn's start has scrolled off: not on screen
    ],
)
def test_real_screens(name: str, state: str, reply: str | None) -> None:
    capture = _capture(name)
    assert claude_code.read_status(capture).state == state
    assert claude_code.extract_reply(capture) == reply


def test_status_details() -> None:
    assert claude_code.read_status(_capture("015-tool")).detail.startswith("✽ Determining…")
    done = claude_code.read_status(_capture("021-tool"))
    assert (done.turns, done.answered) == (2, True)
    assert reader_for("claude_code").read_status(_capture("006-boot")).state == "idle"


def test_permission_dialog_is_waiting() -> None:
    dialog = "╭──╮\n│ Bash command │\n│ Do you want to proceed? │\n│ ❯ 1. Yes │\n│   2. No │\n"
    capture = _capture("010-hi").replace("\x1b[38;5;246m✻", dialog + "\x1b[38;5;246m✻", 1)
    assert "Do you want to proceed?" in capture
    assert claude_code.read_status(capture).state == "waiting"


def _entries() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (FIXTURES / "session.jsonl").read_text().splitlines()]


def test_transcript_replies_are_complete() -> None:
    entries = _entries()
    assert reply_in_transcript(entries, 0) == (
        "Hello! First answer line.\n\nSecond paragraph of the answer."
    )
    assert reply_in_transcript(entries, 1) == "Done: the command ran and out.txt says hi."
    long = reply_in_transcript(entries, 2)
    assert long == "\n\n".join(f"Paragraph {i:03d} of a long claude reply." for i in range(1, 61))
    assert reply_in_transcript(entries, 3) is None


def test_transcript_turn_in_progress_has_no_reply() -> None:
    entries = _entries()
    cut = next(i for i, e in enumerate(entries) if "tool_result" in json.dumps(e))
    assert reply_in_transcript(entries[:cut], 1) is None
