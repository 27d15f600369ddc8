"""Settings: defaults < config file < environment < flags, strict casting, sources, writing."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from kimibridge.config import (
    KEYS,
    UNSET,
    Paths,
    Settings,
    Source,
    parse_value,
    update_config_file,
)
from kimibridge.errors import ConfigError


@pytest.fixture
def paths(tmp_path: Path) -> Paths:
    return Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")


def write(paths: Paths, text: str) -> None:
    paths.config_dir.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(text)


def test_defaults(paths: Paths) -> None:
    s = Settings.load(paths)
    assert s.region == "mainland"
    assert s.sign_in is None
    assert s.sharing == "own"
    assert s.identity.preset == "harness"
    assert s.identity.custom_headers == {}
    assert s.identity.versions == {}
    assert (s.gateway.host, s.gateway.port) == ("127.0.0.1", 8765)
    assert s.api_base_url is None and s.oauth_host is None
    assert all(src == Source("default", "") for src in s.sources().values())
    assert set(s.sources()) == set(KEYS)


def test_file_overrides_defaults(paths: Paths) -> None:
    write(
        paths,
        'region = "global"\nsharing = "kimi-cli"\n[identity]\npreset = "kimibridge"\n'
        '[identity.custom_headers]\nX-Team = "blue"\n[identity.versions]\nkimi-cli = "1.50.0"\n'
        "[gateway]\nport = 9001\n",
    )
    s = Settings.load(paths)
    assert s.region == "global"
    assert s.sharing == "kimi-cli"
    assert s.identity.preset == "kimibridge"
    assert s.identity.custom_headers == {"X-Team": "blue"}
    assert s.identity.versions == {"kimi-cli": "1.50.0"}
    assert s.gateway.port == 9001
    assert s.sources()["gateway.port"] == Source("file", str(paths.config_file))
    assert s.sources()["gateway.host"].kind == "default"


def test_env_overrides_file(paths: Paths) -> None:
    write(paths, 'region = "global"\n[gateway]\nport = 9001\n')
    env = {
        "KIMIBRIDGE_REGION": "mainland",
        "KIMIBRIDGE_PORT": "9002",
        "KIMI_CODE_BASE_URL": "http://127.0.0.1:1/coding/v1/",
        "KIMI_OAUTH_HOST": "http://127.0.0.1:2",
        "KIMIBRIDGE_CUSTOM_HEADERS": "X-A: 1\n\nX-B:  two words \n",
    }
    s = Settings.load(paths, environ=env)
    assert s.region == "mainland"
    assert s.gateway.port == 9002
    assert s.api_base_url == "http://127.0.0.1:1/coding/v1"  # trailing slash dropped
    assert s.oauth_host == "http://127.0.0.1:2"
    assert s.identity.custom_headers == {"X-A": "1", "X-B": "two words"}
    src = s.sources()
    assert src["region"] == Source("env", "KIMIBRIDGE_REGION")
    assert src["oauth_host"] == Source("env", "KIMI_OAUTH_HOST")
    assert str(src["gateway.port"]) == "env KIMIBRIDGE_PORT"


def test_first_env_name_wins_and_empty_is_unset(paths: Paths) -> None:
    env = {"KIMI_CODE_OAUTH_HOST": "http://a.test", "KIMI_OAUTH_HOST": "http://b.test"}
    assert Settings.load(paths, environ=env).oauth_host == "http://a.test"
    env = {"KIMI_CODE_OAUTH_HOST": "", "KIMI_OAUTH_HOST": "http://b.test"}
    assert Settings.load(paths, environ=env).oauth_host == "http://b.test"
    assert Settings.load(paths, environ={"KIMIBRIDGE_REGION": ""}).region == "mainland"


def test_flags_override_env_and_unset_is_ignored(paths: Paths) -> None:
    write(paths, '[identity]\npreset = "kimi-cli"\n')
    env = {"KIMIBRIDGE_REGION": "global", "KIMIBRIDGE_PORT": "9002"}
    s = Settings.load(
        paths,
        environ=env,
        flags={"region": "mainland", "gateway.port": 9003, "identity.preset": UNSET},
    )
    assert s.region == "mainland"
    assert s.gateway.port == 9003
    assert s.identity.preset == "kimi-cli"
    assert s.sources()["region"] == Source("flag", "--region")
    assert s.sources()["identity.preset"].kind == "file"


def test_string_flags_are_cast_like_env(paths: Paths) -> None:
    s = Settings.load(paths, flags={"gateway.port": "8000"})
    assert s.gateway.port == 8000
    with pytest.raises(ConfigError, match=r"flag --port is 'eighty'; expected a port number"):
        Settings.load(paths, flags={"gateway.port": "eighty"})


def test_none_flag_is_a_value_not_unset(paths: Paths) -> None:
    write(paths, 'sign_in = "oauth"\n')
    assert Settings.load(paths, flags={"sign_in": None}).sign_in is None


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KIMIBRIDGE_REGION": "mars"}, "KIMIBRIDGE_REGION is 'mars'; expected mainland or global"),
        ({"KIMIBRIDGE_PORT": "80a"}, "KIMIBRIDGE_PORT is '80a'; expected a port number"),
        ({"KIMIBRIDGE_PORT": "70000"}, "gateway.port is 70000; expected a port number"),
        ({"KIMIBRIDGE_IDENTITY": "KimiCLI"}, "KIMIBRIDGE_IDENTITY is 'KimiCLI'; expected harness"),
        ({"KIMIBRIDGE_SHARING": "yes"}, "expected own, kimi-cli or kimi-code"),
        ({"KIMI_CODE_BASE_URL": "api.kimi.com"}, "KIMI_CODE_BASE_URL is 'api.kimi.com'"),
        ({"KIMIBRIDGE_CUSTOM_HEADERS": "no colon"}, "expected lines of 'Name: Value'"),
    ],
)
def test_strict_env_casting(paths: Paths, env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        Settings.load(paths, environ=env)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[gateway]\nport = '8765'\n", "gateway.port is '8765'; expected a port number"),
        ("[gateway]\nport = true\n", "gateway.port is True"),
        ('region = "Mainland"\n', "region is 'Mainland'; expected mainland or global"),
        ('colour = "blue"\n', "unknown setting 'colour'"),
        ("[identity]\npresets = 'x'\n", "unknown setting 'identity.presets'"),
        ("[identity]\ncustom_headers = 3\n", "identity.custom_headers is 3"),
        ("region = \n", "is not valid TOML"),
    ],
)
def test_strict_file_casting(paths: Paths, text: str, message: str) -> None:
    write(paths, text)
    with pytest.raises(ConfigError, match=r"config file .*config\.toml") as info:
        Settings.load(paths)
    assert message in str(info.value)


def test_versions_flag_is_cast(paths: Paths) -> None:
    s = Settings.load(paths, flags={"identity.versions": "kimi-cli=1.51.0, kimi-code=2.1.0"})
    assert s.identity.versions == {"kimi-cli": "1.51.0", "kimi-code": "2.1.0"}
    with pytest.raises(ConfigError, match="expected comma-separated name=version"):
        Settings.load(paths, flags={"identity.versions": "kimi-cli"})
    with pytest.raises(ConfigError, match=r"identity\.versions"):
        Settings.load(paths, flags={"identity.versions": "claude=1"})


def test_unknown_flag_key(paths: Paths) -> None:
    with pytest.raises(ConfigError, match="unknown setting 'colour'"):
        Settings.load(paths, flags={"colour": "blue"})


def test_get_and_items(paths: Paths) -> None:
    s = Settings.load(paths, flags={"gateway.port": 1234})
    assert s.get("gateway.port") == 1234
    rows = {key: (value, src.kind) for key, value, src in s.items()}
    assert rows["gateway.port"] == (1234, "flag")
    with pytest.raises(ConfigError):
        s.get("nope")


def test_update_keeps_comments_and_is_private(paths: Paths) -> None:
    write(paths, "# my settings\n[gateway]\n# the port I like\nport = 9001\n")
    update_config_file(paths.config_file, {"identity.preset": "kimi-cli", "region": "global"})
    text = paths.config_file.read_text()
    assert "# my settings" in text and "# the port I like" in text
    assert stat.S_IMODE(paths.config_file.stat().st_mode) == 0o600
    s = Settings.load(paths)
    assert (s.region, s.identity.preset, s.gateway.port) == ("global", "kimi-cli", 9001)

    update_config_file(paths.config_file, {"identity.preset": None, "sign_in": "oauth"})
    s = Settings.load(paths)
    assert s.identity.preset == "harness"
    assert s.sign_in == "oauth"
    assert "# the port I like" in paths.config_file.read_text()


def test_update_creates_file_and_dir(paths: Paths) -> None:
    update_config_file(paths.config_file, {"gateway.port": 9100, "sharing": None})
    assert Settings.load(paths).gateway.port == 9100


def test_update_refuses_invalid_values(paths: Paths) -> None:
    write(paths, "# keep me\n")
    with pytest.raises(ConfigError, match="region is 'mars'"):
        update_config_file(paths.config_file, {"region": "mars"})
    with pytest.raises(ConfigError, match="unknown setting"):
        update_config_file(paths.config_file, {"colour": "blue"})
    assert paths.config_file.read_text() == "# keep me\n"


def test_env_names_match_kimi_endpoints() -> None:
    from kimibridge import config
    from kimibridge.kimi import endpoints

    assert config.ENV_BASE_URL == endpoints.ENV_BASE_URL
    assert config.ENV_OAUTH_HOST == endpoints.ENV_OAUTH_HOST
    assert config.ENV_OAUTH_HOST_LEGACY == endpoints.ENV_OAUTH_HOST_LEGACY


def test_the_custom_identity_error_names_the_real_setting(tmp_path: Path) -> None:
    """kimi.identity repeats the setting's key and env name in its messages: they must be the
    ones config reads, and setting them there must satisfy the custom preset."""
    from kimibridge import config
    from kimibridge.kimi import identity

    assert identity.CUSTOM_HEADERS_SETTING in config.KEYS
    assert config.ENV_VARS[identity.CUSTOM_HEADERS_SETTING] == (identity.CUSTOM_HEADERS_ENV,)
    with pytest.raises(ConfigError) as info:
        identity.build_identity("custom", environ={})
    assert f"[{identity.CUSTOM_HEADERS_SETTING}]" in str(info.value)
    paths = Paths.from_env({"KIMIBRIDGE_HOME": str(tmp_path)})
    section, _, key = identity.CUSTOM_HEADERS_SETTING.rpartition(".")
    paths.config_file.parent.mkdir(parents=True, exist_ok=True)
    paths.config_file.write_text(
        f'[{section}]\npreset = "custom"\n[{section}.{key}]\nX-Team = "blue"\n'
    )
    settings = Settings.load(paths, environ={})
    built = identity.build_identity(
        settings.identity.preset, custom_headers=settings.identity.custom_headers, environ={}
    )
    assert built.headers(identity.RequestKind.MODEL)["X-Team"] == "blue"


def test_importing_config_stays_cheap() -> None:
    import subprocess
    import sys

    code = "import sys, kimibridge.config; print('aiohttp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unset_is_falsy_and_named() -> None:
    assert not UNSET
    assert repr(UNSET) == "UNSET"


def test_handoff_timeout_from_default_file_and_env(paths: Paths) -> None:
    s = Settings.load(paths)
    assert s.team.handoff_timeout == 600.0
    assert s.sources()["team.handoff_timeout"] == Source("default", "")
    write(paths, "[team]\nhandoff_timeout = 900\n")
    s = Settings.load(paths)
    assert s.team.handoff_timeout == 900.0
    assert s.sources()["team.handoff_timeout"] == Source("file", str(paths.config_file))
    s = Settings.load(paths, environ={"KIMIBRIDGE_HANDOFF_TIMEOUT": " 90.5 "})
    assert s.team.handoff_timeout == 90.5
    assert s.sources()["team.handoff_timeout"] == Source("env", "KIMIBRIDGE_HANDOFF_TIMEOUT")


@pytest.mark.parametrize("raw", ["0", "-5", "ten", "inf", "nan", "1e999"])
def test_handoff_timeout_bad_env_is_one_line(paths: Paths, raw: str) -> None:
    with pytest.raises(ConfigError) as info:
        Settings.load(paths, environ={"KIMIBRIDGE_HANDOFF_TIMEOUT": raw})
    message = str(info.value)
    assert message == (
        f"environment variable KIMIBRIDGE_HANDOFF_TIMEOUT is {raw!r}; "
        "expected a number of seconds > 0"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    ("value", "shown"), [("0", "0"), ("-1.5", "-1.5"), ('"900"', "'900'"), ("true", "True")]
)
def test_handoff_timeout_bad_file_value_is_one_line(paths: Paths, value: str, shown: str) -> None:
    write(paths, f"[team]\nhandoff_timeout = {value}\n")
    with pytest.raises(ConfigError) as info:
        Settings.load(paths)
    message = str(info.value)
    assert message.endswith(f"team.handoff_timeout is {shown}; expected a number of seconds > 0")
    assert "\n" not in message


def test_handoff_timeout_set_writes_a_number(paths: Paths) -> None:
    update_config_file(
        paths.config_file, {"team.handoff_timeout": parse_value("team.handoff_timeout", "900")}
    )
    assert "handoff_timeout = 900\n" in paths.config_file.read_text()
    assert Settings.load(paths).get("team.handoff_timeout") == 900.0
    with pytest.raises(ConfigError, match="expected a number of seconds > 0"):
        parse_value("team.handoff_timeout", "0")
