"""Claude Code's screen (2.1.330 TUI): status and the last answer.

    ❯ say hi please                                  <- echo of the input (turn start)
      Thought for 1s, ran 1 shell command            <- collapsed thinking / tool summary (grey)
    ● Running sleep 2; …                             <- tool call (grey bullet)
      ⎿  $ sleep 2; …
    ● Hello! First answer line.                      <- answer (white bullet)
      Second paragraph of the answer.
    ✻ Worked for 0s · done 1:17 AM                   <- turn summary
    ✽ Determining… (0s · ↓ 15 tokens)                <- live spinner: busy
    ──────────
    ❯                                                <- the input box (a no-break space after ❯)
    ──────────
      ⏵⏵ auto mode on (shift+tab to cycle) · esc to interrupt   <- "esc to interrupt": busy

Claude Code redraws in place: the tmux scrollback does not keep what scrolled off, so a reply
taller than the screen is only complete in Claude Code's own transcript (the provider reads it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from kimibridge.team.screens import ScreenState, ScreenStatus
from kimibridge.team.screens.ansi import Line, parse

__all__ = ["extract_reply", "read_status"]

_ECHO: Final = re.compile(r"^❯ (\S.*)$")  # a plain space: the input box uses a no-break space
_RULE: Final = re.compile(r"^─{20,}$")
_SPINNER: Final = re.compile(r"^[✶✢✽✻✳·*✺] \S[^…]*…")
_BUSY_FOOTER: Final = re.compile(r"esc to interrupt", re.I)
_SUMMARY: Final = re.compile(r"^✻ \w+ for \d")
_DIALOG: Final = re.compile(
    r"Do you want to (?:proceed|make this edit|create)|Enter to confirm|↑/↓ to navigate|^\s*❯ 1\. Yes"
)
_ERROR: Final = re.compile(r"^(?:\s*⎿\s*|● )?(?:API Error|Error:)")
_ANSWER_FG: Final = frozenset({None, "231", "15", "97", "37", "39"})
_GREY: Final = frozenset({"246", "244", "245", "243", "240", "8", "90"})


def _echoes(lines: Sequence[Line]) -> list[int]:
    return [i for i, ln in enumerate(lines) if _ECHO.match(ln.text)]


def _end(lines: Sequence[Line], start: int) -> int:
    for i in range(start, len(lines)):
        if _RULE.match(lines[i].text):
            return i
    return len(lines)


def read_status(capture: str) -> ScreenStatus:
    lines = parse(capture)
    echoes = _echoes(lines)
    start = echoes[-1] + 1 if echoes else 0
    region = lines[start : _end(lines, start)]
    answered = _answer(region) is not None

    def status(state: ScreenState, detail: str = "") -> ScreenStatus:
        return ScreenStatus(state, detail, turns=len(echoes), answered=answered)

    if any(_DIALOG.search(ln.text) for ln in lines[start:]):
        detail = next((ln.text.strip() for ln in lines[start:] if "?" in ln.text), "")
        return status("waiting", detail)
    spinners = [ln.text for ln in region if _SPINNER.match(ln.text)]
    footer = [ln.text for ln in lines[-4:] if _BUSY_FOOTER.search(ln.text)]
    if spinners or footer:
        return status("busy", spinners[-1] if spinners else "esc to interrupt")
    errors = [ln.text.strip() for ln in region if _ERROR.match(ln.text)]
    ready = any(_RULE.match(ln.text) for ln in lines[start:]) and any(
        ln.text.startswith("❯\xa0") or ln.text == "❯" for ln in lines[start:]
    )
    if errors and echoes:
        return status("error", errors[-1])
    return status("idle" if ready else "unknown")


def _answer(region: Sequence[Line]) -> str | None:
    blocks: list[tuple[bool, list[str]]] = []  # (is_answer, lines)
    current: list[str] | None = None
    for line in region:
        text = line.text
        if text.startswith("● ") or text == "●":
            current = [text[2:]]
            blocks.append((line.lead.fg in _ANSWER_FG, current))
        elif not text.strip():
            if current is not None:
                current.append("")
        elif line.indent >= 2 and line.lead.fg not in _GREY and current is not None:
            current.append(text[2:])
        else:  # summaries, spinners, collapsed thinking / tool lines: chrome
            current = None
    last_tool = max((i for i, (ok, _) in enumerate(blocks) if not ok), default=-1)
    texts = ["\n".join(b).strip("\n") for ok, b in blocks[last_tool + 1 :] if ok]
    texts = [t for t in texts if t.strip()]
    return "\n\n".join(texts) if texts else None


def extract_reply(capture: str) -> str | None:
    lines = parse(capture)
    echoes = _echoes(lines)
    if not echoes:
        return None
    start = echoes[-1] + 1
    return _answer(lines[start : _end(lines, start)])
