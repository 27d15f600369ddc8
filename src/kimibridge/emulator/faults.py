"""Faults the emulator injects on demand, per request (scenario step or control call)."""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["Fault", "FaultKind"]


class FaultKind(enum.StrEnum):
    RATE_LIMIT = "rate_limit"  # 429 rate_limit_reached_error
    QUOTA = "quota"  # 429 exceeded_current_quota_error
    SERVER_ERROR = "server_error"  # 500
    BAD_GATEWAY = "bad_gateway"  # 502
    UNAVAILABLE = "unavailable"  # 503
    SLOW_FIRST_BYTE = "slow_first_byte"  # sleep `delay_s` before answering, then answer normally
    STREAM_CUT = "stream_cut"  # stream ends (connection closed) after `after_chunks` chunks
    MALFORMED_CHUNK = "malformed_chunk"  # one chunk of invalid JSON after `after_chunks` chunks
    UNAUTHORIZED = "unauthorized"  # 401 as for an expired token
    ACCESS_TERMINATED = "access_terminated"  # 403 access_terminated_error


# Faults answered before the handler runs (a status and a body); the others act on the stream.
STATUS_FAULTS = frozenset(
    {
        FaultKind.RATE_LIMIT,
        FaultKind.QUOTA,
        FaultKind.SERVER_ERROR,
        FaultKind.BAD_GATEWAY,
        FaultKind.UNAVAILABLE,
        FaultKind.UNAUTHORIZED,
        FaultKind.ACCESS_TERMINATED,
    }
)


@dataclass(frozen=True, slots=True)
class Fault:
    kind: FaultKind
    # Which route it applies to: a path suffix such as "/chat/completions" or "/messages";
    # None means the next request to any model route (chat, messages).
    route: str | None = None
    delay_s: float = 2.0
    after_chunks: int = 2
