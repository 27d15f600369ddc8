"""What a tool call tells the model when it cannot do its job: one line, no token, a next step.

``ToolFailure`` is what the tool modules raise; ``mcp_server`` turns it into an MCP tool error
(``isError: true``), which harnesses show to the model and the user as the call's result.
"""

from __future__ import annotations

from kimibridge.errors import (
    AccessTerminated,
    KimibridgeError,
    NeedsLogin,
    QuotaExceeded,
    UpstreamStatusError,
    UpstreamTimeout,
)

__all__ = ["ToolFailure", "describe", "needs_oauth"]


class ToolFailure(Exception):
    """A tool call that failed for a reason the caller can read and act on."""


def needs_oauth(tool: str) -> ToolFailure:
    return ToolFailure(
        f"{tool} needs kimibridge's OAuth sign-in: Kimi's server-side tools do not accept a "
        "Kimi Code API key. Run `kimibridge login --oauth` (read docs/account-safety.md first), "
        "or switch this tool off in .kimibridge.toml."
    )


def describe(tool: str, exc: KimibridgeError) -> ToolFailure:
    """The failure for an error of the upstream client (``kimibridge.errors``)."""
    if isinstance(exc, NeedsLogin):
        return ToolFailure(f"{tool}: {exc} (with `--oauth`: these tools need the OAuth sign-in)")
    if isinstance(exc, AccessTerminated | QuotaExceeded):
        return ToolFailure(f"{tool}: {exc}")
    if isinstance(exc, UpstreamStatusError) and exc.status in (402, 403):
        return ToolFailure(
            f"{tool}: {exc}; the account's plan may not include this tool, or the account is "
            "not admitted to it (check `kimibridge status` and the Kimi Code console)"
        )
    if isinstance(exc, UpstreamTimeout):
        return ToolFailure(f"{tool}: {exc}; try again, or narrow the request")
    return ToolFailure(f"{tool}: {exc}")
