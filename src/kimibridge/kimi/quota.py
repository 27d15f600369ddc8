"""Kimi's ``/usages`` answer (the plan's quota windows and extra balance), parsed.

Kimi sends numbers as decimal strings and names its fields in camelCase (kimi-plugins.md §1.11):
``usage{name,limit,used|remaining,resetTime}``, ``limits[]{window{duration,timeUnit},detail}``,
``membership{level}`` and ``boosterWallet{balance{amountLeft}, monthlyChargeLimit, monthlyUsed}``.
Fields Kimi leaves out stay None; nothing here raises on an unexpected shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["Quota", "QuotaWindow", "parse_usages"]

_UNITS = {
    "TIME_UNIT_MINUTE": "min",
    "TIME_UNIT_HOUR": "h",
    "TIME_UNIT_DAY": "d",
}


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    name: str
    used: int | None
    limit: int | None
    remaining: int | None
    resets_at: str | None
    window: str | None  # e.g. "300 min"; None for the plan's main (weekly) limit

    @property
    def used_ratio(self) -> float | None:
        if self.used is None or not self.limit:
            return None
        return self.used / self.limit


@dataclass(frozen=True, slots=True)
class Quota:
    windows: tuple[QuotaWindow, ...]
    level: str | None
    booster_left: str | None
    monthly_used: str | None
    monthly_limit: str | None  # "<amount> <currency>"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["windows"] = [asdict(w) for w in self.windows]
        return data


def _num(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(float(value))
        except ValueError:
            return None
    if isinstance(value, float):
        return int(value)
    return None


def _text(value: object) -> str | None:
    return (
        str(value) if isinstance(value, str | int | float) and not isinstance(value, bool) else None
    )


def _window(entry: Mapping[str, Any], window: Mapping[str, Any] | None) -> QuotaWindow:
    used, limit, remaining = (
        _num(entry.get("used")),
        _num(entry.get("limit")),
        _num(entry.get("remaining")),
    )
    if used is None and limit is not None and remaining is not None:
        used = limit - remaining
    if remaining is None and limit is not None and used is not None:
        remaining = max(0, limit - used)
    span = None
    if window:
        duration = _num(window.get("duration"))
        unit = _UNITS.get(str(window.get("timeUnit")), str(window.get("timeUnit") or "").lower())
        span = f"{duration} {unit}".strip() if duration is not None else None
    reset = entry.get("resetTime") or entry.get("reset_time") or entry.get("resetAt")
    return QuotaWindow(
        name=str(entry.get("name") or "quota"),
        used=used,
        limit=limit,
        remaining=remaining,
        resets_at=_text(reset),
        window=span,
    )


def parse_usages(payload: object) -> Quota:
    data: Mapping[str, Any] = payload if isinstance(payload, Mapping) else {}
    windows: list[QuotaWindow] = []
    main = data.get("usage")
    if isinstance(main, Mapping):
        windows.append(_window(main, None))
    for item in data.get("limits") or ():
        if isinstance(item, Mapping) and isinstance(item.get("detail"), Mapping):
            window = item.get("window")
            windows.append(_window(item["detail"], window if isinstance(window, Mapping) else None))
    membership = data.get("membership")
    level = _text(membership.get("level")) if isinstance(membership, Mapping) else None
    wallet = data.get("boosterWallet")
    booster = monthly_used = monthly_limit = None
    if isinstance(wallet, Mapping):
        balance = wallet.get("balance")
        if isinstance(balance, Mapping):
            booster = _text(balance.get("amountLeft"))
        monthly_used = _text(wallet.get("monthlyUsed"))
        cap = wallet.get("monthlyChargeLimit")
        if isinstance(cap, Mapping) and _num(cap.get("priceInCents")) is not None:
            cents = _num(cap.get("priceInCents")) or 0
            monthly_limit = f"{cents / 100:.2f} {cap.get('currency') or ''}".strip()
    return Quota(tuple(windows), level, booster, monthly_used, monthly_limit)
