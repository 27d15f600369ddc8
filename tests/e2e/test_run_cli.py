"""`kimibridge run <harness>` end to end: the real Claude Code 2.1.330, pi, opencode and kimi-cli,
started by the CLI itself (which finds a background `serve --offline` and execs the harness),
loopback only.

A text turn and a Bash round trip whose tool result reaches the upstream (the emulator inside
`serve --offline`, read through its control API), and no connection beyond loopback. The user's
own ~/.claude is never created or touched.
"""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import kimibridge
from kimibridge.config import Paths, Settings
from kimibridge.gateway.daemon import ensure_gateway
from tests.clients import kimi_cli_python, npm_bin, require_loopback_sandbox, require_tool
from tests.e2e.agents import (
    NPM_SINK_PORT,
    AgentCommand,
    AgentResult,
    _base_env,
    openai_tool_results,
    run_agent,
)
from tests.e2e.netns import UnixBridge, sandbox_argv
from tests.e2e.test_harness_run import TOOL_PROMPT, TOOL_RESULT, _args
from tests.e2e.test_harness_run import _final_text as harness_final_text

pytestmark = pytest.mark.e2e


@dataclass(frozen=True)
class Offline:
    url: str  # the gateway
    upstream: str  # the emulator inside `serve --offline`
    env: dict[str, str]  # a user's environment: kimibridge's home, claude on PATH
    home: Path

    def requests(self) -> list[dict[str, Any]]:
        with urllib.request.urlopen(self.upstream + "/_emulator/requests?redacted=0") as reply:
            items: list[dict[str, Any]] = json.load(reply)["requests"]
        return [r for r in items if r["path"].endswith("/chat/completions")]


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Offline]:
    home = tmp_path / "user"
    home.mkdir()
    env = _base_env(home)
    env["PATH"] = os.pathsep.join([str(npm_bin("claude").parent), env["PATH"]])
    env["PYTHONPATH"] = str(Path(kimibridge.__file__).resolve().parents[1])
    env["KIMIBRIDGE_HOME"] = str(home / ".kimibridge")
    paths = Paths.from_env(env)
    # What `run` does when no gateway is up, here outside the sandbox so it outlives each run.
    gw = ensure_gateway(
        paths, Settings.load(paths, environ=env), env, offline=True, port=0, progress=io.StringIO()
    )
    try:
        m = re.search(r"upstream\s+(http://127\.0\.0\.1:\d+)", gw.log_path.read_text())
        assert m, gw.log_path.read_text()
        yield Offline(gw.url, m.group(1), env, home)
    finally:
        subprocess.run(
            [sys.executable, "-m", "kimibridge", "serve", "--stop"],
            env=env,
            check=False,
            capture_output=True,
            timeout=60,
        )


def _run_claude(o: Offline, tmp_path: Path, name: str, prompt: str) -> AgentResult:
    """``kimibridge run claude`` in print mode, inside the loopback sandbox."""
    work = tmp_path / name
    work.mkdir()
    argv = [sys.executable, "-m", "kimibridge", "run", "claude", "--yolo", "-p", prompt]
    argv += ["--output-format", "stream-json", "--verbose"]
    port = int(o.url.rsplit(":", 1)[1])
    return run_agent(AgentCommand("claude-code", tuple(argv), o.env, work, o.home, (port,)))


def _final_text(result: AgentResult) -> str:
    finals = [e for e in result.json_lines() if e.get("type") == "result"]
    assert finals, result.describe()
    return str(finals[-1]["result"])


def test_run_claude_text_turn_and_bash_round_trip(offline: Offline, tmp_path: Path) -> None:
    text = _run_claude(offline, tmp_path, "text", "Say hello through run")
    assert text.returncode == 0, text.describe()
    assert text.outside_connects == [], text.describe()
    assert _final_text(text) == "Hello from the Kimi emulator. You said: Say hello through run"
    assert f"using gateway {offline.url} (offline: built-in emulator)" in text.stderr

    tool = _run_claude(
        offline, tmp_path, "tool", 'Please run [[call Bash {"command": "echo hi > out.txt"}]]'
    )
    assert tool.returncode == 0, tool.describe()
    assert tool.outside_connects == [], tool.describe()
    assert tool.written == {"out.txt": b"hi\n"}, tool.describe()
    assert _final_text(tool) == "Tool result: (Bash completed with no output)"

    requests = offline.requests()
    assert len(requests) == 3  # text turn, tool call, answer to the tool result
    results = openai_tool_results(json.loads(requests[-1]["body"]))
    assert results and "Bash completed with no output" in json.dumps(results)
    for r in requests:
        assert r["headers"]["User-Agent"].startswith("claude-cli/2.1.330"), r["headers"]
        assert json.loads(r["body"])["model"] == "kimi-for-coding"

    # Its own config dir, seeded and pre-answered; the user's ~/.claude untouched (not created).
    own = offline.home / ".claude-kimibridge"
    answers = json.loads((own / ".claude.json").read_text())
    assert answers["hasCompletedOnboarding"] is True
    assert answers["projects"][str(tmp_path / "tool")]["hasTrustDialogAccepted"] is True
    assert not (offline.home / ".claude").exists()


