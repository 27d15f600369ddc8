"""`kimibridge run pi|opencode|kimi` end to end: the real clients, launched the way `run` launches
them, through a gateway to the emulator, loopback only.

Each harness completes a text turn and a tool round trip (the tool writes a file; its result
reaches the emulator), with an honest User-Agent naming the agent.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from kimibridge.gateway.local_auth import LocalKeys
from kimibridge.harness import kimi, opencode, pi
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
from tests.e2e.kb_process import free_port, product_env, serving
from tests.integration.gateway_env import GatewayEnv, gateway_env

pytestmark = pytest.mark.e2e

HARNESS: dict[str, pi.PiHarness | opencode.OpencodeHarness | kimi.KimiHarness] = {
    "pi": pi.HARNESS,
    "opencode": opencode.HARNESS,
    "kimi": kimi.HARNESS,
}
HARNESSES = tuple(HARNESS)
TEXT_PROMPT = "Say hello to the emulator"
TOOL_PROMPT = 'Please run [[call bash {"command": "echo hi > out.txt"}]]'
# What each harness's own tool result says for a command without output.
TOOL_RESULT = {
    "pi": "(no output)",
    "opencode": "(no output)",
    "kimi": "<system>Command executed successfully.</system>",
}
USER_AGENT = {"pi": "pi/0.73.1", "opencode": "opencode/1.18.33 ", "kimi": "KimiCLI/1.52.0"}


class Gateway(Protocol):
    """Where a harness is pointed: the gateway's root URL and a local key."""

    @property
    def url(self) -> str: ...
    @property
    def key(self) -> str: ...


@dataclass(frozen=True)
class _Ctx:
    """What `run` hands a harness (see kimibridge.harness.contract.Context)."""

    gateway_url: str
    api_key: str
    config_dir: Path
    environ: Mapping[str, str]
    catalog_file: Path | None = None
    model: str | None = None


@dataclass(frozen=True)
class _Running:
    url: str
    key: str


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


def _launch(harness: str, gw: Gateway, root: Path, prompt: str) -> AgentCommand:
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
    ctx = _Ctx(gateway_url=gw.url, api_key=gw.key, config_dir=home / ".kimibridge", environ=environ)
    launch = HARNESS[harness].launch(ctx, _args(harness, prompt))
    argv, env = launch.argv, launch.env
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


# ----------------------------------------------------------------------- a background serve --offline


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Gateway]:
    """``kimibridge serve --offline`` as its own process; ``kimi`` is None (its emulator is inside)."""
    home = tmp_path / "kb-home"
    with serving(product_env(home, free_port()), tmp_path / "serve.log", "--offline") as url:
        yield _Running(url, LocalKeys.load_or_create(home).default)


@pytest.mark.parametrize("harness", HARNESSES)
def test_tool_round_trip_against_serve_offline(
    harness: str, offline: Gateway, tmp_path: Path
) -> None:
    # The built-in emulator refuses agents it does not know (403), as Kimi does: a clean round trip
    # means the User-Agent the harness sends names a coding agent.
    command = _launch(harness, offline, tmp_path, TOOL_PROMPT)
    result = run_agent(command)
    _assert_clean(result)
    assert result.written == {"out.txt": b"hi\n"}, result.describe()
    assert _final_text(harness, result) == f"Tool result: {TOOL_RESULT[harness]}"
