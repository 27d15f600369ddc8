"""Pinned versions: defaults < config < environment, and strict values."""

from __future__ import annotations

import pytest

from kimibridge._version import __version__
from kimibridge.errors import ConfigError
from kimibridge.kimi.versions import (
    ENV_KIMI_CLI_VERSION,
    ENV_KIMI_CODE_VERSION,
    KIMI_CLI_VERSION,
    KIMI_CODE_VERSION,
    resolve_versions,
)


def test_pins() -> None:
    assert KIMI_CLI_VERSION == "1.52.0"
    assert KIMI_CODE_VERSION == "2.1.0"
    versions = resolve_versions({})
    assert (versions.kimi_cli, versions.kimi_code, versions.kimibridge) == (
        "1.52.0",
        "2.1.0",
        __version__,
    )
    assert versions.kimi_cli_source == versions.kimi_code_source == "default"


def test_config_overrides_defaults_and_env_overrides_config() -> None:
    versions = resolve_versions({}, kimi_cli="1.53.0", kimi_code="2.2.0")
    assert (versions.kimi_cli, versions.kimi_cli_source) == ("1.53.0", "config")
    assert (versions.kimi_code, versions.kimi_code_source) == ("2.2.0", "config")
    env = {ENV_KIMI_CLI_VERSION: " 1.60.1 ", ENV_KIMI_CODE_VERSION: "3.0.0-beta.1"}
    versions = resolve_versions(env, kimi_cli="1.53.0")
    assert (versions.kimi_cli, versions.kimi_cli_source) == ("1.60.1", "env")
    assert (versions.kimi_code, versions.kimi_code_source) == ("3.0.0-beta.1", "env")


def test_blank_values_fall_through() -> None:
    versions = resolve_versions({ENV_KIMI_CLI_VERSION: "  "}, kimi_cli="")
    assert versions.kimi_cli == KIMI_CLI_VERSION


@pytest.mark.parametrize("bad", ["1.0 beta", "1.0\r\nX-Evil: 1", "é", "/1.0"])
def test_values_that_cannot_go_in_a_header_are_refused(bad: str) -> None:
    with pytest.raises(ConfigError, match=ENV_KIMI_CLI_VERSION):
        resolve_versions({ENV_KIMI_CLI_VERSION: bad})
    with pytest.raises(ConfigError, match="kimi_code_version"):
        resolve_versions({}, kimi_code=bad)
