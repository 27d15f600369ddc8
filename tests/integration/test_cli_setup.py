"""`kimibridge setup` through the CLI: --print writes nothing, setup then --undo is byte-identical."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

SETTINGS = b'{\n  "theme": "light",\n  "env": {"MINE": "1"}\n}\n'


def kb(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimibridge", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=dict(os.environ),
    )


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and ".kimibridge" not in p.parts
    }


def test_setup_claude_print_apply_undo(isolated_home: Path) -> None:
    claude_dir = isolated_home / ".claude"
    claude_dir.mkdir()
    (claude_dir / "settings.json").write_bytes(SETTINGS)
    (claude_dir / "CLAUDE.md").write_text("mine\n")
    before = _tree(isolated_home)

    shown = kb("setup", "claude", "--print")
    assert shown.returncode == 0, shown.stderr
    assert '"ANTHROPIC_BASE_URL": "http://127.0.0.1:8765"' in shown.stdout
    assert _tree(isolated_home) == before

    done = kb("setup", "claude")
    assert done.returncode == 0, done.stderr
    assert f"wrote {claude_dir / 'settings.json'}" in done.stdout
    data = json.loads((claude_dir / "settings.json").read_text())
    assert data["theme"] == "light" and data["env"]["MINE"] == "1"
    assert data["env"]["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:8765"
    assert data["env"]["ANTHROPIC_API_KEY"].startswith("kb-")
    assert data["env"]["ANTHROPIC_MODEL"] == "kimi-for-coding"

    undone = kb("setup", "claude", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert f"restored {claude_dir / 'settings.json'}" in undone.stdout
    assert _tree(isolated_home) == before
    assert (claude_dir / "settings.json").read_bytes() == SETTINGS
    assert kb("setup", "claude", "--undo").stdout.strip() == "nothing to undo for claude."


def test_setup_creates_then_undo_deletes(isolated_home: Path) -> None:
    assert kb("setup", "claude").returncode == 0
    assert (isolated_home / ".claude" / "settings.json").is_file()
    assert kb("setup", "claude", "--undo").returncode == 0
    assert not (isolated_home / ".claude").exists()


def test_undo_after_an_edit_takes_out_only_our_keys(isolated_home: Path) -> None:
    claude_dir = isolated_home / ".claude"
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(SETTINGS)
    assert kb("setup", "claude").returncode == 0
    data = json.loads(settings.read_text())
    data["theme"] = "dark"  # the user, after setup
    settings.write_text(json.dumps(data))

    undone = kb("setup", "claude", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert f"note: {settings} was edited after setup: only kimibridge's keys" in undone.stdout
    assert json.loads(settings.read_text()) == {"theme": "dark", "env": {"MINE": "1"}}


def test_undo_of_an_edit_that_no_longer_parses_restores_the_file(isolated_home: Path) -> None:
    claude_dir = isolated_home / ".claude"
    claude_dir.mkdir()
    settings = claude_dir / "settings.json"
    settings.write_bytes(SETTINGS)
    assert kb("setup", "claude").returncode == 0
    settings.write_text("{broken")

    undone = kb("setup", "claude", "--undo")
    assert undone.returncode == 0, undone.stderr
    assert (
        f"note: {settings} was edited after setup, but it no longer parses as JSON: it was"
        " put back as it was before setup; the edited file is kept in"
    ) in undone.stdout
    assert settings.read_bytes() == SETTINGS


def test_setup_unknown_harness(isolated_home: Path) -> None:
    out = kb("setup", "vim")
    assert out.returncode == 1
    assert out.stderr.strip().splitlines() == [
        "error: unknown harness 'vim'; choose one of: claude, pi, opencode, kimi"
    ]


# ------------------------------------------------------------------ pi, opencode, kimi-cli

PORT = "9123"
GATEWAY_V1 = f"http://127.0.0.1:{PORT}/v1"

PI_MODELS = (
    b'{"providers": {"ollama": {"baseUrl": "http://localhost:11434/v1", '
    b'"api": "openai-completions", "models": [{"id": "llama3"}]}},\n  "mine": [1, 2]}'
)
PI_SETTINGS = b'{\n\t"theme": "dark",\n\t"defaultProvider": "ollama"\n}\n'
OPENCODE_JSON = (
    b'{\n  "$schema": "https://opencode.ai/config.json",\n  "theme": "tokyonight",\n'
    b'  "provider": {"anthropic": {"options": {"timeout": 600000}}},\n'
    b'  "model": "anthropic/claude-sonnet-4"\n}\n'
)
KIMI_TOML = b"""\
# my kimi-cli config
default_model = "kimi-code/kimi-for-coding"  # the managed one

