"""Agent profiles: CAO-compatible Markdown + YAML front matter, looked up project > user > built-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from kimibridge.config import Paths
from kimibridge.errors import TeamError
from kimibridge.team.profiles import find_profile, list_profiles, parse_profile

CAO_PROFILE = """---
name: code_supervisor
description: Coordinates developers
role: supervisor
skills: ["*"]
mcpServers:
  cao-mcp-server:
    type: stdio
    command: cao-mcp-server
    env: {LOG: debug}
---

# Supervisor
You coordinate.
"""


def _paths(tmp_path: Path) -> Paths:
    return Paths(config_dir=tmp_path / "cfg", state_dir=tmp_path / "state")


def test_cao_profile_parses_and_unknown_keys_are_ignored() -> None:
    p = parse_profile(CAO_PROFILE, source="x.md", origin="user")
    assert (p.name, p.provider, p.model, p.allowed_tools) == (
        "code_supervisor",
        "kimi_cli",
        None,
        None,
    )
    assert p.prompt == "# Supervisor\nYou coordinate.\n"
    assert p.mcp_servers["cao-mcp-server"]["env"] == {"LOG": "debug"}
    assert not p.auto_approve and not p.restricted


def test_auto_approve_follows_allowed_tools_unless_set() -> None:
    star = parse_profile("---\nname: a\nallowedTools: ['*']\n---\nhi", source="a")
    assert star.auto_approve and not star.restricted
    narrow = parse_profile("---\nname: b\nallowedTools: [fs_read]\n---\nhi", source="b")
    assert not narrow.auto_approve and narrow.restricted
    forced = parse_profile(
        "---\nname: c\nautoApprove: false\nallowedTools: ['*']\n---\n", source="c"
    )
    assert not forced.auto_approve


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("no front matter", "no YAML front matter"),
        ("---\nname: [\n---\n", "not valid YAML"),
        ("---\ndescription: x\n---\n", "needs a `name`"),
        ("---\nname: a\nprovider: codex\n---\n", "provider 'codex'"),
        ("---\nname: a\nallowedTools: fs_read\n---\n", "allowedTools"),
        ("---\nname: a\nmcpServers: [x]\n---\n", "mcpServers"),
    ],
)
def test_bad_profiles_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(TeamError, match=r"agent profile bad\.md") as info:
        parse_profile(text, source="bad.md")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_lookup_order_project_user_builtin(tmp_path: Path) -> None:
    paths = _paths(tmp_path)
    project = tmp_path / "proj"
    assert find_profile("developer", project, paths).origin == "builtin"
    assert {p.name for p in list_profiles(project, paths)} >= {"developer", "reviewer"}
    user_dir = paths.config_dir / "agents"
    user_dir.mkdir(parents=True)
    (user_dir / "developer.md").write_text("---\nname: developer\ndescription: mine\n---\nuser\n")
    assert find_profile("developer", project, paths).description == "mine"
    nested = project / ".kimibridge" / "agents" / "developer"
    nested.mkdir(parents=True)
    (nested / "agent.md").write_text("---\nname: developer\ndescription: project\n---\np\n")
    found = find_profile("developer", project, paths)
    assert (found.origin, found.description) == ("project", "project")
    listed = {p.name: p for p in list_profiles(project, paths)}
    assert listed["developer"].origin == "project"
    with pytest.raises(TeamError, match="no agent profile named 'nobody'"):
        find_profile("nobody", project, paths)


def test_builtins_are_kimi_profiles() -> None:
    paths = Paths(config_dir=Path("/nonexistent/c"), state_dir=Path("/nonexistent/s"))
    dev = find_profile("developer", Path("/nonexistent"), paths)
    rev = find_profile("reviewer", Path("/nonexistent"), paths)
    assert dev.auto_approve and not rev.auto_approve and rev.restricted
    assert dev.provider == rev.provider == "kimi_cli"
