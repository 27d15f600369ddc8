"""Where Kimi lives: regions, hosts, the OAuth client id and the env names that override them.

One place for these facts (reference/kimi-cli-wire.md §1, §4, §7; DESIGN.md "Region"):

- mainland: OAuth ``https://auth.kimi.com``, API ``https://api.kimi.com/coding/v1``;
- global:   OAuth ``https://auth.kimi.ai``,  API ``https://api.kimi.ai/coding/v1``.

Env overrides win, as in kimi-cli: ``KIMI_CODE_OAUTH_HOST`` then ``KIMI_OAUTH_HOST`` for the
OAuth host, ``KIMI_CODE_BASE_URL`` for the API base. With both pointed at an emulator every
command talks to it; an overridden host that is not one of Kimi's counts as the region the user
chose (a token from one deployment means nothing to the other, so the region is checked before
a credential is sent anywhere: ``check_region``).

kimi-cli's own files (share dir, kimi-code home, device id, region marker) are in
``kimibridge.kimi.kimicli_files``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal, get_args
from urllib.parse import urlsplit

from kimibridge.errors import AuthError, ConfigError

__all__ = [
    "CLIENT_ID",
    "ENV_API_KEY",
    "ENV_BASE_URL",
    "ENV_CODE_HOME",
    "ENV_OAUTH_HOST",
    "ENV_OAUTH_HOST_LEGACY",
    "ENV_SHARE_DIR",
    "REGIONS",
    "Endpoints",
    "Region",
    "RegionMismatch",
    "RegionProfile",
    "check_region",
    "parse_region",
    "region_of_url",
    "resolve_endpoints",
]

Region = Literal["mainland", "global"]

# The OAuth client id both kimi-cli generations use; no scope is ever sent.
CLIENT_ID: Final = "17e5f671-d194-4dfb-9706-5516cb48c098"

ENV_OAUTH_HOST: Final = "KIMI_CODE_OAUTH_HOST"  # first choice, as in kimi-cli
ENV_OAUTH_HOST_LEGACY: Final = "KIMI_OAUTH_HOST"  # second choice
ENV_BASE_URL: Final = "KIMI_CODE_BASE_URL"
ENV_API_KEY: Final = "KIMI_API_KEY"
ENV_SHARE_DIR: Final = "KIMI_SHARE_DIR"  # legacy kimi-cli home (default ~/.kimi)
ENV_CODE_HOME: Final = "KIMI_CODE_HOME"  # new Kimi Code home (default ~/.kimi-code)


@dataclass(frozen=True, slots=True)
class RegionProfile:
    region: Region
    auth_host: str
    api_base: str
    label: str


REGIONS: Final[Mapping[Region, RegionProfile]] = {
    "mainland": RegionProfile(
        "mainland", "https://auth.kimi.com", "https://api.kimi.com/coding/v1", "mainland China"
    ),
    "global": RegionProfile(
        "global", "https://auth.kimi.ai", "https://api.kimi.ai/coding/v1", "global"
    ),
}

# Aliases accepted from users and from kimi-code's `<home>/region` marker.
_REGION_ALIASES: Final[Mapping[str, Region]] = {
    "mainland": "mainland",
    "mainland-cn": "mainland",
    "cn": "mainland",
    "china": "mainland",
    "global": "global",
    "intl": "global",
    "international": "global",
}


def parse_region(value: str) -> Region:
    """``mainland`` or ``global`` from a flag, config value or kimi-code's marker text."""
    region = _REGION_ALIASES.get(value.strip().lower())
    if region is None:
        choices = ", ".join(get_args(Region))
        raise ConfigError(f"unknown Kimi region {value.strip()!r}; choose one of: {choices}")
    return region


def _host_of(url: str) -> str:
    return (urlsplit(url.strip()).hostname or "").lower()


def region_of_url(url: str) -> Region | None:
    """The region whose OAuth or API host ``url`` points at; None for any other host."""
    host = _host_of(url)
    for profile in REGIONS.values():
        if host in (_host_of(profile.auth_host), _host_of(profile.api_base)):
            return profile.region
    return None


@dataclass(frozen=True, slots=True)
class Endpoints:
    """The hosts one command talks to, and the region they belong to."""

    region: Region
    auth_host: str  # no trailing slash
    api_base: str  # no trailing slash, e.g. https://api.kimi.com/coding/v1
    auth_host_from_env: bool = False
    api_base_from_env: bool = False

    @property
    def overridden(self) -> bool:
        return self.auth_host_from_env or self.api_base_from_env

    def oauth_url(self, path: str) -> str:
        return f"{self.auth_host}/{path.lstrip('/')}"

    def api_url(self, path: str) -> str:
        return f"{self.api_base}/{path.lstrip('/')}"


def _env(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name, "").strip()
    return value.rstrip("/") or None


def resolve_endpoints(
    region: Region | None = None,
    environ: Mapping[str, str] | None = None,
) -> Endpoints:
    """Hosts for ``region`` (default mainland), with kimi-cli's env overrides winning.

    The returned ``region`` is the one the hosts belong to: a Kimi host in an override decides
    it; an unknown host (an emulator, a proxy) takes the region the caller chose. Overrides that
    point the OAuth host and the API base at two different Kimi regions are refused.
    """
    env = os.environ if environ is None else environ
    chosen: Region = region or "mainland"
    auth_env = _env(env, ENV_OAUTH_HOST) or _env(env, ENV_OAUTH_HOST_LEGACY)
    base_env = _env(env, ENV_BASE_URL)
    auth_region = region_of_url(auth_env) if auth_env else None
    base_region = region_of_url(base_env) if base_env else None
    if auth_region and base_region and auth_region != base_region:
        raise ConfigError(
            f"{ENV_OAUTH_HOST} points at the {auth_region} region but {ENV_BASE_URL} at the "
            f"{base_region} region; point both at one region"
        )
    effective: Region = auth_region or base_region or chosen
    profile = REGIONS[effective]
    return Endpoints(
        region=effective,
        auth_host=auth_env or profile.auth_host,
        api_base=base_env or profile.api_base,
        auth_host_from_env=auth_env is not None,
        api_base_from_env=base_env is not None,
    )


class RegionMismatch(AuthError):
    """A credential from one Kimi deployment about to be sent to the other."""

    def __init__(self, credential_region: Region, endpoints: Endpoints) -> None:
        super().__init__(
            f"this login belongs to the {REGIONS[credential_region].label} region "
            f"({REGIONS[credential_region].auth_host}) but the configured hosts are in the "
            f"{REGIONS[endpoints.region].label} region ({endpoints.api_base}); "
            f"run `kimibridge login --region {endpoints.region}` or use "
            f"`--region {credential_region}`"
        )
        self.credential_region = credential_region
        self.endpoints_region = endpoints.region


def check_region(credential_region: str, endpoints: Endpoints) -> None:
    """Refuse to use a credential against the other region's hosts (``RegionMismatch``)."""
    region = parse_region(credential_region)
    if region != endpoints.region:
        raise RegionMismatch(region, endpoints)
