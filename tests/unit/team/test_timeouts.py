"""The team's timers, derived from the one setting ``team.handoff_timeout``."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.config import Paths, Settings
from kimibridge.team.timeouts import DEFAULT_HANDOFF_TIMEOUT, MARGIN, TeamTimeouts


def test_default_is_the_settings_default(tmp_path: Path) -> None:
    settings = Settings.load(Paths(config_dir=tmp_path, state_dir=tmp_path / "state"))
    assert TeamTimeouts.from_settings(settings) == TeamTimeouts()
    assert TeamTimeouts().handoff == DEFAULT_HANDOFF_TIMEOUT == settings.team.handoff_timeout


@pytest.mark.parametrize("handoff", [DEFAULT_HANDOFF_TIMEOUT, 0.5, 900, 3600.25])
def test_outer_layers_are_longer(handoff: float) -> None:
    t = TeamTimeouts(handoff)
    assert t.mcp_tool_timeout_ms == int((handoff + MARGIN) * 1000)
    assert t.mcp_tool_timeout_ms > t.handoff * 1000  # the harness never gives up first
    assert t.handoff_wait(None) == handoff
    assert t.handoff_wait(0) == handoff  # no limit given
    assert t.handoff_wait(10 * handoff) == handoff  # a caller cannot outwait the harness
    assert t.handoff_wait(handoff / 2) == handoff / 2


def test_default_values() -> None:
    t = TeamTimeouts()
    assert (t.handoff, t.mcp_tool_timeout_ms, t.handoff_wait(30)) == (600.0, 660_000, 30.0)


def test_from_settings_follows_the_setting(tmp_path: Path) -> None:
    paths = Paths(config_dir=tmp_path, state_dir=tmp_path / "state")
    paths.config_file.write_text("[team]\nhandoff_timeout = 900\n")
    t = TeamTimeouts.from_settings(Settings.load(paths))
    assert (t.handoff, t.mcp_tool_timeout_ms) == (900.0, 960_000)
    env = {"KIMIBRIDGE_HANDOFF_TIMEOUT": "120.5"}
    t = TeamTimeouts.from_settings(Settings.load(paths, environ=env))
    assert (t.handoff, t.mcp_tool_timeout_ms) == (120.5, 180_500)


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_a_timeout_that_is_not_one_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="seconds > 0"):
        TeamTimeouts(bad)


def test_a_non_default_setting_reaches_each_harness_config(tmp_path: Path) -> None:
    """The setting, through ``from_settings``, is what each provider writes for its harness."""
    import dataclasses
    import tomllib

    from kimibridge.team.providers import provider_for
    from tests.unit.team.test_provider_kimi import _ctx

    paths = Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")
    settings = Settings.load(paths, environ={"KIMIBRIDGE_HANDOFF_TIMEOUT": "900"})
    timeouts = TeamTimeouts.from_settings(settings)

    kimi = _ctx(tmp_path / "kimi", timeouts=timeouts)
    provider_for("kimi_cli").prepare(kimi)
    config = tomllib.loads((kimi.agent_dir / "kimi" / "config.toml").read_text())
    assert config["mcp"]["client"]["tool_call_timeout_ms"] == 960_000

    base = _ctx(tmp_path / "claude", timeouts=timeouts)
    claude = dataclasses.replace(base, environ={**base.environ, "KIMIBRIDGE_CLAUDE_BIN": "claude"})
    provider_for("claude_code").prepare(claude)
    script = (claude.agent_dir / "launch.sh").read_text()
    assert "export MCP_TOOL_TIMEOUT=960000\n" in script
