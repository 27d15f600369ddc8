"""``kimibridge setup <harness>``: the harness's own configuration, so plain ``claude`` / ``pi`` /
``opencode`` / ``kimi`` go through kimibridge; ``--undo`` puts every file back byte for byte, or,
for a file edited since, takes only kimibridge's keys out of it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from kimibridge.cli._app import command_app

__all__ = ["app"]

HELP = """\
Write a harness's persistent configuration so its plain command uses the kimibridge gateway.

Existing files are merged into (only kimibridge's keys change) and backed up first;
`--undo` restores every touched file exactly and deletes files setup created; a file
edited since keeps the edits and loses only kimibridge's keys.
The gateway must be running for the harness to work: `kimibridge serve` (or `kimibridge run`).

\b
Examples:
  kimibridge setup claude --print   # show what would change, write nothing
  kimibridge setup pi
  kimibridge setup opencode --tools # also register kimibridge's MCP tools
  kimibridge setup kimi --undo
"""

app = command_app()


@dataclass(frozen=True)
class SetupContext:
    gateway_url: str
    api_key: str
    config_dir: Path
    catalog_file: Path | None
    environ: dict[str, str]
    model: str | None


@app.command(help=HELP)
def setup(
    harness: Annotated[str, typer.Argument(help="claude, pi, opencode or kimi.")],
    print_only: Annotated[
        bool, typer.Option("--print", help="Show the changes; write nothing.")
    ] = False,
    undo: Annotated[
        bool, typer.Option("--undo", help="Restore every file the last setup touched.")
    ] = False,
    tools: Annotated[
        bool, typer.Option("--tools", help="Also register kimibridge's MCP tools.")
    ] = False,
    model: Annotated[str | None, typer.Option(help="The Kimi model to configure.")] = None,
) -> None:
    from kimibridge.config import Paths, Settings
    from kimibridge.errors import ConfigError
    from kimibridge.gateway.local_auth import KEY_FILE_NAME, LocalKeys
    from kimibridge.harness import setup_files
    from kimibridge.harness.registry import get_harness

    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    agent = get_harness(harness)
    if undo:
        if print_only:
            raise ConfigError("--undo and --print cannot be combined")
        result = setup_files.undo_setup(paths.state_dir, agent.name)
        if result is None:
            print(f"nothing to undo for {agent.name}.")
            return
        for p in result.restored:
            print(f"restored {p}")
        for p in result.deleted:
            print(f"deleted  {p} (setup created it)")
        where = setup_files.manifest_path(paths.state_dir, agent.name).parent
        for p in result.edited_since:
            why = result.restored_whole.get(p)
            if why is None:
                print(
                    f"note: {p} was edited after setup: only kimibridge's keys were taken out;"
                    f" the file as it was is kept in {where}"
                )
            else:
                print(
                    f"note: {p} was edited after setup, but {why}: it was put back as it was"
                    f" before setup; the edited file is kept in {where}"
                )
        return

    settings = Settings.load(paths, environ=environ)
    host = settings.gateway.host
    url = f"http://{f'[{host}]' if ':' in host else host}:{settings.gateway.port}"
    if print_only:  # no key (nor the key file) is created just to show a diff
        known = (paths.config_dir / KEY_FILE_NAME).is_file()
        labels = LocalKeys.load_or_create(paths.config_dir).labels() if known else {}
        key = labels.get(agent.name, "<local key>")
    else:
        key = LocalKeys.load_or_create(paths.config_dir).add(agent.name)
    catalog = paths.catalog_file if paths.catalog_file.is_file() else None
    ctx = SetupContext(url, key, paths.config_dir, catalog, environ, model)
    patches = list(agent.setup_patches(ctx))
    if tools:
        from kimibridge.harness.tool_registration import tool_patches

        patches += tool_patches(agent.name, environ)
    changes = setup_files.plan_changes(patches)
    if print_only:
        for change in changes:
            print(setup_files.diff_text(change) or f"{change.path}: unchanged", end="")
            print()
        return
    written = setup_files.apply_changes(changes, paths.state_dir, agent.name)
    for p in written:
        print(f"wrote {p}")
    if not written:
        print(f"{agent.display} is already set up.")
    print(f"undo with `kimibridge setup {agent.name} --undo`; the gateway: `kimibridge serve`")
