"""opencode through the gateway: OPENCODE_CONFIG_CONTENT and the setup patches."""

from __future__ import annotations

import json
from pathlib import Path

from kimibridge.harness.kimi_models import harness_models
from kimibridge.harness.opencode import (
    OPENCODE_ENV,
    opencode_config,
    opencode_config_content,
    opencode_setup_patches,
    user_config_file,
)

MODELS = harness_models()


def test_config_content() -> None:
    config = opencode_config(
        base_url="http://127.0.0.1:8765", api_key="kb-x", models=MODELS, model="kimi-for-coding"
    )
    assert json.loads(opencode_config_content(config)) == config
    assert config["model"] == config["small_model"] == "kimibridge/kimi-for-coding"
    assert config["autoupdate"] is False
    provider = config["provider"]["kimibridge"]
    assert provider["npm"] == "@ai-sdk/openai-compatible"
    assert provider["options"] == {"baseURL": "http://127.0.0.1:8765/v1", "apiKey": "kb-x"}
    k3 = provider["models"]["k3"]
    assert k3["limit"] == {"context": 1048576, "output": 65536}
    assert k3["reasoning"] is True and k3["attachment"] is True


def test_env_switches_keep_models_dev_and_updates_off() -> None:
    assert OPENCODE_ENV == {
        "OPENCODE_DISABLE_MODELS_FETCH": "1",
        "OPENCODE_DISABLE_AUTOUPDATE": "1",
    }


def test_user_config_file(tmp_path: Path) -> None:
    assert user_config_file({"HOME": str(tmp_path)}) == tmp_path / ".config/opencode/opencode.json"
    xdg = {"HOME": "/nowhere", "XDG_CONFIG_HOME": str(tmp_path / "x")}
    assert user_config_file(xdg) == tmp_path / "x/opencode/opencode.json"


def test_setup_patches(tmp_path: Path) -> None:
    target = tmp_path / "opencode.json"
    patches = opencode_setup_patches(
        target, base_url="http://127.0.0.1:1", api_key="kb-x", models=MODELS, model="k3"
    )
    assert {p.path for p in patches} == {target}
    assert [p.key_path for p in patches] == [
        ("provider", "kimibridge"),
        ("model",),
        ("small_model",),
    ]
    assert patches[1].value == patches[2].value == "kimibridge/k3"
