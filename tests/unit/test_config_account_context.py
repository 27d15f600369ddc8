"""How the CLI turns Settings into hosts and a region (cli._account), and status helpers."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.cli._account import AccountContext, endpoints_for
from kimibridge.cli._status_info import who_of
from kimibridge.cli.status import _expiry_text, _quota_lines
from kimibridge.config import Paths, Settings
from kimibridge.errors import ConfigError
from kimibridge.kimi.credentials import CredentialStore, StoredLogin


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")


def test_default_hosts_per_region(paths: Paths) -> None:
    settings = Settings.load(paths)
    mainland = endpoints_for(settings, "mainland")
    assert (mainland.api_base, mainland.auth_host) == (
        "https://api.kimi.com/coding/v1",
        "https://auth.kimi.com",
    )
    world = endpoints_for(settings, "global")
    assert (world.api_base, world.auth_host) == (
        "https://api.kimi.ai/coding/v1",
        "https://auth.kimi.ai",
    )


def test_overrides_from_file_env_or_flags_reach_the_endpoints(paths: Paths) -> None:
    paths.config_dir.mkdir(parents=True)
    paths.config_file.write_text('api_base_url = "http://127.0.0.1:1/coding/v1"\n')
    env = {"KIMI_OAUTH_HOST": "http://127.0.0.1:2"}
    settings = Settings.load(paths, environ=env)
    ep = endpoints_for(settings, "global")
    assert (ep.api_base, ep.auth_host, ep.region) == (
        "http://127.0.0.1:1/coding/v1",
        "http://127.0.0.1:2",
        "global",  # an unknown host takes the chosen region
    )
    # An override naming a Kimi host decides the region.
    settings = Settings.load(paths, flags={"api_base_url": "https://api.kimi.ai/coding/v1"})
    assert endpoints_for(settings, "mainland").region == "global"


def test_overrides_in_two_regions_are_refused(paths: Paths) -> None:
    settings = Settings.load(
        paths,
        environ={
            "KIMI_CODE_BASE_URL": "https://api.kimi.com/coding/v1",
            "KIMI_CODE_OAUTH_HOST": "https://auth.kimi.ai",
        },
    )
    with pytest.raises(ConfigError, match="one region"):
        endpoints_for(settings, "mainland")


def _ctx(paths: Paths, settings: Settings, login: StoredLogin | None) -> AccountContext:
    return AccountContext(paths, settings, {}, CredentialStore(paths.credentials_file), login)


def test_region_follows_the_login_unless_chosen(paths: Paths) -> None:
    login = StoredLogin.api_key_login("sk-kimi-x", "global")
    assert _ctx(paths, Settings.load(paths), login).region == "global"
    assert _ctx(paths, Settings.load(paths), None).region == "mainland"
    chosen = Settings.load(paths, flags={"region": "mainland"})
    assert _ctx(paths, chosen, login).region == "mainland"  # then check_region refuses it


def test_who_of() -> None:
    assert who_of(None) is None
    assert who_of({"nickname": "Ada", "email": "ada@example.org"}) == "Ada <ada@example.org>"
    assert who_of({"user": {"name": "Bo"}}) == "Bo"
    assert who_of({"email": "c@example.org"}) == "c@example.org"
    assert who_of({"user_id": 42}) == "42"


def test_quota_lines() -> None:
    usage = {
        "usage": {"name": "Weekly limit", "limit": "2000", "used": "5", "resetTime": "T1"},
        "limits": [{"detail": {"name": "5-hour limit", "limit": "200", "used": "5"}}, "junk"],
    }
    assert _quota_lines(usage) == [
        "Weekly limit: 5 of 2,000 used, resets T1",
        "5-hour limit: 5 of 200 used",
    ]
    assert _quota_lines(None) == []


def test_expiry_text() -> None:
    assert _expiry_text({"method": "api_key"}) == "API key (does not expire)"
    assert _expiry_text({"method": "oauth", "expires_at": None}) == "unknown"
    text = _expiry_text({"method": "oauth", "expires_at": 0.0, "expires_in_s": 125})
    assert text.startswith("expires in 2 min 5 s (at 1970-01-01 00:00 UTC)")
    assert _expiry_text({"method": "oauth", "expires_at": 0.0, "expires_in_s": -1}).startswith(
        "expired at"
    )
