"""The steps of `kimibridge login`: read a key, check it, run the device flow, store, report."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import webbrowser
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import typer

from kimibridge.cli._account import AccountContext, endpoints_for, identity_for
from kimibridge.cli._output import console, error, warn
from kimibridge.cli._status_info import who_of
from kimibridge.config import update_config_file
from kimibridge.errors import AccessTerminated, KimibridgeError, UpstreamError
from kimibridge.kimi.auth import (
    CodeExpired,
    LoginSucceeded,
    OAuthClient,
    OAuthServerError,
    VerificationCode,
    Waiting,
    device_login,
)
from kimibridge.kimi.catalog import ModelCatalog, fetch_catalog
from kimibridge.kimi.credentials import SharedLogin, StoredLogin, detect_shared_logins
from kimibridge.kimi.endpoints import Endpoints, Region
from kimibridge.kimi.identity import PRESETS, Identity, RequestKind
from kimibridge.kimi.kimicli_files import TokenRecord, kimicli_paths
from kimibridge.kimi.sources import ApiKeyRejected, ApiKeyTokenSource, open_token_source
from kimibridge.kimi.tokens import TokenSource
from kimibridge.kimi.upstream import KimiUpstream

__all__ = [
    "key_preset",
    "login_with_api_key",
    "login_with_oauth",
    "pick_shared_login",
    "propose_kimi_cli_identity",
    "read_api_key",
]

EXIT_USAGE = 2


def _fail(message: str, code: int = 1) -> NoReturn:
    error(message)
    raise typer.Exit(code)


# -- the API key -------------------------------------------------------------------------------


def read_api_key(from_stdin: bool, env_key: str, interactive: bool) -> tuple[str, bool]:
    """``(key, came_from_env)``: stdin if asked, else ``KIMI_API_KEY``, else a hidden prompt."""
    if from_stdin:
        key = sys.stdin.readline().strip()
        if not key:
            _fail("no API key on standard input; nothing was stored", EXIT_USAGE)
        return key, False
    if env_key:
        return env_key, True
    if not interactive:
        _fail(
            "no API key: pipe it to `kimibridge login --api-key-stdin` or set KIMI_API_KEY",
            EXIT_USAGE,
        )
    key = typer.prompt(
        "Kimi Code API key (input hidden)", hide_input=True, default="", show_default=False
    ).strip()
    if not key:
        _fail("no API key entered; nothing was stored")
    return key, False


@dataclass(frozen=True, slots=True)
class _Probe:
    catalog: ModelCatalog
    me: Mapping[str, Any] | None


async def _probe(
    endpoints: Endpoints, source: TokenSource, identity: Identity, cache: Path
) -> _Probe:
    """``/models`` (must work; cached in ``cache``), then ``/me`` (shown when it works)."""
    async with KimiUpstream(endpoints.api_base, source, identity) as upstream:
        catalog = await fetch_catalog(upstream, cache=cache)
        me: Mapping[str, Any] | None = None
        try:
            me_body = (await upstream.me()).json()
        except AccessTerminated:
            raise
        except (UpstreamError, ValueError):
            me_body = None
        if isinstance(me_body, dict):
            me = me_body
    return _Probe(catalog, me)


def key_preset(ctx: AccountContext) -> str:
    """The preset for a key login: the current one unless it presents a Kimi client."""
    current = ctx.settings.identity.preset
    if not PRESETS[current].risk:
        return current
    console.print(
        f"Identity preset {current} is replaced by harness: an API key needs no Kimi client "
        "identity (choose with --identity).",
        highlight=False,
        soft_wrap=True,
    )
    return "harness"


def login_with_api_key(ctx: AccountContext, key: str, preset: str, *, from_env: bool) -> None:
    region = ctx.region
    endpoints = endpoints_for(ctx.settings, region)
    identity = identity_for(ctx.settings, ctx.environ, preset)
    source = ApiKeyTokenSource(key, region=region, endpoints=endpoints, from_env=from_env)
    url = endpoints.api_url("models")
    try:
        probe = asyncio.run(_probe(endpoints, source, identity, ctx.paths.catalog_file))
    except ApiKeyRejected:
        _fail(
            f"Kimi rejected this API key (HTTP 401 from {url}); nothing was stored. Check the "
            "key, or create one for coding agents in the Kimi Code console"
        )
    except KimibridgeError as exc:
        _fail(f"{exc}; the key was not stored")
    ctx.store.replace_login(StoredLogin.api_key_login(key, region))
    update_config_file(
        ctx.paths.config_file,
        {"sign_in": "api_key", "region": region, "sharing": None, "identity.preset": preset},
    )
    console.print(
        f"Signed in with a Kimi Code API key ({region} region, {endpoints.api_base}).",
        highlight=False,
        soft_wrap=True,
    )
    _report(ctx, probe, identity)


# -- OAuth -------------------------------------------------------------------------------------


def pick_shared_login(
    ctx: AccountContext, share: str | None, interactive: bool
) -> SharedLogin | None:
    """The kimi-cli / Kimi Code login to reuse, or None for a login of kimibridge's own."""
    if share == "own":
        return None
    found = detect_shared_logins(ctx.environ)
    if share is not None:
        match = next((s for s in found if s.sharing == share), None)
        if match is None:
            path = kimicli_paths(ctx.environ).credentials(
                "kimi-cli" if share == "kimi-cli" else "kimi-code"
            )
            _fail(f"no {share} login found at {path}; sign in there first, or use --share own")
        if not match.renewable:
            _fail(f"the {match.label} login at {match.path} cannot be renewed; sign in there again")
        return match
    usable = [s for s in found if s.renewable]
    if not usable:
        return None
    if not interactive:
        first = usable[0]
        console.print(
            f"Found {first.label}'s login at {first.path}; starting a login of kimibridge's own "
            f"(reuse theirs with --share {first.sharing}).",
            highlight=False,
            soft_wrap=True,
        )
        return None
    for candidate in usable:
        question = f"Reuse {candidate.label}'s existing login ({candidate.path}, {candidate.region} region)?"
        if typer.confirm(question, default=True):
            return candidate
    return None


