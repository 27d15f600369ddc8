"""kimi-cli's screen: status and the last answer, for the current TUI and the legacy prompt.

Current TUI (1.3x-1.52, ``../shared/fixtures/kimi-tui-1.52``)::

    ✨ write hello to out.txt                       <- echo of the input (turn start)
    • (grey 244, italic) thinking …                 <- thinking block
    • (green) Used Shell (echo hello > out.txt)     <- tool block
    • Done: the command ran.                        <- answer block (default colour)
      continuation lines are indented two spaces
    ⠧ Using Shell (…) | 🌗 | ⠹ Composing… | ⠋ Thinking…   <- live spinner: busy
    ╭─ approval ─ … ╮                               <- waiting for the user
    ── input ────                                    <- input box (always drawn, also when busy)
    agent (model ○)  <cwd>  <rotating hint>

Legacy prompt (≤ 1.30, as CAO's provider describes it): ``user@dir💫`` (thinking) or
``user@dir✨`` is the prompt; a prompt followed by text is the echo of an input, a bare prompt
at the bottom means idle, and while the agent works there is no prompt but a spinner
(``⠋ Using …`` or a lone moon). Thinking bullets are grey 244 there as well.

A block's kind is read from its bullet's colour, so the SGR state is replayed over the whole
capture (``ansi.parse``): tmux omits the escape when the bullet has the colour of the text
before it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from kimibridge.team.screens import ScreenState, ScreenStatus
from kimibridge.team.screens.ansi import Line, parse

__all__ = ["extract_reply", "read_status"]

_PROMPT_GLYPHS: Final = "✨💫📋"
# The echo of an input (a prompt with text) or a bare legacy prompt (group 2 empty).
_PROMPT: Final = re.compile(rf"^(?:[\w.-]+@[\w./~-]+)?([{_PROMPT_GLYPHS}])(?: (.*))?$")
_INPUT_HEADER: Final = re.compile(r"^── input ─")
_DIALOG: Final = re.compile(r"^╭─ (\w[\w ]*?) ─")
_RULE: Final = re.compile(r"^─{20,}$")
# A live spinner at column 0: braille "dots" with a label, or a moon phase alone.
_SPINNER: Final = re.compile(r"^(?:[\u2800-\u28ff] +\S.*|[\U0001f311-\U0001f318](?: +\S.*)?)$")
_LEGACY_STATUS_BAR: Final = re.compile(r"^\d+:\d+\s+.*(?:agent|shell)\s*\(")
_STATUS_LINE: Final = re.compile(r"^(?:yolo\s+)?agent \(")
_ERROR: Final = re.compile(
    r"^(?:• )?(?:Error:|ERROR:|Traceback \(most recent call last\):|LLM provider error|"
    r"APIError|ConnectionError:|Error code: \d{3})"
)
_BULLET: Final = "• "
_THINKING_FG: Final = frozenset({"244", "90", "2"})
_TOOL_FG: Final = frozenset({"31", "32", "91", "92"})

BlockKind = Literal["thinking", "tool", "answer"]


@dataclass(frozen=True, slots=True)
class _Block:
    kind: BlockKind
    lines: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n".join(self.lines).strip("\n")


@dataclass(frozen=True, slots=True)
class _Screen:
    lines: list[Line]
    echo: int | None  # index of the last input echo
    turns: int  # echoes seen
    end: int  # where the last turn's region ends (input header, dialog, bare prompt, bars)
    header: int | None  # the current TUI's input header below the echo
    dialog: int | None  # an approval / question box below the echo
    legacy_idle: bool  # the legacy layout ends in a bare prompt

    @property
    def region(self) -> list[Line]:
        start = -1 if self.echo is None else self.echo
        return self.lines[start + 1 : self.end]


def _scan(capture: str) -> _Screen:
    lines = parse(capture)
    echo: int | None = None
    turns = 0
    for i, line in enumerate(lines):
        m = _PROMPT.match(line.text)
        if m and (m.group(2) or "").strip():
            echo, turns = i, turns + 1
    start = 0 if echo is None else echo + 1
    end, header, dialog, legacy_idle = len(lines), None, None, False
    for i in range(start, len(lines)):
        text = lines[i].text
        if _INPUT_HEADER.match(text):
            end, header = i, i
            break
        if _DIALOG.match(text):
            end, dialog = i, i
            break
        m = _PROMPT.match(text)
        if m and not (m.group(2) or "").strip():
            end, legacy_idle = i, True
            break
        if _LEGACY_STATUS_BAR.match(text) or _STATUS_LINE.match(text) or _RULE.match(text):
            end = i
            break
    return _Screen(lines, echo, turns, end, header, dialog, legacy_idle)


def _blocks(region: Sequence[Line]) -> list[_Block]:
    blocks: list[_Block] = []
    kind: BlockKind | None = None
    body: list[str] = []

    def close() -> None:
        if kind is not None:
            blocks.append(_Block(kind, tuple(body)))

    for line in region:
        text = line.text
        if text.startswith(_BULLET) or text == "•":
            close()
            kind = _kind(line)
            body = [text[len(_BULLET) :]]
        elif _SPINNER.match(text) or (text and line.indent == 0):
            close()  # a live spinner or other chrome at column 0 ends the block
            kind, body = None, []
        elif kind is not None:
            body.append(text[2:] if text.startswith("  ") else text.lstrip())
    close()
    return blocks


def _kind(line: Line) -> BlockKind:
    style = line.lead
    if style.italic or style.fg in _THINKING_FG:
        return "thinking"
    if style.fg in _TOOL_FG:
        return "tool"
    return "answer"


def _answer(blocks: Sequence[_Block]) -> str | None:
    last_tool = max((i for i, b in enumerate(blocks) if b.kind == "tool"), default=-1)
    texts = [b.text for b in blocks[last_tool + 1 :] if b.kind == "answer" and b.text.strip()]
    return "\n\n".join(texts) if texts else None


def read_status(capture: str) -> ScreenStatus:
    screen = _scan(capture)
    region = screen.region
    answered = _answer(_blocks(region)) is not None

    def status(state: ScreenState, detail: str = "") -> ScreenStatus:
        return ScreenStatus(state, detail, turns=screen.turns, answered=answered)

    if screen.dialog is not None:
        box = [ln.text.strip("│ ") for ln in screen.lines[screen.dialog + 1 : screen.dialog + 4]]
        return status("waiting", next((t for t in box if t), ""))
    spinners = [ln.text for ln in region if _SPINNER.match(ln.text)]
    if spinners:
        return status("busy", spinners[-1])
    errors = [ln.text for ln in region if _ERROR.match(ln.text)]
    ready = screen.header is not None or screen.legacy_idle
    if errors and (ready or screen.echo is not None):
        return status("error", errors[-1])
    if ready:
        return status("idle")
    if screen.echo is not None and _legacy(screen.lines):
        return status("busy", "working (no prompt)")
    return status("unknown")


def _legacy(lines: Sequence[Line]) -> bool:
    return any(_LEGACY_STATUS_BAR.match(ln.text) for ln in lines) or any(
        (m := _PROMPT.match(ln.text)) is not None and "@" in ln.text.split(m.group(1))[0]
        for ln in lines
    )


def extract_reply(capture: str) -> str | None:
    """The last turn's answer: answer blocks after its last tool call, thinking and chrome
    removed, continuation indents undone."""
    screen = _scan(capture)
    if screen.echo is None:
        return None
    return _answer(_blocks(screen.region))
