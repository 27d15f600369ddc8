"""A provider that runs ``fake_tui.py`` (registered by tests/integration/team/test_runtime.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from kimibridge.team.providers import LaunchContext, write_launch_script

TUI = Path(__file__).with_name("fake_tui.py")


class FakeProvider:
    name = "fake_tui"
    approve_keys = ("1",)

    def prepare(self, ctx: LaunchContext) -> list[str]:
        return write_launch_script(
            ctx.agent_dir / "launch.sh",
            argv=[*ctx.wrap, sys.executable, str(TUI)],
            cwd=ctx.project_dir,
            env={"PATH": ctx.environ.get("PATH", "/usr/bin:/bin")},
        )

    def transcript_inputs(self, agent_dir: Path) -> int | None:
        return None

    def transcript_reply(self, agent_dir: Path, after_inputs: int) -> str | None:
        return None


PROVIDER = FakeProvider()