def propose_kimi_cli_identity(ctx: AccountContext, interactive: bool) -> str:
    """The OAuth choice proposes the ``kimi-cli`` identity, says so, and lets the user decline."""
    spec = PRESETS["kimi-cli"]
    console.print(
        "Identity preset [bold]kimi-cli[/]: requests will carry KimiCLI/<version> and kimi-cli's "
        "X-Msh-* device headers, as Kimi's own CLI sends them. Choose another with --identity "
        "(e.g. kimibridge, harness) or later with `kimibridge config set identity.preset ...`.",
        highlight=False,
        soft_wrap=True,
    )
    if spec.risk:
        console.print(f"[yellow]Risk:[/] {spec.risk}", highlight=False, soft_wrap=True)
    if interactive and not typer.confirm("Use the kimi-cli identity preset?", default=True):
        return "kimibridge"
    return "kimi-cli"


def _can_open_browser(environ: Mapping[str, str]) -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(environ.get("DISPLAY") or environ.get("WAYLAND_DISPLAY"))


async def _device_flow(client: OAuthClient, *, browser: bool, limit_s: float) -> TokenRecord:
    with console.status("Waiting for you to approve the sign-in in the browser...") as status:
        async for event in device_login(client, time_limit=limit_s):
            if isinstance(event, VerificationCode):
                if event.restarted:
                    console.print("That code expired; here is a new one.")
                console.print(
                    f"Open [bold]{event.verification_uri_complete}[/]\n"
                    f"and confirm the code [bold cyan]{event.user_code}[/].",
                    highlight=False,
                    soft_wrap=True,
                )
                if browser:
                    with contextlib.suppress(webbrowser.Error):
                        webbrowser.open(event.verification_uri_complete, new=2)
            elif isinstance(event, Waiting):
                slow = " (Kimi asked to poll more slowly)" if event.slowed_down else ""
                status.update(
                    f"Waiting for you to approve the sign-in... {int(event.elapsed)} s{slow}"
                )
            elif isinstance(event, CodeExpired):
                status.update("The code expired; asking for a new one...")
            elif isinstance(event, LoginSucceeded):
                return event.token
    raise OAuthServerError("the sign-in ended without a token")


def login_with_oauth(
    ctx: AccountContext,
    shared: SharedLogin | None,
    preset: str,
    *,
    browser: bool,
    timeout: float,
) -> None:
    identity = identity_for(ctx.settings, ctx.environ, preset)
    oauth_headers = identity.headers(RequestKind.ACCOUNT)
    if shared is not None:
        region: Region = shared.region
        if ctx.settings.sources()["region"].kind == "flag" and ctx.settings.region != region:
            _fail(
                f"{shared.label}'s login belongs to the {region} region, not "
                f"{ctx.settings.region}; drop --region or use --share own"
            )
        login = shared.to_login()
    else:
        region = ctx.region
        endpoints = endpoints_for(ctx.settings, region)
        client = OAuthClient(endpoints, headers=oauth_headers)
        try:
            token = asyncio.run(
                _device_flow(
                    client, browser=browser and _can_open_browser(ctx.environ), limit_s=timeout
                )
            )
        except KeyboardInterrupt:
            _fail("sign-in cancelled; nothing was stored", 130)
        login = StoredLogin.own_oauth(token, region)
    endpoints = endpoints_for(ctx.settings, region)
    ctx.store.replace_login(login)
    update_config_file(
        ctx.paths.config_file,
        {
            "sign_in": "oauth",
            "region": region,
            "sharing": login.sharing,
            "identity.preset": preset,
        },
    )
    where = f"sharing {shared.label}'s login at {shared.path}" if shared else "a login of its own"
    console.print(
        f"Signed in with Kimi's OAuth login ({region} region, {where}); identity preset "
        f"{preset} stored in {ctx.paths.config_file}.",
        highlight=False,
        soft_wrap=True,
    )
    source = open_token_source(login, ctx.store, endpoints, headers=oauth_headers)
    try:
        probe = asyncio.run(_probe(endpoints, source, identity, ctx.paths.catalog_file))
    except AccessTerminated as exc:
        _fail(str(exc))
    except KimibridgeError as exc:
        warn(f"signed in, but the account check failed: {exc}")
        return
    _report(ctx, probe, identity)


# -- after sign-in -----------------------------------------------------------------------------


def _report(ctx: AccountContext, probe: _Probe, identity: Identity) -> None:
    who = who_of(probe.me)
    if who:
        console.print(f"Account: {who}", highlight=False, soft_wrap=True)
    ids = probe.catalog.ids
    console.print(
        f"Models: {', '.join(ids) if ids else 'none listed'}", highlight=False, soft_wrap=True
    )
    flag = " [yellow](RISK: see `kimibridge status`)[/]" if identity.risky else ""
    console.print(f"Identity preset: {identity.preset}{flag}", highlight=False, soft_wrap=True)
    console.print(f"Credential: {ctx.store.path} (0600). Check any time with `kimibridge status`.")
