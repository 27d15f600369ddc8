"""Legacy kimi-cli (≤ 1.30) screens, built from seed 004's description (CAO's provider, cao.md
§2.2): prompt ``user@dir💫`` (thinking) / ``user@dir✨``, the echo of an input is the prompt followed
by the text, answers are ``•`` bullets, thinking bullets grey 244 and italic, a status bar
``HH:MM  agent (model, thinking)``; while working there is no prompt, only a spinner line."""

from __future__ import annotations

GREY = "\x1b[38;5;244m"
ITALIC = "\x1b[3m"
RESET = "\x1b[0m"
PROMPT = "alice@proj💫"
STATUS_BAR = "12:30  agent (kimi-k2-turbo-preview, thinking)  ctrl-x: toggle mode"
BANNER = [
    "╭──────────────────────────────────────────╮",
    "│ Welcome to Kimi Code CLI!                │",
    "│ Send /help for help information.         │",
    "╰──────────────────────────────────────────╯",
]


def screen(*body: str, prompt: bool = True) -> str:
    lines = [*BANNER, "", *body, ""]
    if prompt:
        lines.append(f"{PROMPT} ")
    lines += ["", STATUS_BAR]
    return "\n".join(lines) + "\n"


def thinking(text: str) -> str:
    return f"{GREY}{ITALIC}• {text}{RESET}"


IDLE_START = screen()
BUSY_SPINNER = screen(
    f"{PROMPT} explain the bug", "", "⠙ Using ReadFile (src/parse.py)", prompt=False
)
BUSY_MOON = screen(f"{PROMPT} explain the bug", "", "🌔", prompt=False)
ANSWERED = screen(
    f"{PROMPT} explain the bug",
    thinking("The user wants the bug explained. Read parse.py first."),
    f"{GREY}  Then compare with the test.{RESET}",
    "• The bug is in parse():",
    "  it drops the last line when the file has no trailing newline.",
    "",
    "  Fix: split with splitlines().",
)
ANSWERED_REPLY = (
    "The bug is in parse():\n"
    "it drops the last line when the file has no trailing newline.\n\n"
    "Fix: split with splitlines()."
)
ERROR = screen(f"{PROMPT} hi", "Error: LLM provider error: 401 invalid key")


def long_answer(rows: int = 400) -> tuple[str, str]:
    """A reply of ``rows`` lines (many screens) and the text expected back."""
    first = "Line 001 of the long answer."
    rest = [f"Line {i:03d} of the long answer." for i in range(2, rows + 1)]
    capture = screen(
        f"{PROMPT} first question",
        "• An earlier answer.",
        f"{PROMPT} write a long report",
        thinking("Long report: go."),
        "• " + first,
        *("  " + r for r in rest),
    )
    return capture, "\n".join([first, *rest])
