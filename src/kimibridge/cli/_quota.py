"""How `status` and `usage --quota` show the plan's quota (parsed by ``kimi.quota``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.table import Table

    from kimibridge.kimi.quota import Quota, QuotaWindow

__all__ = ["quota_line", "quota_table"]


def _n(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"


def quota_line(window: QuotaWindow) -> str:
    tail = f", resets {window.resets_at}" if window.resets_at else ""
    return f"{window.name}: {_n(window.used)} of {_n(window.limit)} used{tail}"


def quota_table(quota: Quota) -> Table:
    from rich.table import Table

    table = Table(title="Plan quota", title_justify="left")
    for name in ("limit", "window", "used", "of", "left", "used %", "resets"):
        table.add_column(name, justify="left" if name in ("limit", "resets", "window") else "right")
    for w in quota.windows:
        ratio = w.used_ratio
        table.add_row(
            w.name,
            w.window or "plan",
            _n(w.used),
            _n(w.limit),
            _n(w.remaining),
            "?" if ratio is None else f"{ratio:.0%}",
            w.resets_at or "",
        )
    return table
