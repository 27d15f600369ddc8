"""How soon a team agent's finished turn is seen: from the wire (the gateway's turn events) and
from the screen (tmux captures), for the same turns of one real kimi-cli agent.

The delay is measured from the last byte of the agent's final model response (the gateway's
``response_finished`` event, stamped after the relay's last write) to the moment each witness
reports the turn ``completed``:

- wire: the supervisor inside the gateway process (``team.supervisor``), which waits out the
  150 ms settle time of ``team.wire_status``;
- screen: ``TeamRuntime.poll`` as ``team send --wait`` runs it (a capture every 0.4 s, completed
  after two identical idle captures).

Setup: the emulator on loopback as upstream, the gateway with the team extension in a thread,
kimi-cli (the pinned test client, ``scripts/install-clients``) in kimibridge's own tmux server,
a temporary kimibridge home. Turns are plain text answers (the emulator's default directive).

    python bench/team_completion.py [--turns 12] [--no-docs]

Writes its table into docs/performance.md (section ``team-completion``) unless ``--no-docs``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _docs import machine_line, write_section

from kimibridge.config import Paths
from kimibridge.gateway import EventBus, Gateway, GatewayConfig, LocalKeys
from kimibridge.gateway.server import GatewayThread
from kimibridge.kimi.endpoints import Endpoints
from kimibridge.kimi.identity import build_identity
from kimibridge.kimi.sources import ApiKeyTokenSource
from kimibridge.kimi.upstream import KimiUpstream
from kimibridge.team.agent_mcp import TeamExtension
from kimibridge.team.runtime import TeamRuntime
from kimibridge.team.supervisor import AgentTrack
from kimibridge.testing import run_emulator

TARGET_MS = 300.0
KIMI_PYTHON = Path.home() / ".cache" / "kimibridge-test-clients" / "kimi-venv" / "bin" / "python"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(
    paths: Paths, env: dict[str, str], url: str, ext: TeamExtension, project: Path, turns: int
) -> list[tuple[float, float]]:
    rt = TeamRuntime(paths, env)
    agent = await rt.up("developer", team="bench", project_dir=project, gateway_url=url)
    wire: dict[int, tuple[float, float]] = {}  # completion number -> (seen at, last byte at)

    def observe(track: AgentTrack) -> None:  # runs on the gateway's loop
        combined = track.combined
        if (
            track.agent.id == agent.id
            and combined.status == "completed"
            and combined.source == "wire"
            and track.wire.last_event_at is not None
        ):
            wire[track.wire.completions] = (time.time(), track.wire.last_event_at)

    assert ext.supervisor is not None
    ext.supervisor.observers.append(observe)
    rows: list[tuple[float, float]] = []
    try:
        for i in range(turns):
            await rt.send_text(agent.id, f"turn {i}: tell me something short")
            while True:
                seen = await rt.poll(agent.id)
                if seen.status == "completed" and not seen.turn_active:
                    screen_at = time.time()
                    break
                await asyncio.sleep(rt.poll_interval)
            deadline = time.monotonic() + 10
            # the observer runs on the gateway thread's loop: poll the dict it fills
            while i + 1 not in wire and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            wire_at, last_byte = wire[i + 1]
            rows.append(((wire_at - last_byte) * 1000, (screen_at - last_byte) * 1000))
            print(f"turn {i + 1:2d}: wire {rows[-1][0]:7.0f} ms   screen {rows[-1][1]:7.0f} ms")
            await asyncio.sleep(0.5)
    finally:
        await rt.down(team="bench")
        rt.close()
    return rows


def markdown(rows: list[tuple[float, float]]) -> str:
    wire = [r[0] for r in rows]
    screen = [r[1] for r in rows]
    ratio = statistics.median(screen) / statistics.median(wire)
    lines = [
        "## Team: how soon a finished turn is seen (bench/team_completion.py)",
        "",
        "From the last byte of an agent's final model response to its `completed` status; one",
        "real kimi-cli 1.52 agent in tmux, emulator upstream, the same turns seen by both",
        f"witnesses. Target for the wire: ≤ {TARGET_MS:.0f} ms.",
        "",
        "| witness | turns | median | p90 | max |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in (("wire (gateway events, 150 ms settle)", wire), ("screen (tmux)", screen)):
        lines.append(
            f"| {name} | {len(values)} | {statistics.median(values):.0f} ms | "
            f"{pct(values, 0.9):.0f} ms | {max(values):.0f} ms |"
        )
    verdict = "within" if max(wire) <= TARGET_MS else "NOT within"
    lines += [
        "",
        f"Screen / wire (medians): {ratio:.1f}×. The wire's slowest turn is {verdict} the target.",
        "",
        machine_line(),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=12)
    parser.add_argument("--no-docs", action="store_true", help="Do not update docs/performance.md")
    args = parser.parse_args()
    kimi_python = os.environ.get("KIMIBRIDGE_KIMI_PYTHON") or str(KIMI_PYTHON)
    if not shutil.which("tmux") or not Path(kimi_python).exists():
        sys.exit("needs tmux and kimi-cli (scripts/install-clients)")
    with tempfile.TemporaryDirectory(prefix="kb-bench-") as tmp, run_emulator() as kimi:
        root = Path(tmp)
        (root / "home").mkdir()
        project = root / "project"
        project.mkdir()
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(root / "home"),
            "LANG": "C.UTF-8",
            "KIMIBRIDGE_HOME": str(root / "kb"),
            "KIMIBRIDGE_KIMI_PYTHON": kimi_python,
        }
        paths = Paths.from_env(env)
        kimi.add_api_key("sk-kimi-bench")
        endpoints = Endpoints(region="mainland", auth_host=kimi.url, api_base=kimi.base_url)
        upstream = KimiUpstream(
            kimi.base_url,
            ApiKeyTokenSource("sk-kimi-bench", region="mainland", endpoints=endpoints),
            build_identity("kimibridge", environ=env),
        )
        keys = LocalKeys.load_or_create(paths.config_dir)
        gateway = Gateway(upstream, keys, GatewayConfig(offline=True), events=EventBus())
        ext = TeamExtension(paths, env)
        gateway.extensions.append(ext)
        with GatewayThread(gateway) as url:
            rows = asyncio.run(measure(paths, env, url, ext, project, args.turns))
    text = markdown(rows)
    print()
    print(text)
    if not args.no_docs:
        write_section("team-completion", text)


if __name__ == "__main__":
    main()
