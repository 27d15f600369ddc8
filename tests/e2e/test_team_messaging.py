"""Agents working together through kimibridge: real kimi-cli 1.52 agents in real tmux, through
`kimibridge serve --offline` (the supervisor loop and the agent MCP server run inside it).

- a supervisor `handoff`s to a worker and receives the worker's exact answer;
- a supervisor `assign`s; the worker's `send_message` arrives in the supervisor's input;
- 20 messages sent while the receiver is busy arrive once each, in order;
- `serve` killed (SIGKILL) while messages are pending, restarted: none lost, none duplicated.

Every kimi-cli runs loopback-only (tests/e2e/netns.py); workers that `handoff`/`assign` start
inside `serve` get the same sandbox through KIMIBRIDGE_TEAM_WRAP. Model turns are scripted
through the emulator's control API or its default directive (`[[call NAME {...}]]`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.clients import kimi_cli_python, npm_bin, require_loopback_sandbox, require_tool
from tests.e2e.kb_process import free_port
from tests.e2e.netns import UnixBridge, sandbox_argv

pytestmark = pytest.mark.e2e

WORKER_ANSWER = "WORKER EXACT ANSWER: 42 apples, counted twice. Ünïcödé kept."
REPORT = "REPORT FROM WORKER: all tests pass."


@dataclass
class Serve:
    env: dict[str, str]
    project: Path
    port: int
    wrap: list[str]
    proc: subprocess.Popen[str] | None = None
    emulator: str = ""
    banner: list[str] = field(default_factory=list)

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kimibridge", "serve", "--offline", "--port", str(self.port)],
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        gateway = upstream = None
        deadline = time.monotonic() + 60
        while (gateway is None or upstream is None) and time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.banner.append(line)
            if m := re.search(r"gateway on (http://127\.0\.0\.1:\d+)", line):
                gateway = m.group(1)
            if m := re.search(r"upstream\s+(http://127\.0\.0\.1:\d+)", line):
                upstream = m.group(1)
        assert gateway == self.gateway and upstream, "".join(self.banner)
        self.emulator = upstream

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.communicate()
        self.proc = None

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

    def up(self, name: str) -> None:
        up = self.cli("team", "up", "developer", "--name", name, "--wrap", json.dumps(self.wrap))
        assert up.returncode == 0, up.stdout + up.stderr

    def _control(self, method: str, route: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.emulator}/_emulator/{route}",
            data=data,
            method=method,
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def script(self, steps: Sequence[dict[str, Any]]) -> None:
        assert self._control("POST", "script", {"steps": list(steps)})["scripted"] == len(steps)

    def model_requests(self) -> list[list[dict[str, Any]]]:
        """The message lists of the model requests the emulator has seen (since this serve)."""
        out: list[list[dict[str, Any]]] = []
        for r in self._control("GET", "requests")["requests"]:
            if not r["path"].endswith("/chat/completions"):
                continue
            body = r["body"]
            if isinstance(body, str):
                with contextlib.suppress(ValueError):
                    body = json.loads(body)
            if isinstance(body, dict):
                out.append(body.get("messages") or [])
        return out

    def inbox(self, agent: str) -> list[tuple[str, str, str]]:
        """(id, from, state) rows of `team inbox`."""
        out = self.cli("team", "inbox", agent, "-n", "500")
        assert out.returncode == 0, out.stderr
        rows = [ln.split() for ln in out.stdout.splitlines()[1:] if ln.strip()]
        return [(r[0], r[1], r[2]) for r in rows if len(r) >= 3]

    def agent_key(self, name: str) -> str:
        keys = json.loads((Path(self.env["KIMIBRIDGE_HOME"]) / "gateway-keys.json").read_text())
        return str(keys[f"team-default-{name}"])


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _until(
    what: str, check: Callable[[], bool], timeout: float = 120.0, serve: Serve | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    if serve is not None:  # what the agents show, for the failure report
        for args in (("ls",), ("inbox", "receiver"), ("logs", "receiver", "-n", "60")):
            out = serve.cli("team", *args)
            print("$ team", *args, "\n", out.stdout, out.stderr)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    require_tool("tmux")
    unshare = require_loopback_sandbox()
    kimi_python = kimi_cli_python()
    home = tmp_path / "home"  # made by the autouse isolated_home fixture
    project = tmp_path / "project"
    project.mkdir()
    port = free_port()
    with (
        tempfile.TemporaryDirectory(prefix="kb-ns-") as sockdir,
        UnixBridge(Path(sockdir) / f"{port}.sock", port) as bridge,
    ):
        wrap = sandbox_argv(unshare, [(port, bridge.socket_path)], [])
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "KIMIBRIDGE_HOME": str(tmp_path / "kb"),
            "KIMIBRIDGE_KIMI_PYTHON": str(kimi_python),
            "KIMIBRIDGE_TEAM_WRAP": json.dumps(wrap),
        }
        s = Serve(env, project, port, wrap)
        s.start()
        try:
            yield s
        finally:
            if s.proc is None:
                s.start()  # `team down` needs no gateway, but a clean stop of agents is nicer
            s.cli("team", "down", timeout=60)
            s.kill(signal.SIGTERM)


def test_handoff_returns_the_workers_exact_answer_and_assign_reports_back(serve: Serve) -> None:
    serve.up("sup")
    serve.script(
        [
            {
                "match": "please delegate",
                "tool_calls": [
                    {
                        "name": "handoff",
                        "arguments": {"profile": "developer", "task": "Count the apples."},
                    }
                ],
            },
            {"match": "Count the apples", "text": WORKER_ANSWER},
        ]
    )
    sent = serve.cli("team", "send", "sup", "please delegate", "--wait")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    # the handoff's tool result, as the supervisor's next model request carries it
    results = [
        _text(m.get("content"))
        for messages in serve.model_requests()
        for m in messages
        if m.get("role") == "tool"
    ]
    assert WORKER_ANSWER in results, results
    assert WORKER_ANSWER in sent.stdout  # the emulator echoes the tool result in the reply
    listed = serve.cli("team", "ls")
    assert re.search(r"^sup\s", listed.stdout, re.M), listed.stdout
    assert not re.search(r"^developer", listed.stdout, re.M), listed.stdout  # torn down

    # assign: returns at once; the worker reports with send_message (no `to`: its assigner)
    task = f'Report back. [[call send_message {{"text": "{REPORT}"}}]]'
    serve.script(
        [
            {
                "match": "please assign",
                "tool_calls": [
                    {"name": "assign", "arguments": {"profile": "developer", "task": task}}
                ],
            }
        ]
    )
    sent = serve.cli("team", "send", "sup", "please assign", "--wait")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert "assigned to" in sent.stdout

    def report_seen() -> bool:
        return any(
            m.get("role") == "user"
            and REPORT in _text(m.get("content"))
            and "[message #" in _text(m.get("content"))
            for messages in serve.model_requests()
            for m in messages[-1:]
        )

    _until("the worker's report in the supervisor's input", report_seen)
    # confirmed right after the Enter (the request it caused may be seen first)
    _until("the report confirmed", lambda: [r[2] for r in serve.inbox("sup")] == ["delivered"])


def _busy(serve: Serve, agent: str, seconds: int) -> None:
    """Start a turn that keeps ``agent`` busy in a Shell tool for ``seconds``."""
    command = json.dumps({"command": f"sleep {seconds}"})
    sent = serve.cli("team", "send", agent, f"[[call shell {command}]]")
    assert sent.returncode == 0, sent.stdout + sent.stderr


def _send_messages(serve: Serve, sender: str, to: str, texts: Sequence[str]) -> None:
    """Messages through the agent MCP server, as agent ``sender`` (its own key)."""
    import asyncio

    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    async def run() -> None:
        headers = {"Authorization": f"Bearer {serve.agent_key(sender)}"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(serve.gateway + "/mcp/team", http_client=http)) as c,
        ):
            for text in texts:
                result = await c.call_tool("send_message", {"text": text, "to": to})
                assert not result.is_error, result

    asyncio.run(run())


def _delivered_texts(serve: Serve, marker: str) -> list[str]:
    """Every message text carrying ``marker`` in the user inputs the receiver sent upstream,
    each input counted once (a later request repeats earlier ones in its history)."""
    seen: list[str] = []
    inputs: set[str] = set()
    for messages in serve.model_requests():
        for m in messages:
            text = _text(m.get("content"))
            if m.get("role") != "user" or marker not in text or text in inputs:
                continue
            inputs.add(text)
            seen += re.findall(rf"{marker} \d+", text)
    return seen


def test_twenty_messages_to_a_busy_agent_and_a_kill_while_pending(serve: Serve) -> None:
    serve.up("sender")
    serve.up("receiver")

    # 20 messages while the receiver works: none pasted into a busy agent, all in one turn after
    _busy(serve, "receiver", 8)
    _until("the receiver busy", lambda: serve.inbox("receiver") == [] and _status(serve) == "busy")
    texts = [f"NOTE {i}" for i in range(20)]
    _send_messages(serve, "sender", "receiver", texts)
    assert {r[2] for r in serve.inbox("receiver")} == {"pending"}
    _until(
        "20 messages delivered",
        lambda: [r[2] for r in serve.inbox("receiver")] == ["delivered"] * 20,
    )
    _until(
        "the receiver's next request",
        lambda: len(_delivered_texts(serve, "NOTE")) >= 20,
        serve=serve,
    )
    assert _delivered_texts(serve, "NOTE") == texts  # each once, in order

    # kill -9 the gateway while messages wait for a busy receiver; restart; each arrives once
    _busy(serve, "receiver", 10)
    _until("the receiver busy again", lambda: _status(serve) == "busy")
    later = [f"LATER {i}" for i in range(5)]
    _send_messages(serve, "sender", "receiver", later)
    serve.kill()
    assert {r[2] for r in serve.inbox("receiver")[-5:]} == {"pending"}
    serve.start()  # back before the receiver's tool ends: its next request finds the gateway
    _until(
        "the pending messages delivered after the restart",
        lambda: [r[2] for r in serve.inbox("receiver")] == ["delivered"] * 25,
    )
    _until(
        "the receiver's request after the restart",
        lambda: len(_delivered_texts(serve, "LATER")) >= 5,
        serve=serve,
    )
    assert _delivered_texts(serve, "LATER") == later


def _status(serve: Serve, agent: str = "receiver") -> str:
    out = serve.cli("team", "ls")
    m = re.search(rf"^{agent}\s+\S+\s+\S+\s+\S+\s+(\w+)", out.stdout, re.M)
    return m.group(1) if m else ""


def test_a_handoff_cut_by_a_restart_still_answers_its_caller(serve: Serve) -> None:
    """`serve` SIGKILLed while a supervisor waits on a handoff: the supervisor's tool call ends
    with the connection, so the restarted `serve` sends the worker's answer to it as a message
    (once) and stops the worker."""
    serve.up("sup")
    slow = {"name": "shell", "arguments": {"command": "sleep 8"}}
    handoff = {"name": "handoff", "arguments": {"profile": "developer", "task": "Count slowly."}}
    serve.script(
        [
            {"match": "please delegate slowly", "tool_calls": [handoff]},
            {"match": "Count slowly", "tool_calls": [slow]},
        ]
    )
    sent = serve.cli("team", "send", "sup", "please delegate slowly")
    assert sent.returncode == 0, sent.stdout + sent.stderr

    def worker_in_tool() -> bool:
        return any(
            m.get("role") == "user" and _text(m.get("content")).strip() == "Count slowly."
            for messages in serve.model_requests()
            for m in messages[-1:]
        )

    _until("the worker's first request", worker_in_tool)
    time.sleep(1.5)  # its Shell tool runs now
    serve.kill()
    serve.start()
    serve.script([{"match": "Count slowly", "text": WORKER_ANSWER}])

    def answered() -> bool:
        return any(
            m.get("role") == "user" and WORKER_ANSWER in _text(m.get("content"))
            for messages in serve.model_requests()
            for m in messages
        )

    try:
        _until("the worker's answer in the supervisor's input", answered)
    except AssertionError:
        for args in (("ls",), ("inbox", "sup"), ("logs", "sup", "-n", "30")):
            out = serve.cli("team", *args)
            print("$ team", *args, "\n", out.stdout, out.stderr)
        raise
    _until(
        "the answer confirmed, once",
        lambda: [(r[1], r[2]) for r in serve.inbox("sup")] == [("developer", "delivered")],
    )
    _until("the worker stopped", lambda: _status(serve, "developer") == "")


def test_handoff_to_a_claude_code_worker(serve: Serve) -> None:
    """The wire's answer for a Claude Code worker: its side requests (title, topic) do not
    replace the turn's final answer."""
    agents = serve.project / ".kimibridge" / "agents"
    agents.mkdir(parents=True)
    (agents / "coder.md").write_text(
        "---\nname: coder\nprovider: claude_code\nmodel: kimi-for-coding\n"
        "allowedTools: ['*']\n---\nYou write code.\n"
    )
    serve.kill(signal.SIGTERM)
    serve.env["KIMIBRIDGE_CLAUDE_BIN"] = str(npm_bin("claude"))
    serve.start()
    serve.up("sup")
    answer = "CLAUDE WORKER ANSWER: the function is pure.\n\nSecond paragraph, kept."
    handoff = {"name": "handoff", "arguments": {"profile": "coder", "task": "Review parse()."}}
    serve.script(
        [
            {"match": "please delegate to claude", "tool_calls": [handoff]},
            {
                "match": "Review parse()",
                "tool_calls": [{"name": "bash", "arguments": {"command": "echo ok > cc.txt"}}],
            },
            {"match": "Review parse()", "text": answer},
        ]
    )
    sent = serve.cli("team", "send", "sup", "please delegate to claude", "--wait")
    assert sent.returncode == 0, sent.stdout + sent.stderr
    results = [
        _text(m.get("content"))
        for messages in serve.model_requests()
        for m in messages
        if m.get("role") == "tool"
    ]
    assert answer in results, results
    assert (serve.project / "cc.txt").read_text() == "ok\n"
