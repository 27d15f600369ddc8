"""Identity presets: exact header values per preset, platform rules, device id files."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import pytest
from aiohttp.http import SERVER_SOFTWARE

from kimibridge.errors import ConfigError
from kimibridge.kimi.identity import (
    PRESETS,
    PlatformFacts,
    RequestKind,
    build_identity,
    device_id_path,
    kimi_cli_device_model,
    kimi_code_device_model,
    load_or_create_device_id,
    sanitize_kimi_cli_value,
    sanitize_kimi_code_value,
)
from kimibridge.kimi.versions import Versions

LINUX = PlatformFacts(
    system="Linux",
    release="6.18.44-fc-v595",
    version="#1 SMP PREEMPT_DYNAMIC @0",
    machine="x86_64",
    node="vm",
)
MACOS = PlatformFacts(
    system="Darwin",
    release="24.1.0",
    version="Darwin Kernel Version 24.1.0",
    machine="arm64",
    node="MacBook-Pro.local",
    mac_version="15.1",
)
WINDOWS_11 = PlatformFacts(
    system="Windows",
    release="10",
    version="10.0.22631",
    machine="AMD64",
    node="DESKTOP-1",
    windows_build=22631,
)
WINDOWS_10 = PlatformFacts(
    system="Windows",
    release="10",
    version="10.0.19045",
    machine="AMD64",
    node="DESKTOP-2",
    windows_build=19045,
)
HEX_ID = "c124b86e7ff7442287715111475b3801"
UUID_ID = "2f1c7a9e-6a0b-4c61-9d55-0a3f6a1f2b7c"
VERSIONS = Versions(kimi_cli="1.52.0", kimi_code="2.1.0", kimibridge="0.1.0")
CLAUDE_UA = "claude-cli/2.1.330 (external, sdk-cli)"


def identity(preset: str, facts: PlatformFacts = LINUX, **kw: object):
    device_id = {"kimi-cli": HEX_ID, "kimi-code": UUID_ID}.get(preset)
    return build_identity(
        preset,
        versions=VERSIONS,
        facts=facts,
        device_id=device_id,
        environ={},
        **kw,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- honest presets


@pytest.mark.parametrize("kind", list(RequestKind))
def test_harness_forwards_the_callers_user_agent_and_nothing_else(kind: RequestKind) -> None:
    ident = identity("harness")
    assert ident.headers(kind, caller_user_agent=CLAUDE_UA, tool_call_id="call_1") == {
        "User-Agent": CLAUDE_UA
    }


def test_harness_without_a_caller_uses_kimibridges_own_user_agent() -> None:
    assert identity("harness").headers(RequestKind.ACCOUNT) == {"User-Agent": "kimibridge/0.1.0"}


def test_harness_drops_non_printable_characters_from_the_caller_user_agent() -> None:
    headers = identity("harness").headers(RequestKind.MODEL, caller_user_agent="agent/1\r\n ✓")
    assert headers == {"User-Agent": "agent/1"}


@pytest.mark.parametrize(
    ("caller", "expected"),
    [
        (CLAUDE_UA, "kimibridge/0.1.0 (claude-cli/2.1.330)"),
        ("opencode/1.18.33 ai-sdk/provider-utils/4.0.23", "kimibridge/0.1.0 (opencode/1.18.33)"),
        (None, "kimibridge/0.1.0"),
        ("   ", "kimibridge/0.1.0"),
    ],
)
def test_kimibridge_preset_names_the_agent_in_a_comment(caller: str | None, expected: str) -> None:
    for kind in RequestKind:
        assert identity("kimibridge").headers(kind, caller_user_agent=caller, tool_call_id="t") == {
            "User-Agent": expected
        }


# --------------------------------------------------------------------------- kimi-cli


def test_kimi_cli_chat_headers_match_the_legacy_cli_exactly() -> None:
    ident = identity("kimi-cli")
    assert ident.headers(RequestKind.MODEL, caller_user_agent=CLAUDE_UA) == {
        "User-Agent": "KimiCLI/1.52.0",
        "X-Msh-Platform": "kimi_cli",
        "X-Msh-Version": "1.52.0",
        "X-Msh-Device-Name": "vm",
        "X-Msh-Device-Model": "Linux 6.18.44-fc-v595 x86_64",
        "X-Msh-Os-Version": "#1 SMP PREEMPT_DYNAMIC @0",
        "X-Msh-Device-Id": HEX_ID,
    }


def test_kimi_cli_service_routes_carry_the_identity_and_the_tool_call_id() -> None:
    headers = identity("kimi-cli").headers(RequestKind.SERVICE, tool_call_id="SearchWeb:0")
    assert headers["User-Agent"] == "KimiCLI/1.52.0"
    assert headers["X-Msh-Platform"] == "kimi_cli"
    assert headers["X-Msh-Tool-Call-Id"] == "SearchWeb:0"


def test_kimi_cli_account_routes_send_only_the_http_clients_user_agent() -> None:
    # Legacy kimi-cli calls /models and /usages with plain aiohttp: no KimiCLI UA, no X-Msh-*.
    headers = identity("kimi-cli").headers(RequestKind.ACCOUNT, caller_user_agent=CLAUDE_UA)
    assert headers == {"User-Agent": SERVER_SOFTWARE}


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (LINUX, "Linux 6.18.44-fc-v595 x86_64"),
        (MACOS, "macOS 15.1 arm64"),
        (PlatformFacts("Darwin", "24.1.0", "", "x86_64", "m"), "macOS 24.1.0 x86_64"),
        (WINDOWS_11, "Windows 11 AMD64"),
        (WINDOWS_10, "Windows 10 AMD64"),
        (PlatformFacts("Windows", "10", "10.0.22631", "AMD64", "d"), "Windows 10 AMD64"),
        (PlatformFacts("FreeBSD", "14.1-RELEASE", "", "amd64", "b"), "FreeBSD 14.1-RELEASE amd64"),
        (PlatformFacts("Linux", "6.1", "", "", "n"), "Linux 6.1"),
        (PlatformFacts("", "", "", "", "n"), "Unknown"),
    ],
)
def test_kimi_cli_device_model_rules(facts: PlatformFacts, expected: str) -> None:
    assert kimi_cli_device_model(facts) == expected


def test_kimi_cli_macos_and_windows_headers() -> None:
    mac = identity("kimi-cli", MACOS).headers(RequestKind.MODEL)
    assert mac["X-Msh-Device-Model"] == "macOS 15.1 arm64"
    assert mac["X-Msh-Os-Version"] == "Darwin Kernel Version 24.1.0"
    assert mac["X-Msh-Device-Name"] == "MacBook-Pro.local"
    win = identity("kimi-cli", WINDOWS_11).headers(RequestKind.MODEL)
    assert win["X-Msh-Device-Model"] == "Windows 11 AMD64"
    assert win["X-Msh-Os-Version"] == "10.0.22631"


def test_kimi_cli_sanitises_a_non_ascii_hostname() -> None:
    facts = PlatformFacts("Linux", "6.1", "#1", "x86_64", node=" Jörg’s-Laptop ")
    assert identity("kimi-cli", facts).headers(RequestKind.MODEL)["X-Msh-Device-Name"] == (
        "Jrgs-Laptop"
    )
    only_unicode = PlatformFacts("Linux", "6.1", "#1", "x86_64", node="电脑")
    headers = identity("kimi-cli", only_unicode).headers(RequestKind.MODEL)
    assert headers["X-Msh-Device-Name"] == "unknown"


def test_kimi_cli_sanitising_rules() -> None:
    assert sanitize_kimi_cli_value("  host  ") == "host"
    assert sanitize_kimi_cli_value("") == ""  # ASCII: stripped only, as kimi-cli does
    assert sanitize_kimi_cli_value("é") == "unknown"
    assert sanitize_kimi_cli_value("a\tb\n") == "ab"
    assert sanitize_kimi_code_value("\tx ü y\x7f") == "x  y"
    assert sanitize_kimi_code_value("ü") == "unknown"


# --------------------------------------------------------------------------- kimi-code


def test_kimi_code_headers_match_the_new_cli_on_every_route() -> None:
    expected = {
        "User-Agent": "kimi-code-cli/2.1.0",
        "X-Msh-Platform": "kimi_code_cli",
        "X-Msh-Version": "2.1.0",
        "X-Msh-Device-Name": "vm",
        "X-Msh-Device-Model": "Linux 6.18.44-fc-v595 x64",
        "X-Msh-Os-Version": "6.18.44-fc-v595",
        "X-Msh-Device-Id": UUID_ID,
    }
    for kind in RequestKind:
        assert identity("kimi-code").headers(kind, caller_user_agent=CLAUDE_UA) == expected


@pytest.mark.parametrize(
    ("facts", "model", "os_version"),
    [
        (LINUX, "Linux 6.18.44-fc-v595 x64", "6.18.44-fc-v595"),
        (MACOS, "macOS 15.1 arm64", "24.1.0"),
        (WINDOWS_11, "Windows 10.0.22631 x64", "10.0.22631"),
        (PlatformFacts("Linux", "6.1", "#1", "aarch64", "pi"), "Linux 6.1 arm64", "6.1"),
    ],
)
def test_kimi_code_device_model_uses_node_names(
    facts: PlatformFacts, model: str, os_version: str
) -> None:
    assert kimi_code_device_model(facts) == model
    assert identity("kimi-code", facts).headers(RequestKind.MODEL)["X-Msh-Os-Version"] == (
        os_version
    )


# --------------------------------------------------------------------------- custom


def test_custom_headers_are_sent_and_the_caller_ua_forwarded_without_one() -> None:
    ident = identity("custom", custom_headers={"X-Team": "blue"})
    assert ident.headers(RequestKind.MODEL, caller_user_agent="pi/0.73.1", tool_call_id="t") == {
        "X-Team": "blue",
        "User-Agent": "pi/0.73.1",
    }


def test_custom_user_agent_and_msh_headers_win() -> None:
    ident = identity("custom", custom_headers={"User-Agent": "mine/1", "X-Msh-Platform": "mine"})
    assert ident.headers(RequestKind.SERVICE, caller_user_agent=CLAUDE_UA, tool_call_id="t") == {
        "User-Agent": "mine/1",
        "X-Msh-Platform": "mine",
        "X-Msh-Tool-Call-Id": "t",
    }


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer x"}, {"Bad Name": "x"}, {"X-Ok": "caf\u00e9"}, {"X": "a\nb"}],
)
def test_custom_headers_are_checked(headers: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        identity("custom", custom_headers=headers)


def test_unknown_preset_lists_the_choices() -> None:
    with pytest.raises(ConfigError, match="harness, kimibridge, kimi-cli, kimi-code, custom"):
        build_identity("kimi", environ={})


# --------------------------------------------------------------------------- describe


def test_describe_flags_risk_only_for_the_cli_presets() -> None:
    for name in PRESETS:
        custom = {"X-A": "b"} if name == "custom" else None
        description = identity(name, custom_headers=custom).describe()
        assert description.risky is (name in ("kimi-cli", "kimi-code"))
        if description.risky:
            assert description.risk is not None
            assert description.risk.count(". ") == 0 and description.risk.endswith(".")


def test_describe_shows_every_header_with_the_token_redacted() -> None:
    data = identity("kimi-cli").describe().to_dict()
    assert data["preset"] == "kimi-cli"
    assert data["forwards_caller_user_agent"] is False
    headers = data["headers"]
    assert isinstance(headers, dict)
    assert headers["model"]["Authorization"] == "Bearer <redacted>"
    assert headers["model"]["X-Msh-Device-Id"] == HEX_ID
    assert headers["account"] == {
        "Authorization": "Bearer <redacted>",
        "User-Agent": SERVER_SOFTWARE,
    }
    harness = identity("harness").describe(caller_user_agent=CLAUDE_UA)
    assert harness.forwards_caller_user_agent is True
    assert harness.headers[RequestKind.MODEL]["User-Agent"] == CLAUDE_UA


# --------------------------------------------------------------------------- device id files


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_kimi_cli_device_id_is_created_in_kimi_clis_format_and_reused(tmp_path: Path) -> None:
    share = tmp_path / "share"
    env = {"KIMI_SHARE_DIR": str(share)}
    ident = build_identity("kimi-cli", versions=VERSIONS, facts=LINUX, environ=env)
    path = share / "device_id"
    content = path.read_bytes().decode()
    assert re.fullmatch(r"[0-9a-f]{32}", content)  # no newline, no dashes
    assert _mode(path) == 0o600
    assert ident.headers(RequestKind.MODEL)["X-Msh-Device-Id"] == content
    again = build_identity("kimi-cli", versions=VERSIONS, facts=LINUX, environ=env)
    assert again.headers(RequestKind.MODEL)["X-Msh-Device-Id"] == content
    assert path.read_bytes().decode() == content


def test_an_existing_kimi_cli_device_id_is_read_not_replaced(tmp_path: Path) -> None:
    path = tmp_path / "device_id"
    path.write_text(HEX_ID + "\n")
    assert load_or_create_device_id(path, "kimi-cli") == HEX_ID
    assert path.read_text() == HEX_ID + "\n"


def test_kimi_code_device_id_is_a_dashed_uuid_in_its_home(tmp_path: Path) -> None:
    env = {"KIMI_CODE_HOME": str(tmp_path / "kc")}
    path = device_id_path("kimi-code", env)
    assert path == tmp_path / "kc" / "device_id"
    ident = build_identity("kimi-code", versions=VERSIONS, facts=LINUX, environ=env)
    content = path.read_text()
    assert re.fullmatch(
        r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", content
    )
    assert _mode(path) == 0o600
    assert ident.headers(RequestKind.MODEL)["X-Msh-Device-Id"] == content


def test_an_empty_device_id_file_is_replaced(tmp_path: Path) -> None:
    path = tmp_path / "device_id"
    path.write_text("")
    new = load_or_create_device_id(path, "kimi-cli")
    assert len(new) == 32 and path.read_text() == new


def test_no_temporary_files_are_left_behind(tmp_path: Path) -> None:
    load_or_create_device_id(tmp_path / "d" / "device_id", "kimi-cli")
    assert os.listdir(tmp_path / "d") == ["device_id"]


def test_default_device_id_paths_follow_home(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    assert device_id_path("kimi-cli", env) == tmp_path / ".kimi" / "device_id"
    assert device_id_path("kimi-code", env) == tmp_path / ".kimi-code" / "device_id"


def test_honest_presets_touch_no_device_file(tmp_path: Path) -> None:
    env = {"KIMI_SHARE_DIR": str(tmp_path / "s"), "KIMI_CODE_HOME": str(tmp_path / "c")}
    build_identity("harness", environ=env)
    build_identity("kimibridge", environ=env)
    assert not (tmp_path / "s").exists() and not (tmp_path / "c").exists()


def test_platform_facts_detect_describe_this_machine() -> None:
    facts = PlatformFacts.detect()
    assert facts.system and facts.node


def test_device_id_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_link(src: object, dst: object) -> None:
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "link", no_link)
    path = tmp_path / "d" / "device_id"
    new = load_or_create_device_id(path, "kimi-cli")
    assert path.read_text() == new and _mode(path) == 0o600
    assert os.listdir(tmp_path / "d") == ["device_id"]