[providers."managed:kimi-code"]
type = "kimi"
base_url = "https://api.kimi.com/coding/v1"
api_key = ""

[models."kimi-code/kimi-for-coding"]
provider = "managed:kimi-code"
model = "kimi-for-coding"
max_context_size = 262144

# how long a turn may run
[loop_control]
max_steps_per_turn = 50 # mine
"""


@pytest.fixture
def harness_home(isolated_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME plus every harness's own config location inside it, and a non-default gateway port."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(isolated_home / ".config"))
    monkeypatch.setenv("PI_CODING_AGENT_DIR", str(isolated_home / "pi-agent"))
    monkeypatch.setenv("KIMIBRIDGE_PORT", PORT)
    monkeypatch.delenv("KIMIBRIDGE_HOST", raising=False)
    return isolated_home


def _local_key(home: Path, label: str) -> str:
    from kimibridge.config import Paths
    from kimibridge.gateway.local_auth import LocalKeys

    key = LocalKeys.load_or_create(Paths.from_env(os.environ).config_dir).labels()[label]
    assert key.startswith("kb-")
    return key


def _pi_files(home: Path) -> dict[Path, bytes]:
    agent = home / "pi-agent"
    return {agent / "models.json": PI_MODELS, agent / "settings.json": PI_SETTINGS}


def _opencode_files(home: Path) -> dict[Path, bytes]:
    return {home / ".config" / "opencode" / "opencode.json": OPENCODE_JSON}


def _kimi_files(home: Path) -> dict[Path, bytes]:
    return {home / ".kimi" / "config.toml": KIMI_TOML}


def _check_pi(home: Path, key: str) -> None:
    agent = home / "pi-agent"
    models = json.loads((agent / "models.json").read_text())
    assert models["mine"] == [1, 2]
    assert models["providers"]["ollama"]["models"] == [{"id": "llama3"}]
    ours = models["providers"]["kimibridge"]
    assert ours["baseUrl"] == GATEWAY_V1
    assert ours["api"] == "openai-completions"
    assert ours["apiKey"] == key
    assert ours["models"][0]["id"] == "kimi-for-coding"
    settings = json.loads((agent / "settings.json").read_text())
    assert settings["theme"] == "dark"
    assert settings["defaultProvider"] == "kimibridge"
    assert settings["defaultModel"] == "kimi-for-coding"


def _check_opencode(home: Path, key: str) -> None:
    config = json.loads((home / ".config" / "opencode" / "opencode.json").read_text())
    assert config["theme"] == "tokyonight"
    assert config["$schema"] == "https://opencode.ai/config.json"
    assert config["provider"]["anthropic"] == {"options": {"timeout": 600000}}
    ours = config["provider"]["kimibridge"]
    assert ours["npm"] == "@ai-sdk/openai-compatible"
    assert ours["options"] == {"baseURL": GATEWAY_V1, "apiKey": key}
    assert "kimi-for-coding" in ours["models"]
    assert config["model"] == config["small_model"] == "kimibridge/kimi-for-coding"


def _check_kimi(home: Path, key: str) -> None:
    import tomllib

    text = (home / ".kimi" / "config.toml").read_text()
    for comment in (
        "# my kimi-cli config",
        "# the managed one",
        "# how long a turn may run",
        "max_steps_per_turn = 50 # mine",
    ):
        assert comment in text
    config = tomllib.loads(text)
    assert config["loop_control"] == {"max_steps_per_turn": 50}
    assert config["providers"]["managed:kimi-code"]["base_url"] == "https://api.kimi.com/coding/v1"
    assert config["models"]["kimi-code/kimi-for-coding"]["provider"] == "managed:kimi-code"
    assert config["providers"]["kimibridge"] == {
        "type": "kimi",
        "base_url": GATEWAY_V1,
        "api_key": key,
    }
    ours = config["models"]["kimibridge/kimi-for-coding"]
    assert ours["provider"] == "kimibridge" and ours["model"] == "kimi-for-coding"
    assert config["default_model"] == "kimibridge/kimi-for-coding"


HARNESSES = {
    "pi": (_pi_files, _check_pi, "pi"),
    "opencode": (_opencode_files, _check_opencode, "opencode"),
    "kimi": (_kimi_files, _check_kimi, "kimi-cli"),
}


@pytest.mark.parametrize("name", list(HARNESSES))
def test_setup_keeps_user_config_and_undo_restores_bytes(harness_home: Path, name: str) -> None:
    files, check, display = HARNESSES[name]
    originals = files(harness_home)
    for path, data in originals.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    before = _tree(harness_home)

    shown = kb("setup", name, "--print")
    assert shown.returncode == 0, shown.stderr
    assert GATEWAY_V1 in shown.stdout
    assert _tree(harness_home) == before  # --print writes nothing (no key file either)
    assert not (harness_home / ".kimibridge").exists()

    done = kb("setup", name)
    assert done.returncode == 0, done.stderr
    for path in originals:
        assert f"wrote {path}" in done.stdout
    check(harness_home, _local_key(harness_home, name))

    after = _tree(harness_home)
    again = kb("setup", name)
    assert again.returncode == 0, again.stderr
    assert f"{display} is already set up." in again.stdout
    assert "wrote" not in again.stdout
    assert _tree(harness_home) == after

    undone = kb("setup", name, "--undo")
    assert undone.returncode == 0, undone.stderr
    for path in originals:
        assert f"restored {path}" in undone.stdout
    for path, data in originals.items():
        assert path.read_bytes() == data
    assert _tree(harness_home) == before

    nothing = kb("setup", name, "--undo")
    assert nothing.returncode == 0, nothing.stderr
    assert nothing.stdout.splitlines() == [f"nothing to undo for {name}."]


CREATED = {
    "pi": ("pi-agent/models.json", "pi-agent/settings.json"),
    "opencode": (".config/opencode/opencode.json",),
    "kimi": (".kimi/config.toml",),
}


@pytest.mark.parametrize("name", list(CREATED))
def test_setup_creates_files_then_undo_deletes_them(harness_home: Path, name: str) -> None:
    shown = kb("setup", name, "--print")
    assert shown.returncode == 0, shown.stderr
    assert "/dev/null" in shown.stdout
    assert sorted(p.name for p in harness_home.iterdir()) == []

    done = kb("setup", name)
    assert done.returncode == 0, done.stderr
    created = [harness_home / rel for rel in CREATED[name]]
    for path in created:
        assert f"wrote {path}" in done.stdout
        assert path.stat().st_mode & 0o777 == 0o600  # it holds the local key
    key = _local_key(harness_home, name)
    if name == "kimi":
        import tomllib

        config = tomllib.loads(created[0].read_text())
        assert config["providers"]["kimibridge"]["api_key"] == key
        assert config["providers"]["kimibridge"]["base_url"] == GATEWAY_V1
        assert config["default_model"] == "kimibridge/kimi-for-coding"
    else:
        assert key in created[0].read_text() and GATEWAY_V1 in created[0].read_text()

    assert "is already set up." in kb("setup", name).stdout

    undone = kb("setup", name, "--undo")
    assert undone.returncode == 0, undone.stderr
    for path in created:
        assert f"deleted  {path} (setup created it)" in undone.stdout
    assert _tree(harness_home) == {}
    assert sorted(p.name for p in harness_home.iterdir()) == [".kimibridge"]
