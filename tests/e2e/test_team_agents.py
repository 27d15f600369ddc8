"""`kimibridge team` with real kimi-cli 1.52 and Claude Code 2.1.330 in real tmux, through `kimibridge serve --offline`.

Everything runs as a user would run it: `serve --offline` and every `team` command are separate
`python -m kimibridge` processes sharing one kimibridge home. The emulator inside `serve` is
scripted through its control API. kimi-cli itself runs loopback-only: `team up --wrap` puts it
inside the network sandbox of tests/e2e/netns.py, with the gateway's port carried in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from kimibridge.config import Paths
from kimibridge.team.runtime import tmux_socket
from tests.clients import kimi_cli_python, npm_bin, require_loopback_sandbox, require_tool
from tests.e2e.netns import UnixBridge, sandbox_argv

pytestmark = pytest.mark.e2e

ANSWER_1 = "SCRIPTED ANSWER ONE: out.txt now says hello."
ANSWER_2 = "SCRIPTED ANSWER TWO: the slow command finished."
USER_KIMI_CONFIG = 'default_model = "my-own-model"\n# the user\'s own kimi-cli config\n'


@dataclass
class Team:
    env: dict[str, str]
    project: Path
    home: Path
    emulator: str  # the emulator root inside `serve --offline` (its control API)
    gateway: str
    wrap: list[str]

    def cli(self, *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "kimibridge", *args],
            env=self.env,
            cwd=self.project,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "kimibridge", *args],
            env=self.env,
            cwd=self.project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )

    def script(self, steps: Sequence[dict[str, Any]]) -> None:
        req = urllib.request.Request(
            self.emulator + "/_emulator/script",
            data=json.dumps({"steps": list(steps)}).encode(),
            headers={"content-type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["scripted"] == len(steps)


def _statuses(stderr: str, agent: str) -> list[str]:
    """The status lines `team send --wait` printed, consecutive repeats folded."""
    seen: list[str] = []
    for line in stderr.splitlines():
        m = re.match(rf"^{re.escape(agent)}: (\w+)", line)
        if m and (not seen or seen[-1] != m.group(1)):
            seen.append(m.group(1))
    return seen


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    require_tool("tmux")
    unshare = require_loopback_sandbox()
    kimi_python = kimi_cli_python()
    home = tmp_path / "home"
    (home / ".kimi").mkdir(parents=True)
    (home / ".kimi" / "config.toml").write_text(USER_KIMI_CONFIG)
    project = tmp_path / "project"
    project.mkdir()
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "KIMIBRIDGE_HOME": str(tmp_path / "kb"),
        "KIMIBRIDGE_KIMI_PYTHON": str(kimi_python),
    }
    serve = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--offline", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    team_env: Team | None = None
    try:
        assert serve.stdout is not None
        banner: list[str] = []
        gateway = upstream = None
        deadline = time.monotonic() + 60
        while (gateway is None or upstream is None) and time.monotonic() < deadline:
            line = serve.stdout.readline()
            if not line:
                break
            banner.append(line)
            if m := re.search(r"gateway on (http://127\.0\.0\.1:\d+)", line):
                gateway = m.group(1)
            if m := re.search(r"upstream\s+(http://127\.0\.0\.1:\d+)", line):
                upstream = m.group(1)
        assert gateway and upstream, "".join(banner)
        port = int(gateway.rsplit(":", 1)[1])
        with (
            tempfile.TemporaryDirectory(prefix="kb-ns-") as sockdir,
            UnixBridge(Path(sockdir) / f"{port}.sock", port) as bridge,
        ):
            wrap = sandbox_argv(unshare, [(port, bridge.socket_path)], [])
            team_env = Team(env, project, home, upstream, gateway, wrap)
            yield team_env
    finally:
        if team_env is not None:
            team_env.cli("team", "down", timeout=60)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            serve.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(serve.pid, signal.SIGKILL)
        serve.communicate()  # reap it and close its pipe


def test_team_kimi_agent_shell_turn_and_restart_mid_turn(team: Team) -> None:
    user_config = team.home / ".kimi" / "config.toml"
    before = _sha(user_config)

    up = team.cli("team", "up", "developer", "--team", "e2e", "--wrap", json.dumps(team.wrap))
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.startswith("developer: idle"), up.stdout

    # Turn 1: a Shell tool call, then the scripted answer.
    team.script(
        [
            {
                "match": "write hello",
                "tool_calls": [{"name": "shell", "arguments": {"command": "echo hello > out.txt"}}],
            },
            {"text": ANSWER_1},
        ]
    )
    sent = team.cli("team", "send", "developer", "Please write hello into out.txt", "--wait")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.strip() == ANSWER_1
    assert _statuses(sent.stderr, "developer") == ["idle", "busy", "completed"], sent.stderr
    assert (team.project / "out.txt").read_text() == "hello\n"  # ran in the project dir

    listed = team.cli("team", "ls")
    assert listed.returncode == 0, listed.stderr
    assert re.search(r"developer\s+e2e\s+developer\s+kimi_cli\s+completed", listed.stdout), (
        listed.stdout
    )

    # Turn 2: the kimibridge process watching the turn is killed while the tool runs; a new
    # process re-adopts the agent from the store and still reports the reply.
    team.script(
        [
            {
                "match": "slow command",
                "tool_calls": [
                    {"name": "shell", "arguments": {"command": "sleep 6; echo done > slow.txt"}}
                ],
            },
            {"text": ANSWER_2},
        ]
    )
    watcher = team.popen("team", "send", "developer", "Run the slow command", "--wait")
    assert watcher.stderr is not None
    lines: list[str] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = watcher.stderr.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("developer: busy"):
            break
    assert any(ln.startswith("developer: busy") for ln in lines), "".join(lines)
    time.sleep(1.5)  # let it watch the turn for a moment, then kill it mid-turn
    os.killpg(watcher.pid, signal.SIGKILL)
    watcher.communicate(timeout=10)
    assert not (team.project / "slow.txt").exists()  # the turn was still running

    again = team.cli("team", "reply", "developer", "--wait")
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip() == ANSWER_2
    assert (team.project / "slow.txt").read_text() == "done\n"

    logs = team.cli("team", "logs", "developer", "-n", "60")
    assert ANSWER_2 in logs.stdout

    # A window that vanished behind kimibridge's back is marked gone, not silently lost.
    socket = tmux_socket(Paths.from_env(team.env))
    subprocess.run(["tmux", "-L", socket, "kill-window", "-t", "kb-e2e:developer"], check=True)
    listed = team.cli("team", "ls")
    assert re.search(r"developer\s+e2e\s+developer\s+kimi_cli\s+gone", listed.stdout), listed.stdout

    down = team.cli("team", "down")
    assert down.returncode == 0 and "developer" in down.stdout, down.stdout + down.stderr
    assert _sha(user_config) == before  # the user's kimi-cli config was never touched


def test_team_claude_code_agent_long_reply(team: Team) -> None:
    """The same contract for Claude Code: a Bash turn, then a reply taller than the screen."""
    agents = team.project / ".kimibridge" / "agents"
    agents.mkdir(parents=True)
    (agents / "coder.md").write_text(
        "---\nname: coder\nprovider: claude_code\nmodel: kimi-for-coding\n"
        "allowedTools: ['*']\n---\nYou write code.\n"
    )
    team.env["KIMIBRIDGE_CLAUDE_BIN"] = str(npm_bin("claude"))
    up = team.cli("team", "up", "coder", "--wrap", json.dumps(team.wrap))
    assert up.returncode == 0, up.stdout + up.stderr
    assert up.stdout.startswith("coder: idle"), up.stdout

    long_answer = "\n\n".join(f"Paragraph {i:03d} of the scripted answer." for i in range(1, 81))
    team.script(
        [
            {
                "match": "write hello",
                "tool_calls": [{"name": "bash", "arguments": {"command": "echo hello > cc.txt"}}],
            },
            {"text": long_answer},
        ]
    )
    sent = team.cli("team", "send", "coder", "Please write hello into cc.txt", "--wait")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert sent.stdout.strip() == long_answer  # 160 lines: more than the 50-row screen
    assert _statuses(sent.stderr, "coder") == ["idle", "busy", "completed"], sent.stderr
    assert (team.project / "cc.txt").read_text() == "hello\n"


def test_team_agent_without_auto_approval_waits_for_the_user(team: Team) -> None:
    """The built-in reviewer may not approve tools itself: kimi-cli's approval box is reported as
    waiting, nothing answers it for the user, and the turn completes once the user approves."""
    up = team.cli("team", "up", "reviewer", "--team", "rv", "--wrap", json.dumps(team.wrap))
    assert up.returncode == 0, up.stdout + up.stderr
    team.script(
        [
            {
                "match": "list files",
                "tool_calls": [{"name": "shell", "arguments": {"command": "ls > listing.txt"}}],
            },
            {"text": "Reviewed: nothing to change."},
        ]
    )
    sent = team.cli("team", "send", "reviewer", "Please list files", "--wait")
    assert sent.returncode == 1, sent.stdout + sent.stderr
    assert "waiting for an approval" in sent.stderr
    assert _statuses(sent.stderr, "reviewer")[-1] == "waiting"
    assert not (team.project / "listing.txt").exists()

    socket = tmux_socket(Paths.from_env(team.env))
    subprocess.run(["tmux", "-L", socket, "send-keys", "-t", "kb-rv:reviewer", "1"], check=True)
    done = team.cli("team", "reply", "reviewer", "--wait")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip() == "Reviewed: nothing to change."
    assert (team.project / "listing.txt").exists()