# ----------------------------------------------------------------------- the interactive screen


def _tmux(sock: Path, *args: str) -> str:
    done = subprocess.run(
        ["tmux", "-S", str(sock), *args], capture_output=True, text=True, check=True, timeout=30
    )
    return done.stdout


def test_run_claude_interactive_starts_at_its_prompt(offline: Offline, tmp_path: Path) -> None:
    """No onboarding, no trust question, no "use this API key?" dialog: straight to the prompt."""
    require_tool("tmux")
    unshare = require_loopback_sandbox()
    work = tmp_path / "project"
    work.mkdir()
    port = int(offline.url.rsplit(":", 1)[1])
    sock = tmp_path / "tmux.sock"
    env = {**offline.env, "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
    with (
        tempfile.TemporaryDirectory(prefix="kb-ns-") as sockdir,
        UnixBridge(Path(sockdir) / f"{port}.sock", port) as bridge,
    ):
        inner = [sys.executable, "-m", "kimibridge", "run", "claude"]
        argv = sandbox_argv(unshare, [(port, bridge.socket_path)], inner)
        command = shlex.join(["env", "-i", *(f"{k}={v}" for k, v in env.items()), *argv])
        _tmux(sock, "-f", "/dev/null", "new-session", "-d", "-x", "120", "-y", "40", "-s", "kb")
        _tmux(sock, "set-option", "-g", "remain-on-exit", "on")
        _tmux(sock, "new-window", "-t", "kb", "-c", str(work), command)
        try:
            screen = ""
            for _ in range(600):  # a hung start fails here, not the whole run
                screen = _tmux(sock, "capture-pane", "-p", "-t", "kb:1")
                if "❯" in screen or "Pane is dead" in screen:
                    break
                time.sleep(0.1)
            assert "❯" in screen, screen
            assert "kimi-for-coding" in screen, screen  # the model run chose
            lowered = screen.lower()
            for dialog in ("trust", "api key", "choose the text style", "log in", "press enter"):
                assert dialog not in lowered, screen
            _tmux(sock, "send-keys", "-t", "kb:1", "-l", "/exit")
            _tmux(sock, "send-keys", "-t", "kb:1", "Enter")
        finally:
            subprocess.run(["tmux", "-S", str(sock), "kill-server"], check=False, timeout=30)
    assert not (offline.home / ".claude").exists()


# ----------------------------------------------------------------------- pi, opencode, kimi-cli


@pytest.mark.parametrize("harness", ["pi", "opencode", "kimi"])
def test_run_other_harness_tool_round_trip(harness: str, offline: Offline, tmp_path: Path) -> None:
    # The built-in emulator, like Kimi, refuses agents it does not know: a clean round trip means
    # the harness's own User-Agent went upstream.
    work = tmp_path / "work"
    work.mkdir()
    env = dict(offline.env)
    tools = [str(npm_bin("pi").parent), str(kimi_cli_python().parent)]
    env["PATH"] = os.pathsep.join([*tools, env["PATH"]])
    sink = None
    if harness == "opencode":  # its embedded npm asks the registry for its plugin SDK
        env["NPM_CONFIG_REGISTRY"] = f"http://127.0.0.1:{NPM_SINK_PORT}/"
        sink = NPM_SINK_PORT
    argv = [sys.executable, "-m", "kimibridge", "run", harness, "--", *_args(harness, TOOL_PROMPT)]
    port = int(offline.url.rsplit(":", 1)[1])
    result = run_agent(AgentCommand(harness, tuple(argv), env, work, offline.home, (port,), sink))
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    assert harness_final_text(harness, result) == f"Tool result: {TOOL_RESULT[harness]}"
    requests = offline.requests()
    # The tool result reached the upstream (opencode also asks for a session title).
    results = [openai_tool_results(json.loads(r["body"])) for r in requests]
    assert any(TOOL_RESULT[harness] in json.dumps(r) for r in results), results
