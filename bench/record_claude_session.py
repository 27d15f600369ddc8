"""Record a real Claude Code session as bench/cache.py replays it (the fixtures' JSONL format).

    python bench/record_claude_session.py [bench/fixtures]

Runs the pinned Claude Code (tests/e2e/agents.py: loopback-only sandbox, strace audit) straight
at the emulator's Anthropic side, in one home and project directory: session C, three prompts
(`-p`, then `--continue` twice, tool calls driven by the emulator's directive), then session D,
a new session with another prompt. Writes `claude-session-C.jsonl` and `claude-session-D.jsonl`:
every `/v1/messages` request as `seq`, `run`, `method`, `path`, `headers` (`[name, value]`
pairs, credentials dropped) and `body`. The same directory matters: Claude Code's system prompt
names the project's memory path, and Kimi's cache reads nothing across a different system prompt.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.e2e.agents import claude_code, run_agent

from kimibridge.testing import run_emulator

KEY = "sk-kimi-record-session"
C2 = 'Now write a note: [[call Bash {"command": "echo remember > notes.txt"}]]'
SESSIONS: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "C": [
        ("C1", 'Look around first: [[call Bash {"command": "ls -la"}]]', ()),
        ("C2", C2, ("--continue",)),
        ("C3", "Summarise what we did in one sentence.", ("--continue",)),
    ],
    "D": [("D1", 'Count the files here: [[call Bash {"command": "ls | wc -l"}]]', ())],
}
_DROP = {"x-api-key", "authorization"}


def main() -> None:
    out_dir = Path(sys.argv[1] if len(sys.argv) > 1 else "bench/fixtures")
    root = Path(tempfile.mkdtemp(prefix="kb-record-"))
    with run_emulator() as kimi:
        kimi.add_api_key(KEY)
        for name, runs in SESSIONS.items():
            lines: list[str] = []
            for run, prompt, extra in runs:
                before = len(kimi.requests)
                command = claude_code(root, kimi.anthropic_base_url, KEY, prompt, extra_args=extra)
                result = run_agent(command)
                if result.returncode != 0:
                    raise SystemExit(result.describe())
                for request in kimi.requests[before:]:
                    if not request.path.endswith("/v1/messages"):
                        continue
                    record = {
                        "seq": len(lines) + 1,
                        "run": run,
                        "method": request.method,
                        "path": request.path + "?beta=true",
                        "headers": [
                            [n, v] for n, v in request.headers.items() if n.lower() not in _DROP
                        ],
                        "body": request.json(),
                    }
                    lines.append(json.dumps(record, ensure_ascii=False))
            out = out_dir / f"claude-session-{name}.jsonl"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("\n".join(lines) + "\n")
            print(f"session {name}: {len(lines)} requests -> {out}")


if __name__ == "__main__":
    main()
