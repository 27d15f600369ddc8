"""`kimibridge run pi|opencode|kimi` end to end: the real clients, launched the way `run` launches
them, through a gateway to the emulator, loopback only.

Each harness completes a text turn and a tool round trip (the tool writes a file; its result
reaches the emulator), with an honest User-Agent naming the agent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimibridge.harness import kimi, opencode, pi
from kimibridge.harness.kimi_models import harness_models
from kimibridge.testing import EmulatorHandle
from tests.clients import kimi_cli_python, npm_bin
from tests.e2e.agents import (
    NPM_SINK_PORT,
    AgentCommand,
    AgentResult,
    _base_env,
    openai_tool_results,
    run_agent,
)
from tests.integration.gateway_env import GatewayEnv, gateway_env

pytestmark = pytest.mark.e2e

HARNESSES = ("pi", "opencode", "kimi")
TEXT_PROMPT = "Say hello to the emulator"
TOOL_PROMPT = 'Please run [[call bash {"command": "echo hi > out.txt"}]]'
# What each harness's own tool result says for a command without output.
TOOL_RESULT = {
    "pi": "(no output)",
    "opencode": "(no output)",
    "kimi": "<system>Command executed successfully.</system>",
}
USER_AGENT = {"pi": "pi/0.73.1", "opencode": "opencode/1.18.33 ", "kimi": "KimiCLI/1.52.0"}


@pytest.fixture
def gw(kimi_emulator: EmulatorHandle, tmp_path: Path) -> Iterator[GatewayEnv]:
    # The default identity with an API key: each agent's own User-Agent goes upstream, and the
    # emulator, like Kimi, refuses agents it does not know (403).
    with gateway_env(kimi_emulator, tmp_path / "gw", preset="harness") as env:
        yield env


def _args(harness: str, prompt: str) -> list[str]:
    if harness == "pi":
        return ["-p", prompt, "--no-session", "--mode", "json"]
    if harness == "opencode":
        return ["run", "--format", "json", *prompt.split()]  # one quoted argument would be quoted
    return ["--print", "--output-format", "stream-json", "-p", prompt]


def _launch(harness: str, gw: GatewayEnv, root: Path, prompt: str) -> AgentCommand:
    home, work = root / f"{harness}-home", root / f"{harness}-work"
    home.mkdir()
    work.mkdir()
    environ = _base_env(home)
    tools = [str(npm_bin("pi").parent), str(kimi_cli_python().parent)]
    environ["PATH"] = ":".join([*tools, environ["PATH"]])
    sink = None
    if harness == "opencode":
        # opencode's embedded npm asks the registry for its plugin SDK on a fresh home.
        environ["NPM_CONFIG_REGISTRY"] = f"http://127.0.0.1:{NPM_SINK_PORT}/"
        sink = NPM_SINK_PORT
    models = harness_models()
    args = _args(harness, prompt)
    own = home / ".kimibridge"
    if harness == "pi":
        argv, env = pi.prepare_run(
            binary=str(npm_bin("pi")),
            own_dir=own / "pi-agent",
            user_dir=home / ".pi" / "agent",
            base_url=gw.url,
            api_key=gw.key,
            models=models,
            model="kimi-for-coding",
            environ=environ,
            args=args,
        )
    elif harness == "opencode":
        argv, env = opencode.prepare_run(
            binary=str(npm_bin("opencode")),
            base_url=gw.url,
            api_key=gw.key,
            models=models,
            model="kimi-for-coding",
            environ=environ,
            args=args,
        )
    else:
        argv, env = kimi.prepare_run(
            config_file=own / "kimi-cli" / "config.toml",
            base_url=gw.url,
            api_key=gw.key,
            model="kimi-for-coding",
            spec=None,
            environ=environ,
            args=args,
        )
    port = int(gw.url.rsplit(":", 1)[1])
    return AgentCommand(harness, tuple(argv), env, work, home, (port,), sink)


def _final_text(harness: str, result: AgentResult) -> str:
    texts: list[str] = []
    for event in result.json_lines():
        message: Any = event.get("message")
        if harness == "pi" and event.get("type") == "message_end":
            if message.get("role") == "assistant":
                texts += [p["text"] for p in message["content"] if p.get("type") == "text"]
        elif harness == "opencode" and event.get("type") == "text":
            texts.append(event["part"]["text"])
        elif harness == "kimi" and event.get("role") == "assistant":
            content = event.get("content")
            if isinstance(content, str) and content:
                texts.append(content)
    assert texts, result.describe()
    return texts[-1]


def _chat(gw: GatewayEnv) -> list[Any]:
    return [r for r in gw.kimi.requests if r.path.endswith("/chat/completions")]


def _assert_clean(result: AgentResult) -> None:
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()


@pytest.mark.parametrize("harness", HARNESSES)
def test_text_turn(harness: str, gw: GatewayEnv, tmp_path: Path) -> None:
    result = run_agent(_launch(harness, gw, tmp_path, TEXT_PROMPT))
    _assert_clean(result)
    assert _final_text(harness, result) == f"Hello from the Kimi emulator. You said: {TEXT_PROMPT}"
    chats = _chat(gw)
    assert chats, result.describe()
    assert all(r.headers.get("User-Agent", "").startswith(USER_AGENT[harness]) for r in chats)
    assert all(r.json()["model"] == "kimi-for-coding" for r in chats)


@pytest.mark.parametrize("harness", HARNESSES)
def test_tool_round_trip(harness: str, gw: GatewayEnv, tmp_path: Path) -> None:
    command = _launch(harness, gw, tmp_path, TOOL_PROMPT)
    result = run_agent(command)
    _assert_clean(result)
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    bodies = [r.json() for r in _chat(gw)]
    results = [m["content"] for b in bodies for m in openai_tool_results(b)]
    assert TOOL_RESULT[harness] in results, json.dumps(bodies)[-2000:]
    assert _final_text(harness, result) == f"Tool result: {TOOL_RESULT[harness]}"
    assert all(r.headers.get("User-Agent", "").startswith(USER_AGENT[harness]) for r in _chat(gw))
