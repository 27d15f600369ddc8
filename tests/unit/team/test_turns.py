"""A turn completes only after it was seen working, and only on a settled idle screen."""

from __future__ import annotations

from pathlib import Path

from kimibridge.team.screens import ScreenStatus, kimi_cli
from kimibridge.team.turns import TurnState, TurnTracker

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kimi-tui-1.52"

IDLE0 = ScreenStatus("idle", turns=0)
BUSY = ScreenStatus("busy", "⠹ Composing...", turns=1)
IDLE1 = ScreenStatus("idle", turns=1, answered=True)


def test_idle_before_busy_is_not_completion() -> None:
    t = TurnTracker()
    t.sent(echoes_before=0)
    for _ in range(5):  # the screen has not caught up with the input yet
        assert t.observe(IDLE0, fingerprint="same").status == "busy"
    assert t.state.active


def test_idle_busy_completed_sequence_from_real_screens() -> None:
    t = TurnTracker()
    seen = [
        t.observe(kimi_cli.read_status((FIXTURES / "01-idle-startup.ansi.txt").read_text())).status
    ]
    t.sent(echoes_before=0)
    for name in (
        "03-busy-1",
        "03-busy-2",
        "03-busy-6",
        "04-idle-after-answer",
        "04-idle-after-answer",
    ):
        capture = (FIXTURES / f"{name}.ansi.txt").read_text()
        seen.append(t.observe(kimi_cli.read_status(capture), fingerprint=capture).status)
    assert seen == ["idle", "busy", "busy", "busy", "busy", "completed"]
    assert not t.state.active


def test_a_screen_still_being_drawn_resets_the_settle_count() -> None:
    t = TurnTracker()
    t.sent(0)
    t.observe(BUSY)
    assert t.observe(IDLE1, fingerprint="part").status == "busy"
    assert t.observe(IDLE1, fingerprint="part+more").status == "busy"
    assert t.observe(IDLE1, fingerprint="part+more").status == "completed"


def test_a_turn_too_fast_to_see_busy_completes_on_echo_evidence() -> None:
    t = TurnTracker()
    t.sent(0)
    t.observe(IDLE1, fingerprint="x")
    assert t.observe(IDLE1, fingerprint="x").status == "completed"


def test_provider_evidence_and_waiting() -> None:
    t = TurnTracker()
    t.sent(3)
    assert t.observe(ScreenStatus("waiting", "approve?", turns=4)).status == "waiting"
    t2 = TurnTracker()
    t2.sent(3)
    t2.observe(ScreenStatus("idle", turns=3), fingerprint="a", evidence=True)
    assert (
        t2.observe(ScreenStatus("idle", turns=3), fingerprint="a", evidence=True).status
        == "completed"
    )


def test_old_error_is_not_this_turns_error() -> None:
    t = TurnTracker()
    t.sent(1)
    assert t.observe(ScreenStatus("error", "Error: old", turns=1)).status == "busy"
    assert t.observe(ScreenStatus("error", "Error: new", turns=2)).status == "error"


def test_resume_from_persisted_state() -> None:
    t = TurnTracker(TurnState("busy", active=True, seen_busy=True, baseline=1))
    t.observe(IDLE1, fingerprint="f")
    assert t.observe(IDLE1, fingerprint="f").status == "completed"
    # After completion an idle screen keeps "completed" until the next input.
    assert t.observe(IDLE1, fingerprint="f").status == "completed"
