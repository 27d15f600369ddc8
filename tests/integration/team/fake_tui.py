"""A stand-in harness for runtime tests: draws kimi-cli's current TUI layout (echo, spinner,
answer bullet, ``── input ──`` box) and answers every line with ``echo: <line>``.

Lines starting with ``die`` make it exit 3; ``slow`` makes the turn last 3 seconds."""

from __future__ import annotations

import sys
import time

history: list[str] = []


def render(live: str = "") -> None:
    screen = [*history, *([live] if live else []), "", "── input " + "─" * 40, "", "─" * 50]
    sys.stdout.write("\x1b[2J\x1b[3J\x1b[H" + "\n".join(screen) + "\n")
    sys.stdout.flush()


def main() -> None:
    render()
    for raw in sys.stdin:
        text = raw.strip()
        if not text:
            continue
        if text.startswith("die"):
            print("fatal: told to die")
            sys.exit(3)
        history.append(f"✨ {text}")
        for i in range(10 if text.startswith("slow") else 3):
            render(f"⠹ Composing... {i}s")
            time.sleep(0.3)
        history.extend([f"• echo: {text}", "  second line", ""])
        render()


if __name__ == "__main__":
    main()
