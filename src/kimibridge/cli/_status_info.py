"""What `kimibridge status` reports, gathered into one JSON-able dict (no printing here)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kimibridge.cli._account import AccountContext
from kimibridge.errors import (
    NeedsLogin,
    UpstreamConnectError,
    UpstreamStatusError,
    UpstreamTimeout,
)
from kimibridge.kimi.catalog import KimiModel, ModelCatalog, fetch_catalog, load_catalog
from kimibridge.kimi.credentials import StoredLogin, open_slot
from kimibridge.kimi.endpoints import ENV_API_KEY, Endpoints, check_region
from kimibridge.kimi.identity import Identity, RequestKind
from kimibridge.kimi.sources import ApiKeyTokenSource, open_token_source
from kimibridge.kimi.tokens import TokenSource
from kimibridge.kimi.upstream import KimiUpstream

__all__ = ["gather_status", "who_of"]


def who_of(me: Mapping[str, Any] | None) -> str | None:
    """A readable name for ``/me``'s answer (its fields are not documented; best effort)."""
    if not me:
        return None
    user = me.get("user")
    fields: Mapping[str, Any] = user if isinstance(user, Mapping) else me
    name = next(
        (
            str(fields[k])
            for k in ("name", "nickname", "display_name", "user_id", "id")
            if isinstance(fields.get(k), str | int) and str(fields[k])
        ),
        None,
    )
    email = fields.get("email")
    if name and isinstance(email, str) and email and email != name:
        return f"{name} <{email}>"
    return name or (email if isinstance(email, str) else None)


def _model_row(model: KimiModel) -> dict[str, Any]:
    return {
        "id": model.id,
        "display_name": model.display_name,
        "context_length": model.context_length,
        "thinking": model.supports_thinking_type,
        "efforts": list(model.efforts),
        "protocol": model.protocol,
    }


def _token_source_info(ctx: AccountContext, login: StoredLogin | None) -> dict[str, Any]:
    if ctx.environ.get(ENV_API_KEY, "").strip():
        return {"kind": "env", "variable": ENV_API_KEY, "path": None}
    assert login is not None
    if login.method == "api_key" or login.sharing == "own":
        return {"kind": "own", "path": str(ctx.store.path)}
    return {"kind": login.sharing, "path": str(login.shared_path)}


def _expiry(ctx: AccountContext, login: StoredLogin | None) -> dict[str, Any]:
    if ctx.environ.get(ENV_API_KEY, "").strip() or login is None or login.method == "api_key":
        return {"expires_at": None, "expires_in_s": None, "expired": False}
    record = open_slot(login, ctx.store).read()
    if record is None or not record.expires_at:
        return {"expires_at": None, "expires_in_s": None, "expired": record is None}
    left = record.expires_at - time.time()
    return {"expires_at": record.expires_at, "expires_in_s": int(left), "expired": left <= 0}


def _tools_info(ctx: AccountContext, method: str) -> dict[str, Any]:
    """What `kimibridge mcp` would serve in this directory, and whether calls can work."""
    from kimibridge.tools.enabled import merged_tools
    from kimibridge.tools.spec import TOOL_NAMES

    tools, project_file = merged_tools(ctx.settings, Path.cwd())
    return {
        "enabled": [n for n in TOOL_NAMES if getattr(tools, n).enabled],
        "project_file": str(project_file) if project_file else None,
        "usable": method == "oauth",  # Kimi's tools take the OAuth sign-in only
    }


async def _online(
    endpoints: Endpoints, source: TokenSource, identity: Identity, cache: Path
) -> tuple[ModelCatalog, Any, Any]:
    """``/models`` (cached), ``/me`` and ``/usages``; stops at the first error."""
    async with KimiUpstream(endpoints.api_base, source, identity) as upstream:
        catalog = await fetch_catalog(upstream, cache=cache)
        me = await _optional_json(upstream.me())
        usage = await _optional_json(upstream.usages())
    return catalog, me, usage


async def _optional_json(call: Any) -> Any:
    """The JSON of a route Kimi may not offer everywhere: a 404 means "not available"."""
    try:
        reply = await call
    except UpstreamStatusError as exc:
        if exc.status == 404:
            return None
        raise
    try:
        return reply.json()
    except ValueError:
        return None


def gather_status(ctx: AccountContext, *, offline: bool) -> dict[str, Any]:
    """Everything `status` shows. Raises ``NeedsLogin`` when not signed in, and the upstream's
    typed errors (``AccessTerminated``, ``UpstreamConnectError`` naming the URL, ...)."""
    login = ctx.login
    env_key = ctx.environ.get(ENV_API_KEY, "").strip()
    if login is None and not env_key:
        raise NeedsLogin("not signed in")
    region = ctx.region
    endpoints = ctx.endpoints
    check_region(login.region if login is not None and not env_key else region, endpoints)
    identity = ctx.identity()
    description = identity.describe()
    method = "api_key" if env_key or (login is not None and login.method == "api_key") else "oauth"
    info: dict[str, Any] = {
        "signed_in": True,
        "method": method,
        "region": endpoints.region,
        "api_base": endpoints.api_base,
        "auth_host": endpoints.auth_host,
        "token_source": _token_source_info(ctx, login),
        "sharing": "own" if env_key or login is None else login.sharing,
        **_expiry(ctx, login),
        "identity": {k: v for k, v in description.to_dict().items() if k != "risky"},
        "risk": description.risky,
        "config_file": str(ctx.paths.config_file),
        "offline": offline,
        "me": None,
        "who": None,
        "models": [],
        "usage": None,
        "tools": _tools_info(ctx, method),
    }
    if offline:
        cached = load_catalog(ctx.paths.catalog_file, base_url=endpoints.api_base)
        info["models"] = [_model_row(m) for m in cached.models] if cached else []
        return info

    source: TokenSource
    headers = identity.headers(RequestKind.ACCOUNT)
    if env_key:
        source = ApiKeyTokenSource(env_key, region=region, endpoints=endpoints, from_env=True)
    else:
        assert login is not None
        source = open_token_source(login, ctx.store, endpoints, headers=headers)
    try:
        catalog, me, usage = asyncio.run(
            _online(endpoints, source, identity, ctx.paths.catalog_file)
        )
    except (UpstreamConnectError, UpstreamTimeout) as exc:
        raise type(exc)(f"cannot reach Kimi at {endpoints.api_base}: {exc}") from exc
    info["models"] = [_model_row(m) for m in catalog.models]
    info["me"] = me if isinstance(me, dict) else None
    info["who"] = who_of(info["me"])
    info["usage"] = usage if isinstance(usage, dict) else None
    info.update(_expiry(ctx, login))  # a refresh may have happened
    return info
