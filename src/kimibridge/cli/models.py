"""``kimibridge models``: the model catalog of the signed-in account (Kimi's ``/models``)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Annotated, Any

import typer

from kimibridge.cli._app import command_app

if TYPE_CHECKING:
    from kimibridge.kimi.catalog import KimiModel

__all__ = ["app"]

app = command_app()


def _row(model: KimiModel) -> dict[str, Any]:
    modalities = ["text"]
    if model.supports_image_in:
        modalities.append("image")
    if model.supports_video_in:
        modalities.append("video")
    return {
        "id": model.id,
        "display_name": model.display_name,
        "context_length": model.context_length,
        "max_output_tokens": model.max_output_tokens,
        "thinking": model.supports_thinking_type,
        "efforts": list(model.efforts),
        "default_effort": model.default_effort,
        "modalities": modalities,
        "tools": model.supports_tool_use,
        "protocol": model.protocol,
    }


@app.command(
    help=(
        "Kimi's models for your account: id, context window, thinking (no, both: on or off, only), "
        "reasoning efforts, input modalities and the upstream protocol. Asks Kimi and refreshes "
        "the cached catalog the gateway and harnesses use; --offline shows the cache."
    )
)
def models(
    offline: Annotated[
        bool, typer.Option("--offline", help="Show the cached catalog; no network.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    import asyncio

    from kimibridge.config import Paths, Settings
    from kimibridge.errors import ConfigError
    from kimibridge.kimi.catalog import ModelCatalog, fetch_catalog, load_catalog

    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    catalog: ModelCatalog | None
    if offline:
        catalog = load_catalog(paths.catalog_file)
        if catalog is None:
            raise ConfigError("no cached model catalog yet; run `kimibridge models` once online")
    else:
        from kimibridge.kimi.account import open_account

        account = open_account(paths, Settings.load(paths, environ=environ), environ)

        async def ask() -> ModelCatalog:
            async with account.upstream() as upstream:
                return await fetch_catalog(upstream, cache=paths.catalog_file)

        catalog = asyncio.run(ask())
    rows = [_row(m) for m in catalog.models]
    if as_json:
        print(json.dumps({"base_url": catalog.base_url, "models": rows}, indent=2))
        return
    from rich.table import Table

    from kimibridge.cli._output import console

    where = "cached" if offline else "from"
    table = Table(title=f"Models ({where} {catalog.base_url})", title_justify="left")
    for name in ("id", "context", "max output", "thinking", "efforts", "input", "protocol"):
        table.add_column(name, justify="right" if name in ("context", "max output") else "left")
    for r in rows:
        table.add_row(
            r["id"],
            f"{r['context_length']:,}",
            "" if r["max_output_tokens"] is None else f"{r['max_output_tokens']:,}",
            r["thinking"],
            ", ".join(f"{e}*" if e == r["default_effort"] else e for e in r["efforts"]) or "-",
            "+".join(r["modalities"]),
            r["protocol"],
        )
    console.print(table)
    if any(r["default_effort"] for r in rows):
        console.print("* the model's default effort", highlight=False)
