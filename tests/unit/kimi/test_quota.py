"""Kimi's /usages answer parsed (numbers arrive as decimal strings)."""

from __future__ import annotations

from kimibridge.kimi.quota import parse_usages

USAGES = {
    "usage": {
        "name": "Weekly limit",
        "limit": "2000",
        "remaining": "1500",
        "resetTime": "2026-12-13T00:00:00Z",
    },
    "limits": [
        {
            "window": {"duration": 300, "timeUnit": "TIME_UNIT_MINUTE"},
            "detail": {
                "name": "5-hour limit",
                "limit": "200",
                "used": "20",
                "resetTime": "2026-12-06T09:00:00Z",
            },
        },
        {"window": {"duration": 1}, "detail": "not an object"},
    ],
    "membership": {"level": "LEVEL_INTERMEDIATE"},
    "boosterWallet": {
        "balance": {"type": "BOOSTER", "amountLeft": "350"},
        "monthlyChargeLimit": {"priceInCents": "1999", "currency": "USD"},
        "monthlyUsed": "12",
    },
}


def test_windows_fill_in_used_or_remaining() -> None:
    quota = parse_usages(USAGES)
    weekly, window = quota.windows
    assert (weekly.name, weekly.used, weekly.limit, weekly.remaining) == (
        "Weekly limit",
        500,
        2000,
        1500,
    )
    assert weekly.window is None and weekly.used_ratio == 0.25
    assert (window.used, window.remaining, window.window) == (20, 180, "300 min")
    assert window.resets_at == "2026-12-06T09:00:00Z"


def test_plan_level_and_balance() -> None:
    quota = parse_usages(USAGES)
    assert quota.level == "LEVEL_INTERMEDIATE"
    assert (quota.booster_left, quota.monthly_used, quota.monthly_limit) == (
        "350",
        "12",
        "19.99 USD",
    )
    assert quota.to_json()["windows"][1]["name"] == "5-hour limit"


def test_unexpected_shapes_give_an_empty_quota_not_an_error() -> None:
    payloads: list[object] = [None, [], {"usage": "x", "limits": "y"}, {"usage": {"limit": "lots"}}]
    for payload in payloads:
        quota = parse_usages(payload)
        assert quota.level is None
        assert all(w.limit is None for w in quota.windows)
