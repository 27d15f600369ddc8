"""`kimibridge run kimi --tools`: the real kimi-cli 1.52, started by the CLI against a background
`serve --offline`, gets the kimibridge MCP server for that run only (`--mcp-config`) and calls
`moonshot_search` through it in a scripted emulator turn. Loopback only.

`serve --offline` signs nothing in, so the MCP server answers the call with its "needs a login"
tool error; that text coming back to the model as the tool's result proves the server was
started from the run's entry and reached over MCP (no /search request is made).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from tests.clients import kimi_cli_python, npm_bin
from tests.e2e import test_run_cli
from tests.e2e.agents import (
    NPM_SINK_PORT,
    AgentCommand,
    AgentResult,
    openai_tool_results,
    run_agent,
)
from tests.e2e.test_harness_run import _args
from tests.e2e.test_harness_run import _final_text as harness_final_text

pytestmark = pytest.mark.e2e

offline = test_run_cli.offline  # the background `serve --offline` fixture
PROMPT = '[[call moonshot_search {"query": "x"}]]'
# The MCP server's tool error without a login (kimibridge.tools.failures.describe of NeedsLogin).
NO_LOGIN = "moonshot_search: not signed in to Kimi; run `kimibridge login"


def _run_kimi(
    offline: test_run_cli.Offline, tmp_path: Path, prompt: str, *options: str
) -> AgentResult:
    """``kimibridge run kimi <options> -- <print-mode args>`` inside the loopback sandbox."""
    work = tmp_path / "work"
    work.mkdir()
    env = dict(offline.env)
    env["PATH"] = os.pathsep.join([str(kimi_cli_python().parent), env["PATH"]])
    argv = [sys.executable, "-m", "kimibridge", "run", "kimi", *options, "--"]
    argv += _args("kimi", prompt)
    port = int(offline.url.rsplit(":", 1)[1])
    return run_agent(AgentCommand("kimi", tuple(argv), env, work, offline.home, (port,)))


def test_run_kimi_tools_calls_moonshot_search_through_kimibridge_mcp(
    offline: test_run_cli.Offline, tmp_path: Path
) -> None:
    result = _run_kimi(offline, tmp_path, PROMPT, "--tools")
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()

    final = harness_final_text("kimi", result)
    assert final.startswith("Tool result: "), result.describe()
    assert NO_LOGIN in final, result.describe()
    # The MCP tool's error text is what went back upstream as the call's result.
    results = [openai_tool_results(json.loads(r["body"])) for r in offline.requests()]
    contents = [str(m.get("content")) for r in results for m in r]
    assert any(NO_LOGIN in c for c in contents), contents
    # Nothing was written into the user's own kimi-cli dir.
    assert not (offline.home / ".kimi" / "mcp.json").exists()
    assert not (offline.home / ".kimi" / "config.toml").exists()


def test_run_pi_tools_is_one_line(offline: test_run_cli.Offline, tmp_path: Path) -> None:
    env = dict(offline.env)
    env["PATH"] = os.pathsep.join([str(npm_bin("pi").parent), env["PATH"]])
    argv = [sys.executable, "-m", "kimibridge", "run", "pi", "--tools", "-p", "hi"]
    port = int(offline.url.rsplit(":", 1)[1])
    result = run_agent(AgentCommand("pi", tuple(argv), env, tmp_path, offline.home, (port,)))
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "pi does not load MCP servers" in lines[0], result.describe()


def test_run_claude_tools_calls_moonshot_search_through_kimibridge_mcp(
    offline: test_run_cli.Offline, tmp_path: Path
) -> None:
    # Claude Code names MCP tools mcp__<server>__<tool>; --yolo lets print mode run it.
    prompt = '[[call mcp__kimibridge__moonshot_search {"query": "x"}]]'
    work = tmp_path / "work"
    work.mkdir()
    argv = [sys.executable, "-m", "kimibridge", "run", "claude", "--tools", "--yolo", "-p", prompt]
    argv += ["--output-format", "stream-json", "--verbose"]
    port = int(offline.url.rsplit(":", 1)[1])
    # run claude turns Claude Code's tool search off (Kimi cannot expand tool_reference blocks),
    # so the MCP tool is offered directly and the scripted turn can call it.
    result = run_agent(
        AgentCommand("claude-code", tuple(argv), offline.env, work, offline.home, (port,))
    )
    [init] = [e for e in result.json_lines() if e.get("subtype") == "init"]
    servers = {s["name"]: s["status"] for s in init["mcp_servers"]}
    assert servers == {"kimibridge": "connected"}, init
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    finals = [e for e in result.json_lines() if e.get("type") == "result"]
    assert finals and str(finals[-1]["result"]).startswith("Tool result: "), result.describe()
    assert NO_LOGIN in str(finals[-1]["result"]), result.describe()
    assert not (offline.home / ".claude.json").exists()
    assert not (offline.home / ".claude").exists()


def test_run_opencode_tools_calls_moonshot_search_through_kimibridge_mcp(
    offline: test_run_cli.Offline, tmp_path: Path
) -> None:
    # opencode names MCP tools <server>_<tool>.
    prompt = '[[call kimibridge_moonshot_search {"query": "x"}]]'
    work = tmp_path / "work"
    work.mkdir()
    env = dict(offline.env)
    env["PATH"] = os.pathsep.join([str(npm_bin("opencode").parent), env["PATH"]])
    env["NPM_CONFIG_REGISTRY"] = f"http://127.0.0.1:{NPM_SINK_PORT}/"  # its plugin SDK fetch
    argv = [sys.executable, "-m", "kimibridge", "run", "opencode", "--tools", "--"]
    argv += _args("opencode", prompt)
    port = int(offline.url.rsplit(":", 1)[1])
    command = AgentCommand("opencode", tuple(argv), env, work, offline.home, (port,), NPM_SINK_PORT)
    result = run_agent(command)
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    final = harness_final_text("opencode", result)
    assert final.startswith("Tool result: ") and NO_LOGIN in final, result.describe()
    assert not (offline.home / ".config" / "opencode" / "opencode.json").exists()


def test_run_kimi_tools_after_setup_kimi_tools(
    offline: test_run_cli.Offline, tmp_path: Path
) -> None:
    """Both registrations at once (the user's mcp.json and the run's --mcp-config name the same
    server): kimi-cli still starts and the call still goes through."""
    import subprocess

    done = subprocess.run(
        [sys.executable, "-m", "kimibridge", "setup", "kimi", "--tools"],
        env=offline.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert (offline.home / ".kimi" / "mcp.json").exists()
    result = _run_kimi(offline, tmp_path, PROMPT, "--tools")
    assert result.returncode == 0, result.describe()
    final = harness_final_text("kimi", result)
    assert final.startswith("Tool result: ") and NO_LOGIN in final, result.describe()


def test_run_kimi_offline_tools_gets_canned_search_results(
    offline: test_run_cli.Offline, tmp_path: Path
) -> None:
    """`run --offline --tools`: no account anywhere, and the tools still answer (from the MCP
    server's own built-in emulator), so a newcomer can try them."""
    prompt = '[[call moonshot_search {"query": "try it", "limit": 1}]]'
    result = _run_kimi(offline, tmp_path, prompt, "--offline", "--tools")
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    final = harness_final_text("kimi", result)
    assert final.startswith("Tool result: "), result.describe()
    assert "https://example.com/try-it/1" in final, result.describe()
