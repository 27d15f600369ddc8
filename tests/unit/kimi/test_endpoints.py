"""Regions, env overrides and the region check (kimi.endpoints)."""

from __future__ import annotations

import pytest

from kimibridge.errors import ConfigError
from kimibridge.kimi.endpoints import (
    CLIENT_ID,
    REGIONS,
    RegionMismatch,
    check_region,
    parse_region,
    region_of_url,
    resolve_endpoints,
)


def test_defaults_are_mainland() -> None:
    ep = resolve_endpoints(environ={})
    assert ep.region == "mainland"
    assert ep.auth_host == "https://auth.kimi.com"
    assert ep.api_base == "https://api.kimi.com/coding/v1"
    assert not ep.overridden
    assert CLIENT_ID == "17e5f671-d194-4dfb-9706-5516cb48c098"


def test_global_region_hosts() -> None:
    ep = resolve_endpoints("global", environ={})
    assert (ep.auth_host, ep.api_base) == ("https://auth.kimi.ai", "https://api.kimi.ai/coding/v1")
    assert ep.oauth_url("/api/oauth/token") == "https://auth.kimi.ai/api/oauth/token"
    assert ep.api_url("models") == "https://api.kimi.ai/coding/v1/models"


def test_env_overrides_win_in_kimi_cli_order() -> None:
    env = {
        "KIMI_CODE_OAUTH_HOST": "http://127.0.0.1:9/",
        "KIMI_OAUTH_HOST": "http://127.0.0.1:8",
        "KIMI_CODE_BASE_URL": "http://127.0.0.1:9/coding/v1/",
    }
    ep = resolve_endpoints("global", environ=env)
    assert ep.auth_host == "http://127.0.0.1:9"
    assert ep.api_base == "http://127.0.0.1:9/coding/v1"
    assert ep.auth_host_from_env and ep.api_base_from_env
    # An emulated host counts as the region the user chose.
    assert ep.region == "global"
    only_legacy = resolve_endpoints(environ={"KIMI_OAUTH_HOST": "http://127.0.0.1:8"})
    assert only_legacy.auth_host == "http://127.0.0.1:8"
    assert only_legacy.api_base == REGIONS["mainland"].api_base


def test_an_env_host_of_a_known_region_decides_the_region() -> None:
    ep = resolve_endpoints(
        "mainland", environ={"KIMI_CODE_BASE_URL": "https://api.kimi.ai/coding/v1"}
    )
    assert ep.region == "global"
    assert ep.auth_host == "https://auth.kimi.ai"


def test_overrides_pointing_at_two_regions_are_refused() -> None:
    env = {
        "KIMI_CODE_OAUTH_HOST": "https://auth.kimi.com",
        "KIMI_CODE_BASE_URL": "https://api.kimi.ai/coding/v1",
    }
    with pytest.raises(ConfigError, match="one region"):
        resolve_endpoints(environ=env)


def test_region_of_url() -> None:
    assert region_of_url("https://auth.kimi.com") == "mainland"
    assert region_of_url("https://api.kimi.ai/coding/v1") == "global"
    assert region_of_url("http://127.0.0.1:1234") is None


@pytest.mark.parametrize(
    ("text", "region"),
    [("mainland", "mainland"), ("mainland-cn", "mainland"), (" Global\n", "global")],
)
def test_parse_region(text: str, region: str) -> None:
    assert parse_region(text) == region


def test_parse_region_rejects_unknown() -> None:
    with pytest.raises(ConfigError, match="mainland, global"):
        parse_region("mars")


def test_check_region_refuses_the_other_region_with_a_clear_message() -> None:
    check_region("global", resolve_endpoints("global", environ={}))
    with pytest.raises(RegionMismatch) as info:
        check_region("global", resolve_endpoints("mainland", environ={}))
    message = str(info.value)
    assert "global region" in message and "mainland China region" in message
    assert "kimibridge login --region mainland" in message
    # Emulated hosts: the chosen region decides.
    emulated = {
        "KIMI_CODE_OAUTH_HOST": "http://127.0.0.1:9",
        "KIMI_CODE_BASE_URL": "http://127.0.0.1:9/coding/v1",
    }
    with pytest.raises(RegionMismatch):
        check_region("global", resolve_endpoints("mainland", environ=emulated))
