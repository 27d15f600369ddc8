"""Terminal captures (``tmux capture-pane -e``) as lines of text with the style of each line's start.

tmux writes an SGR sequence only where the style changes, and carries the style from one line to
the next, so a line's colour cannot be read from the line alone: a grey bullet that follows grey
text carries no escape at all. ``parse`` replays the SGR state over the whole capture and records,
for every line, the style in effect at its first visible character. Everything else (cursor
moves, OSC titles) is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Final

__all__ = ["Line", "Style", "parse", "plain"]

_ESCAPE: Final = re.compile(r"\x1b(?:\[([0-9;:?]*)([@-~])|\][^\x07\x1b]*(?:\x07|\x1b\\)|[@-Z\\-_])")


@dataclass(frozen=True, slots=True)
class Style:
    fg: str | None = None  # "244" (256-colour), "32" (basic), "#rrggbb"; None = default
    bold: bool = False
    dim: bool = False
    italic: bool = False


DEFAULT: Final = Style()


@dataclass(frozen=True, slots=True)
class Line:
    text: str  # without escapes, trailing spaces removed
    lead: Style  # style at the first non-space character (DEFAULT for a blank line)

    @property
    def indent(self) -> int:
        return len(self.text) - len(self.text.lstrip(" "))


def _apply(style: Style, params: str) -> Style:
    codes = [int(p) if p.isdigit() else 0 for p in params.replace(":", ";").split(";")]
    i = 0
    while i < len(codes):
        code = codes[i]
        if code == 0:
            style = DEFAULT
        elif code == 1:
            style = replace(style, bold=True)
        elif code == 2:
            style = replace(style, dim=True)
        elif code == 3:
            style = replace(style, italic=True)
        elif code == 22:
            style = replace(style, bold=False, dim=False)
        elif code == 23:
            style = replace(style, italic=False)
        elif 30 <= code <= 37 or 90 <= code <= 97:
            style = replace(style, fg=str(code))
        elif code == 39:
            style = replace(style, fg=None)
        elif code in (38, 48):
            mode = codes[i + 1] if i + 1 < len(codes) else 0
            if mode == 5:
                if code == 38 and i + 2 < len(codes):
                    style = replace(style, fg=str(codes[i + 2]))
                i += 2
            elif mode == 2:
                if code == 38 and i + 4 < len(codes):
                    r, g, b = codes[i + 2 : i + 5]
                    style = replace(style, fg=f"#{r:02x}{g:02x}{b:02x}")
                i += 4
        i += 1
    return style


def parse(capture: str) -> list[Line]:
    """Every line of ``capture`` with its leading style; the SGR state runs across lines."""
    style = DEFAULT
    out: list[Line] = []
    for raw in capture.split("\n"):
        text: list[str] = []
        lead: Style | None = None
        pos = 0
        for m in _ESCAPE.finditer(raw):
            chunk = raw[pos : m.start()]
            if chunk:
                if lead is None and chunk.strip():
                    lead = style
                text.append(chunk)
            if m.group(2) == "m":
                style = _apply(style, m.group(1) or "0")
            pos = m.end()
        chunk = raw[pos:]
        if lead is None and chunk.strip():
            lead = style
        text.append(chunk)
        out.append(Line("".join(text).rstrip().replace("\r", ""), lead or DEFAULT))
    return out


def plain(capture: str) -> str:
    """The capture without any escape sequence."""
    return _ESCAPE.sub("", capture)
