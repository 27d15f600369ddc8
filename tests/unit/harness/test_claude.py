"""`run claude`: the config dir, its seed from ~/.claude (only read), the answers in .claude.json,
the environment and the flag mapping."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from kimibridge.errors import ConfigError
from kimibridge.harness import claude
from kimibridge.harness.contract import HarnessMissing


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@dataclass(frozen=True)
class Ctx:
    gateway_url: str
    api_key: str
    config_dir: Path
    environ: dict[str, str]
    catalog_file: Path | None = None
    model: str | None = None


def _user_dir(home: Path) -> Path:
    user = home / ".claude"
    (user / "skills" / "s1").mkdir(parents=True)
    (user / "skills" / "s1" / "SKILL.md").write_text("skill\n")
    (user / "agents").mkdir()
    (user / "agents" / "a.md").write_text("agent\n")
    (user / "settings.json").write_text('{"theme": "light"}\n')
    (user / "keybindings.json").write_text("[]\n")
    (user / ".credentials.json").write_text('{"claudeAiOauth": {"accessToken": "secret"}}\n')
    (user / "history.jsonl").write_text("private\n")
    return user


def test_config_dir_default_and_per_profile(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert claude.config_dir_for(env) == tmp_path / ".claude-kimibridge"
    assert claude.config_dir_for(env, "work") == tmp_path / ".claude-kimibridge-work"


def test_seed_copies_what_is_listed_and_never_touches_the_user_dir(tmp_path: Path) -> None:
    user = _user_dir(tmp_path)
    before = _digest(user)
    own = tmp_path / ".claude-kimibridge"
    assert claude.seed_config_dir(own, user) is True
    assert _digest(user) == before
    assert (own / "settings.json").read_text() == '{"theme": "light"}\n'
    assert (own / "keybindings.json").is_file()
    assert (own / "skills" / "s1" / "SKILL.md").read_text() == "skill\n"
    assert (own / "agents" / "a.md").is_file()
    # No Anthropic login to prefer over the key, no private history.
    assert json.loads((own / ".credentials.json").read_text()) == {}
    assert not (own / "history.jsonl").exists()
    assert own.stat().st_mode & 0o777 == 0o700
    # Seeded once: later changes in ~/.claude are not copied over the user's kimibridge edits.
    (own / "settings.json").write_text("{}\n")
    assert claude.seed_config_dir(own, user) is False
    assert (own / "settings.json").read_text() == "{}\n"


def test_seed_without_a_user_dir(tmp_path: Path) -> None:
    own = tmp_path / "own"
    claude.seed_config_dir(own, tmp_path / "missing")
    assert sorted(p.name for p in own.iterdir()) == [".credentials.json"]


def test_claude_json_answers_merge_into_what_claude_stored(tmp_path: Path) -> None:
    own = tmp_path / "own"
    own.mkdir()
    (own / ".claude.json").write_text(
        json.dumps(
            {
                "numStartups": 3,
                "customApiKeyResponses": {"approved": ["old"], "rejected": ["x" * 4 + "k" * 16]},
                "projects": {"/p": {"allowedTools": ["Bash"]}},
            }
        )
    )
    key = "kb-" + "x" * 4 + "k" * 16
    claude.update_claude_json(own, key, Path("/p"))
    claude.update_claude_json(own, key, Path("/q"), bypass=True)
    data = json.loads((own / ".claude.json").read_text())
    assert data["numStartups"] == 3
    assert data["hasCompletedOnboarding"] is True
    assert data["bypassPermissionsModeAccepted"] is True
    assert data["customApiKeyResponses"] == {"approved": ["old", key[-20:]], "rejected": []}
    assert data["projects"]["/p"] == {"allowedTools": ["Bash"], "hasTrustDialogAccepted": True}
    assert data["projects"]["/q"] == {"hasTrustDialogAccepted": True}
    assert (own / ".claude.json").stat().st_mode & 0o777 == 0o600


def test_claude_json_from_scratch_matches_the_team_provider(tmp_path: Path) -> None:
    claude.update_claude_json(tmp_path, "kb-abc", tmp_path / "w")
    data = json.loads((tmp_path / ".claude.json").read_text())
    assert data == claude.claude_config("kb-abc", tmp_path / "w")


@pytest.mark.parametrize("flag", ["--yolo", "--yes", "-y", "--auto-approve"])
def test_yolo_flags(flag: str) -> None:
    args, env = claude.map_args([flag, "-p", "hi", "--yolo"], is_root=False)
    assert args == ["--dangerously-skip-permissions", "-p", "hi"]
    assert env == {}
    args, env = claude.map_args([flag], is_root=True)
    assert env == {"IS_SANDBOX": "1"}  # Claude Code refuses to skip permissions as root otherwise


def test_other_args_pass_through() -> None:
    args, env = claude.map_args(["-p", "hi", "--model", "m", "--verbose"], is_root=True)
    assert args == ["-p", "hi", "--model", "m", "--verbose"]
    assert env == {}


def test_launch_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "claude-bin"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    environ = {
        "HOME": str(tmp_path),
        "PATH": "/usr/bin",
        "KIMIBRIDGE_CLAUDE_BIN": str(fake),
        "ANTHROPIC_AUTH_TOKEN": "other",
        "CLAUDE_CODE_USE_BEDROCK": "1",
    }
    ctx = Ctx("http://127.0.0.1:9", "kb-local-key-123456789012", tmp_path / "kb", environ)
    launch = claude.HARNESS.launch(ctx, ["-p", "hi"], profile="p1")
    assert launch.argv == [str(fake), "-p", "hi"]
    assert launch.cwd == work
    env = launch.env
    own = tmp_path / ".claude-kimibridge-p1"
    assert env["CLAUDE_CONFIG_DIR"] == str(own)
    assert env["ANTHROPIC_BASE_URL"] == "http://127.0.0.1:9"
    assert env["ANTHROPIC_API_KEY"] == "kb-local-key-123456789012"
    assert env["ANTHROPIC_MODEL"] == "kimi-for-coding"
    assert env["ANTHROPIC_DEFAULT_OPUS_MODEL"] == "kimi-for-coding"
    assert env["ANTHROPIC_DEFAULT_SONNET_MODEL"] == "kimi-for-coding"
    assert env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] == "kimi-for-coding-highspeed"
    assert env["ANTHROPIC_SMALL_FAST_MODEL"] == "kimi-for-coding-highspeed"
    for name, value in {
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_COST_WARNINGS": "true",
        "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
        "API_TIMEOUT_MS": "600000",
    }.items():
        assert env[name] == value
    assert "ANTHROPIC_AUTH_TOKEN" not in env and "CLAUDE_CODE_USE_BEDROCK" not in env
    assert env["PATH"] == "/usr/bin"
    answers = json.loads((own / ".claude.json").read_text())
    assert answers["projects"][str(work)]["hasTrustDialogAccepted"] is True
    assert not (tmp_path / ".claude").exists()


def test_model_choice(tmp_path: Path) -> None:
    fake = tmp_path / "c"
    fake.write_text("")
    environ = {"HOME": str(tmp_path), "KIMIBRIDGE_CLAUDE_BIN": str(fake)}
    ctx = Ctx("http://x", "kb-k", tmp_path, environ, model="kimi-for-coding-highspeed")
    env = claude.HARNESS.launch(ctx, []).env
    assert env["ANTHROPIC_MODEL"] == "kimi-for-coding-highspeed"


def test_missing_binary(tmp_path: Path) -> None:
    with pytest.raises(HarnessMissing, match="npm install -g @anthropic-ai/claude-code"):
        claude.HARNESS.command({"PATH": str(tmp_path)})


def test_direct_needs_a_key(tmp_path: Path) -> None:
    environ = {"HOME": str(tmp_path), "KIMIBRIDGE_CLAUDE_BIN": "/bin/true"}
    with pytest.raises(ConfigError, match="KIMI_API_KEY"):
        claude.direct_launch(environ, [], stored_api_key=None)
    launch = claude.direct_launch(environ, ["-y"], stored_api_key="sk-kimi-stored")
    assert launch.env["ANTHROPIC_BASE_URL"] == claude.DIRECT_BASE_URL
    assert launch.env["ANTHROPIC_API_KEY"] == "sk-kimi-stored"
    assert launch.argv[1:] == ["--dangerously-skip-permissions"]
    launch = claude.direct_launch({**environ, "KIMI_API_KEY": "sk-env"}, [], stored_api_key="s")
    assert launch.env["ANTHROPIC_API_KEY"] == "sk-env"


def test_setup_patches_set_env_in_the_user_settings(tmp_path: Path) -> None:
    ctx = Ctx("http://127.0.0.1:8765", "kb-k", tmp_path / "kb", {"HOME": str(tmp_path)})
    patches = claude.HARNESS.setup_patches(ctx)
    assert {p.path for p in patches} == {tmp_path / ".claude" / "settings.json"}
    values = {p.key_path: p.value for p in patches}
    assert values[("env", "ANTHROPIC_BASE_URL")] == "http://127.0.0.1:8765"
    assert values[("env", "ANTHROPIC_API_KEY")] == "kb-k"
    assert values[("env", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC")] == "1"
