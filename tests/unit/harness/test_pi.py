"""pi through the gateway: the models.json provider, setup patches, version and agent dir."""

from __future__ import annotations

import json
from pathlib import Path

from kimibridge.harness.kimi_models import harness_models, pick_model
from kimibridge.harness.pi import (
    ENV_API_KEY,
    pi_model,
    pi_models_json,
    pi_provider,
    pi_setup_patches,
    pi_user_agent,
    pi_version,
    seed_agent_dir,
    user_agent_dir,
)
from kimibridge.kimi.model_map import ModelSpec

MODELS = harness_models()


def test_provider_is_openai_compatible_at_the_gateway_with_an_honest_user_agent() -> None:
    provider = pi_provider(
        base_url="http://127.0.0.1:8765", api_key=ENV_API_KEY, models=MODELS, user_agent="pi/0.73.1"
    )
    assert provider["baseUrl"] == "http://127.0.0.1:8765/v1"
    assert provider["api"] == "openai-completions"
    assert provider["apiKey"] == "KIMIBRIDGE_API_KEY"  # pi reads the key from this variable
    assert provider["headers"] == {"User-Agent": "pi/0.73.1"}
    assert provider["models"][0]["id"] == "kimi-for-coding"
    text = pi_models_json(provider)
    assert json.loads(text) == {"providers": {"kimibridge": provider}}


def test_model_facts_come_from_the_catalog() -> None:
    k3 = pi_model(
        ModelSpec(
            "k3", context_length=1048576, max_output_tokens=65536, supports_thinking_type="only"
        )
    )
    assert k3["contextWindow"] == 1048576 and k3["maxTokens"] == 65536
    assert k3["reasoning"] is True
    assert k3["thinkingLevelMap"] == {"off": None}
    plain = pi_model(ModelSpec("kimi-plain", supports_thinking_type="no"))
    assert plain["reasoning"] is False and "thinkingLevelMap" not in plain
    both = pi_model(ModelSpec("kimi-for-coding"))
    assert both["reasoning"] is True and "thinkingLevelMap" not in both


def test_user_agent() -> None:
    assert pi_user_agent("0.73.1") == "pi/0.73.1"
    assert pi_user_agent(None) == "pi"


def test_version_from_the_package_manifest(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "@mariozechner" / "pi-coding-agent"
    (package / "dist").mkdir(parents=True)
    (package / "package.json").write_text(
        json.dumps({"name": "@mariozechner/pi-coding-agent", "version": "0.73.1"})
    )
    (package / "dist" / "cli.js").write_text("")
    bin_dir = tmp_path / "node_modules" / ".bin"
    bin_dir.mkdir()
    (bin_dir / "pi").symlink_to(package / "dist" / "cli.js")
    assert pi_version(bin_dir / "pi") == "0.73.1"


def test_user_agent_dir(tmp_path: Path) -> None:
    assert user_agent_dir({"HOME": str(tmp_path)}) == tmp_path / ".pi" / "agent"
    assert user_agent_dir({"PI_CODING_AGENT_DIR": str(tmp_path / "x")}) == tmp_path / "x"


def test_seed_copies_customisations_once_and_never_auth(tmp_path: Path) -> None:
    user, own = tmp_path / "user", tmp_path / "own"
    (user / "skills" / "s").mkdir(parents=True)
    (user / "skills" / "s" / "SKILL.md").write_text("skill")
    (user / "settings.json").write_text('{"theme": "dark"}')
    (user / "auth.json").write_text('{"secret": 1}')
    (user / "sessions").mkdir()
    seed_agent_dir(own, user)
    assert (own / "settings.json").read_text() == '{"theme": "dark"}'
    assert (own / "skills" / "s" / "SKILL.md").read_text() == "skill"
    assert not (own / "auth.json").exists() and not (own / "sessions").exists()
    (own / "settings.json").write_text('{"theme": "light"}')  # changed under run pi: kept
    seed_agent_dir(own, user)
    assert (own / "settings.json").read_text() == '{"theme": "light"}'


def test_seed_without_a_user_dir(tmp_path: Path) -> None:
    seed_agent_dir(tmp_path / "own", tmp_path / "missing")
    assert list((tmp_path / "own").iterdir()) == []


def test_setup_patches_the_users_models_and_settings(tmp_path: Path) -> None:
    patches = pi_setup_patches(
        tmp_path, base_url="http://127.0.0.1:8765", api_key="kb-x", models=MODELS, user_agent="pi/1"
    )
    assert [(p.path.name, p.key_path) for p in patches] == [
        ("models.json", ("providers", "kimibridge")),
        ("settings.json", ("defaultProvider",)),
        ("settings.json", ("defaultModel",)),
    ]
    assert patches[0].value["apiKey"] == "kb-x"  # a plain pi has no KIMIBRIDGE_API_KEY
    assert patches[2].value == "kimi-for-coding"


def test_pick_model() -> None:
    assert pick_model(MODELS, None).id == "kimi-for-coding"
    assert pick_model(MODELS, "K3").id == "k3"
    assert pick_model(MODELS, "kimi-new").id == "kimi-new"
