"""A stand-in harness for runtime tests: draws kimi-cli's current TUI layout (echo, spinner,
answer bullet, ``── input ──`` box) and answers every line with ``echo: <line>``.

``die…`` makes it exit 3; ``slow…`` makes the turn last 3 seconds; ``ask…`` shows kimi-cli's
approval box and goes on only after the key ``1``."""

from __future__ import annotations

import sys
import termios
import time
import tty
from collections.abc import Iterator

history: list[str] = []
APPROVAL = [
    "╭─ approval " + "─" * 30 + "╮",
    "│  Shell is requesting approval to run command:  │",
    "│ → [1] Approve once                             │",
    "╰" + "─" * 41 + "╯",
]


def render(*live: str) -> None:
    screen = [*history, *live, "", "── input " + "─" * 40, "", "─" * 50]
    sys.stdout.write("\x1b[2J\x1b[3J\x1b[H" + "\n".join(screen) + "\n")
    sys.stdout.flush()


def lines() -> Iterator[str]:
    buf = ""
    while True:
        ch = sys.stdin.read(1)
        if not ch:
            return
        if ch in "\r\n":
            if buf.strip():
                yield buf.strip()
            buf = ""
        else:
            buf += ch


def main() -> None:
    if sys.stdin.isatty():
        tty.setcbreak(sys.stdin.fileno(), termios.TCSANOW)  # keys one by one, as a TUI reads them
    render()
    for text in lines():
        if text.startswith("die"):
            print("fatal: told to die")
            sys.exit(3)
        history.append(f"✨ {text}")
        if text.startswith("ask"):
            render("⠹ Using Shell (ls)", *APPROVAL)
            while sys.stdin.read(1) != "1":
                pass
        for i in range(10 if text.startswith("slow") else 3):
            render(f"⠹ Composing... {i}s")
            time.sleep(0.3)
        history.extend([f"• echo: {text}", "  second line", ""])
        render()


if __name__ == "__main__":
    main()
