"""`kimibridge setup kimi`, then a plain kimi-cli (no --config-file, no flags from kimibridge)
answers through a background `serve --offline`, loopback only; `--undo` gives the user's
config.toml back byte for byte."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

import kimibridge
from tests.clients import kimi_cli_python
from tests.e2e.agents import AgentCommand, _base_env, run_agent

pytestmark = pytest.mark.e2e

PROMPT = "Say hello to the emulator"
# telemetry is the user's own choice, which setup leaves alone; on, kimi-cli looks up
# telemetry-logs.kimi.com, which no test may reach.
USER_CONFIG = b"""\
# my kimi-cli config: kept by kimibridge setup
default_model = "local/llama3"  # my own model
telemetry = false

[providers.local]
type = "openai_legacy"
base_url = "http://127.0.0.1:9/v1"
api_key = "sk-mine"

[models."local/llama3"]
provider = "local"
model = "llama3"
max_context_size = 131072

[loop_control]
max_steps_per_turn = 50 # mine
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _kb_env(home: Path, port: int, share: Path) -> dict[str, str]:
    """A kimibridge subprocess: this checkout's code, a private kimibridge home and kimi share."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI", "ANTHROPIC", "OPENAI"))}
    env.update(
        {
            "PYTHONPATH": str(Path(kimibridge.__file__).resolve().parents[1]),
            "PYTHONUNBUFFERED": "1",
            "KIMIBRIDGE_HOME": str(home),
            "KIMIBRIDGE_PORT": str(port),
            "HOME": str(home.parent),
            "KIMI_SHARE_DIR": str(share),
        }
    )
    return env


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """``kimibridge serve --offline`` as its own process: (its home, its port)."""
    home = tmp_path / "kb-home"
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "kimibridge", "serve", "--offline", "--no-ledger"],
        env=_kb_env(home, port, tmp_path / "unused-share"),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(300):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    if json.load(r).get("offline") is True:
                        break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail((tmp_path / "serve.log").read_text())
                time.sleep(0.1)
        else:
            pytest.fail("serve --offline did not become healthy")
        yield home, port
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _kb(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_plain_kimi_cli_answers_through_the_gateway_after_setup(
    serve: tuple[Path, int], tmp_path: Path
) -> None:
    python = kimi_cli_python()
    kb_home, port = serve
    kimi_home, work = tmp_path / "kimi-home", tmp_path / "kimi-work"
    share = kimi_home / ".kimi"
    share.mkdir(parents=True)
    work.mkdir()
    (share / "config.toml").write_bytes(USER_CONFIG)
    env = _kb_env(kimi_home / ".kimibridge", port, share)
    env["KIMIBRIDGE_HOME"] = str(kb_home)  # the running gateway's keys

    done = _kb(env, "setup", "kimi")
    assert done.returncode == 0, done.stderr
    assert f"wrote {share / 'config.toml'}" in done.stdout

    # Plain kimi-cli: its own share dir, no --config-file, nothing from kimibridge.
    agent_env = _base_env(kimi_home)
    agent_env.update({"KIMI_SHARE_DIR": str(share), "KIMI_CLI_NO_AUTO_UPDATE": "1"})
    argv = (str(python), "-m", "kimi_cli.cli", "--print", "--output-format", "stream-json")
    command = AgentCommand("kimi-cli", (*argv, "-p", PROMPT), agent_env, work, kimi_home, (port,))
    result = run_agent(command)
    assert result.returncode == 0, result.describe()
    assert result.outside_connects == [], result.describe()
    texts = [
        e["content"]
        for e in result.json_lines()
        if e.get("role") == "assistant" and isinstance(e.get("content"), str) and e["content"]
    ]
    assert texts[-1:] == [f"Hello from the Kimi emulator. You said: {PROMPT}"], result.describe()

    undone = _kb(env, "setup", "kimi", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert (share / "config.toml").read_bytes() == USER_CONFIG
