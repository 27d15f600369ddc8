"""`kimibridge setup kimi`, then a plain kimi-cli (no --config-file, no flags from kimibridge)
answers through a background `serve --offline`, loopback only; `--undo` gives the user's
config.toml back byte for byte."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients import kimi_cli_python
from tests.e2e.agents import AgentCommand, _base_env, run_agent
from tests.e2e.kb_process import free_port, product_env, run_kb, serving

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


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """``kimibridge serve --offline`` as its own process: (its home, its port)."""
    home, port = tmp_path / "kb-home", free_port()
    env = product_env(home, port, KIMI_SHARE_DIR=str(tmp_path / "unused-share"))
    with serving(env, tmp_path / "serve.log", "--offline"):
        yield home, port


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
    env = product_env(kimi_home / ".kimibridge", port, KIMI_SHARE_DIR=str(share))
    env["KIMIBRIDGE_HOME"] = str(kb_home)  # the running gateway's keys

    done = run_kb(env, "setup", "kimi")
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

    undone = run_kb(env, "setup", "kimi", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert (share / "config.toml").read_bytes() == USER_CONFIG
