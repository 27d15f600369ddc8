"""``kimibridge usage``: the gateway's ledger, per day and per agent, with the cache-hit ratio;
with ``--quota`` the plan's quota windows and balance from Kimi's ``/usages``."""

from __future__ import annotations

import json
import os
import time
from typing import Annotated

import typer

from kimibridge.cli._app import command_app

__all__ = ["app"]

app = command_app()


@app.command(
    help=(
        "Tokens through the gateway per day and per agent, and how much of the prompt Kimi read "
        "from its cache (cached / input). With --quota: the plan's quota windows (used, left, "
        "when they reset) and extra balance, asked from Kimi."
    )
)
def usage(
    days: Annotated[int, typer.Option(min=1, help="How many days back.")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
    quota: Annotated[
        bool, typer.Option("--quota", help="The plan's quota and balance from Kimi (/usages).")
    ] = False,
) -> None:
    if quota:
        _quota(as_json)
        return
    from kimibridge.config import Paths
    from kimibridge.gateway.ledger import LEDGER_FILE_NAME, Ledger, Totals

    paths = Paths.from_env(os.environ)
    path = paths.state_dir / LEDGER_FILE_NAME
    since = time.time() - days * 86400
    if path.exists():
        ledger = Ledger(path)
        try:
            by_day, by_agent = ledger.by_day(since), ledger.by_agent(since)
        finally:
            ledger.close()
    else:
        by_day, by_agent = [], []
    if as_json:
        print(
            json.dumps(
                {
                    "days": days,
                    "by_day": [t.to_json() for t in by_day],
                    "by_agent": [t.to_json() for t in by_agent],
                },
                indent=2,
            )
        )
        return
    from rich.table import Table

    from kimibridge.cli._output import console

    def table(title: str, key: str, rows: list[Totals]) -> Table:
        t = Table(title=title, title_justify="left")
        for name in (key, "requests", "errors", "input", "cached", "output", "cache hit"):
            t.add_column(name, justify="left" if name == key else "right")
        for r in rows:
            t.add_row(
                r.key,
                str(r.requests),
                str(r.errors),
                f"{r.input_tokens:,}",
                f"{r.cached_tokens:,}",
                f"{r.output_tokens:,}",
                f"{r.cache_ratio:.1%}",
            )
        return t

    if not by_day:
        console.print(f"No requests through the gateway in the last {days} days.")
        return
    console.print(table(f"Per day (last {days} days)", "day", by_day))
    console.print(table("Per agent", "agent", by_agent))


def _quota(as_json: bool) -> None:
    import asyncio

    from kimibridge.config import Paths, Settings
    from kimibridge.errors import UpstreamError
    from kimibridge.kimi.account import open_account
    from kimibridge.kimi.quota import parse_usages

    environ = dict(os.environ)
    paths = Paths.from_env(environ)
    account = open_account(paths, Settings.load(paths, environ=environ), environ)

    async def ask() -> object:
        async with account.upstream() as upstream:
            return (await upstream.usages()).json()

    try:
        payload = asyncio.run(ask())
    except ValueError:
        raise UpstreamError("Kimi's /usages answer is not JSON") from None
    parsed = parse_usages(payload)
    if as_json:
        print(json.dumps(parsed.to_json(), indent=2))
        return
    from kimibridge.cli._output import console
    from kimibridge.cli._quota import quota_table

    if not parsed.windows:
        console.print("Kimi reported no quota windows for this account.")
    else:
        console.print(quota_table(parsed))
    extra = []
    if parsed.level:
        extra.append(f"plan level {parsed.level}")
    if parsed.booster_left is not None:
        extra.append(f"extra balance {parsed.booster_left}")
    if parsed.monthly_limit is not None:
        extra.append(f"monthly extra {parsed.monthly_used or '0'} used of {parsed.monthly_limit}")
    if extra:
        console.print("; ".join(extra), highlight=False)
