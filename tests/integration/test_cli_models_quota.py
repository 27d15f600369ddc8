"""`kimibridge models` and `kimibridge usage --quota` through the CLI against the emulator."""

from __future__ import annotations

import json

import pytest

from kimibridge.testing import EmulatorHandle
from tests.integration.cli_account_helpers import GOOD_KEY, cli_env, kb, one_line, paths

pytestmark = pytest.mark.integration


def test_models_lists_the_catalog_and_caches_it(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator, KIMI_API_KEY=GOOD_KEY)
    result = kb("models", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["base_url"] == kimi_emulator.base_url
    by_id = {m["id"]: m for m in data["models"]}
    assert "kimi-for-coding" in by_id
    model = by_id["kimi-for-coding"]
    assert model["context_length"] > 0 and model["protocol"] in ("openai", "anthropic")
    assert model["thinking"] in ("no", "both", "only") and "text" in model["modalities"]
    assert paths(env).catalog_file.is_file()

    table = kb("models", env=env)
    assert table.returncode == 0 and "kimi-for-coding" in table.stdout
    assert f"{model['context_length']:,}" in table.stdout

    # the cache answers offline, with no request
    kimi_emulator.clear_requests()
    cached = kb("models", "--offline", "--json", env=env)
    assert cached.returncode == 0 and json.loads(cached.stdout)["models"] == data["models"]
    assert kimi_emulator.requests == []


def test_models_offline_without_a_cache_is_one_line() -> None:
    result = kb("models", "--offline", env=cli_env())
    assert result.returncode == 1
    assert "run `kimibridge models` once online" in one_line(result.stderr)


def test_usage_quota_shows_windows_and_balance(kimi_emulator: EmulatorHandle) -> None:
    kimi_emulator.add_api_key(GOOD_KEY)
    env = cli_env(kimi_emulator, KIMI_API_KEY=GOOD_KEY)
    result = kb("usage", "--quota", "--json", env=env)
    assert result.returncode == 0, result.stderr
    quota = json.loads(result.stdout)
    names = [w["name"] for w in quota["windows"]]
    assert names == ["Weekly limit", "5-hour limit"]
    assert quota["windows"][1]["window"] == "300 min"
    assert quota["windows"][0]["limit"] == 2000 and quota["level"]
    table = kb("usage", "--quota", env=env)
    assert table.returncode == 0, table.stderr
    assert "Weekly limit" in table.stdout and "5-hour limit" in table.stdout
    assert "plan level" in table.stdout
    assert GOOD_KEY not in table.stdout + table.stderr
    # an API key, no agent calling: kimibridge says it is kimibridge, and nothing of Kimi CLI's
    sent = [r for r in kimi_emulator.requests if r.path == "/coding/v1/usages"]
    assert len(sent) == 2
    for r in sent:
        assert r.headers["User-Agent"].startswith("kimibridge/")
        assert not [h for h in r.headers if h.lower().startswith("x-msh-")]


def test_usage_quota_without_login_is_one_line(kimi_emulator: EmulatorHandle) -> None:
    result = kb("usage", "--quota", env=cli_env(kimi_emulator))
    assert result.returncode == 1
    assert "kimibridge login" in one_line(result.stderr)
