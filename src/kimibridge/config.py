"""Where kimibridge keeps its files, and its settings.

Precedence is implemented here once: defaults < config file < environment < flags.
Other modules receive paths and settings from here and never read ``os.environ`` themselves.

    settings = Settings.load(paths, environ=os.environ, flags={"region": region_or_UNSET})
    settings.identity.preset          # the value
    settings.sources()["region"]      # where it came from: Source(kind="flag", name="--region")

A flag that was not given is ``UNSET`` (not ``None``: ``None`` could be a real value).
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import tomlkit
import tomlkit.exceptions
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from kimibridge._fs import atomic_write
from kimibridge.errors import ConfigError

__all__ = [
    "ENV_CUSTOM_HEADERS",
    "ENV_HOME",
    "ENV_VARS",
    "KEYS",
    "UNSET",
    "GatewaySettings",
    "IdentitySettings",
    "Paths",
    "Preset",
    "Region",
    "Settings",
    "Sharing",
    "SignIn",
    "Source",
    "TeamSettings",
    "ToolSettings",
    "ToolsSettings",
    "UnsetType",
    "parse_value",
    "update_config_file",
]

# Points every kimibridge file (config, credentials, ledger, team store) at one directory.
# Tests set it to a temporary directory; users may set it to keep profiles apart.
ENV_HOME = "KIMIBRIDGE_HOME"


@dataclass(frozen=True, slots=True)
class Paths:
    """Every file kimibridge owns, derived from two roots."""

    config_dir: Path
    state_dir: Path

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Paths:
        env = os.environ if environ is None else environ
        home = env.get(ENV_HOME)
        if home:
            root = Path(home).expanduser()
            return cls(config_dir=root, state_dir=root / "state")
        import platformdirs

        return cls(
            config_dir=Path(platformdirs.user_config_dir("kimibridge", appauthor=False)),
            state_dir=Path(platformdirs.user_state_dir("kimibridge", appauthor=False)),
        )

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def credentials_file(self) -> Path:
        return self.config_dir / "credentials.json"

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def catalog_file(self) -> Path:
        """The cached ``/models`` catalog (``kimi.catalog``), written at login and by `status`."""
        return self.state_dir / "models.json"


# ---------------------------------------------------------------------------------------------
# The sentinel


class UnsetType(enum.Enum):
    """``UNSET``: a flag that was not given (distinct from ``None``, an explicit value)."""

    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET = UnsetType.UNSET

# ---------------------------------------------------------------------------------------------
# The settings

Region = Literal["mainland", "global"]
SignIn = Literal["api_key", "oauth"]
Preset = Literal["harness", "kimibridge", "kimi-cli", "kimi-code", "custom"]
Sharing = Literal["own", "kimi-cli", "kimi-code"]


@dataclass(frozen=True, slots=True)
class Source:
    """Where a value came from: ``default``, ``file`` (name = path), ``env`` (name = variable)
    or ``flag`` (name = the flag)."""

    kind: Literal["default", "file", "env", "flag"]
    name: str

    def __str__(self) -> str:
        return self.kind if self.kind == "default" else f"{self.kind} {self.name}"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class IdentitySettings(_Model):
    """What kimibridge says it is upstream (see docs/account-safety.md)."""

    preset: Preset = "harness"
    # Extra headers sent on every upstream request; with preset ``custom`` they are the identity.
    custom_headers: dict[str, str] = Field(default_factory=dict)
    # Overrides of the pinned client versions (kimi.versions), e.g. {"kimi-cli": "1.51.0"}.
    versions: dict[Literal["kimi-cli", "kimi-code"], str] = Field(default_factory=dict)


class GatewaySettings(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=8765, ge=1, le=65535)


class ToolSettings(_Model):
    enabled: bool = True


class ToolsSettings(_Model):
    """Kimi's server-side tools served by ``kimibridge mcp`` (all on by default).

    A project's ``.kimibridge.toml`` may override these (and only these): see ``kimibridge.tools``.
    """

    moonshot_search: ToolSettings = Field(default_factory=ToolSettings)
    moonshot_fetch: ToolSettings = Field(default_factory=ToolSettings)
    kimi_datasource: ToolSettings = Field(default_factory=ToolSettings)


class TeamSettings(_Model):
    """``kimibridge team``: agents working together (see docs/team.md)."""

    # Seconds a handoff may take (worker start + its turn); every other team timer derives from
    # it (kimibridge.team.timeouts), so no layer gives up before another.
    handoff_timeout: float = Field(default=600.0, gt=0, allow_inf_nan=False)


class Settings(_Model):
    """Every setting of kimibridge, resolved from defaults < file < environment < flags."""

    region: Region = "mainland"
    # How the stored credential was obtained; written by `kimibridge login`, shown by `status`.
    sign_in: SignIn | None = None
    sharing: Sharing = "own"
    # Endpoint overrides (None: the region's default host, see kimi.endpoints).
    api_base_url: str | None = None
    oauth_host: str | None = None
    identity: IdentitySettings = Field(default_factory=IdentitySettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    tools: ToolsSettings = Field(default_factory=ToolsSettings)
    team: TeamSettings = Field(default_factory=TeamSettings)

    _sources: dict[str, Source] = PrivateAttr(default_factory=dict)

    @classmethod
    def load(
        cls,
        paths: Paths,
        *,
        environ: Mapping[str, str] | None = None,
        flags: Mapping[str, object] | None = None,
    ) -> Settings:
        """Resolve every key: defaults < ``paths.config_file`` < ``environ`` < ``flags``.

        ``flags`` maps dotted keys (``"identity.preset"``) to values; ``UNSET`` values are
        ignored. Raises ``ConfigError`` naming the file, variable or flag at fault.
        """
        env = {} if environ is None else environ
        values: dict[str, object] = {}
        sources: dict[str, Source] = {key: Source("default", "") for key in KEYS}

        path = paths.config_file
        for key, value in _read_file(path).items():
            values[key] = value
            sources[key] = Source("file", str(path))

        for key, spec in _SPECS.items():
            for var in spec.env:
                raw = env.get(var)
                if raw is None or raw == "":
                    continue
                values[key] = _cast(spec, raw, f"environment variable {var}")
                sources[key] = Source("env", var)
                break

        for key, value in (flags or {}).items():
            if value is UNSET:
                continue
            if key not in _SPECS:
                raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(KEYS)}")
            spec = _SPECS[key]
            flag = spec.flag or key
            values[key] = _cast(spec, value, f"flag {flag}") if isinstance(value, str) else value
            sources[key] = Source("flag", flag)

        settings = _validate(values, "settings")
        settings._sources = sources
        return settings

    def get(self, key: str) -> object:
        """The value of a dotted key, e.g. ``settings.get("gateway.port")``."""
        if key not in _SPECS:
            raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(KEYS)}")
        node: object = self
        for part in key.split("."):
            node = getattr(node, part.replace("-", "_"))
        return node

    def sources(self) -> dict[str, Source]:
        """Where each dotted key's value came from."""
        return {key: self._sources.get(key, Source("default", "")) for key in KEYS}

    def items(self) -> Iterator[tuple[str, object, Source]]:
        sources = self.sources()
        for key in KEYS:
            yield key, self.get(key), sources[key]


# ---------------------------------------------------------------------------------------------
# One row per key: its environment variables and flag, and how a string becomes its value.


@dataclass(frozen=True, slots=True)
class _Spec:
    cast: Callable[[str], object]
    expected: str
    env: tuple[str, ...] = ()
    flag: str | None = None


def _choice(*options: str) -> Callable[[str], object]:
    def cast(raw: str) -> object:
        value = raw.strip()
        if value not in options:
            raise ValueError
        return value

    return cast


def _int(raw: str) -> object:
    text = raw.strip()
    if not text.isdigit():
        raise ValueError
    return int(text)


def _seconds(raw: str) -> object:
    """A duration in seconds, > 0: ``900`` or ``90.5`` (an int stays an int in the file)."""
    text = raw.strip()
    value: float = int(text) if text.isdigit() else float(text)
    if not 0 < value < float("inf"):
        raise ValueError
    return value


def _bool(raw: str) -> object:
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise ValueError


def _text(raw: str) -> object:
    value = raw.strip()
    if not value:
        raise ValueError
    return value


def _url(raw: str) -> object:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) <= len("https://"):
        raise ValueError
    return value


def _headers(raw: str) -> object:
    """``Name: Value`` lines (as kimi-code's ``KIMI_CODE_CUSTOM_HEADERS``)."""
    headers: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip() or " " in name.strip():
            raise ValueError
        headers[name.strip()] = value.strip()
    return headers


def _pairs(raw: str) -> object:
    """``name=value`` pairs separated by commas, e.g. ``kimi-cli=1.51.0,kimi-code=2.1.0``."""
    pairs: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise ValueError
        pairs[name.strip()] = value.strip()
    return pairs


ENV_CUSTOM_HEADERS = "KIMIBRIDGE_CUSTOM_HEADERS"
# kimi.endpoints owns these names; repeated here (and checked equal by a unit test) because
# importing the kimi package would make every `import kimibridge.config` pay for aiohttp.
ENV_BASE_URL = "KIMI_CODE_BASE_URL"
ENV_OAUTH_HOST = "KIMI_CODE_OAUTH_HOST"
ENV_OAUTH_HOST_LEGACY = "KIMI_OAUTH_HOST"

# The env names for the endpoint overrides are kimi-cli's own (reference/kimi-cli-wire.md §1, §4),
# so one `export` points kimi-cli and kimibridge at the same place.
_SPECS: dict[str, _Spec] = {
    "region": _Spec(
        _choice(*get_args(Region)), "mainland or global", ("KIMIBRIDGE_REGION",), "--region"
    ),
    "sign_in": _Spec(_choice(*get_args(SignIn)), "api_key or oauth"),
    "sharing": _Spec(
        _choice(*get_args(Sharing)),
        "own, kimi-cli or kimi-code",
        ("KIMIBRIDGE_SHARING",),
        "--share",
    ),
    "api_base_url": _Spec(_url, "an http(s) URL", (ENV_BASE_URL,), "--api-base-url"),
    "oauth_host": _Spec(
        _url, "an http(s) URL", (ENV_OAUTH_HOST, ENV_OAUTH_HOST_LEGACY), "--oauth-host"
    ),
    "identity.preset": _Spec(
        _choice(*get_args(Preset)),
        "harness, kimibridge, kimi-cli, kimi-code or custom",
        ("KIMIBRIDGE_IDENTITY",),
        "--identity",
    ),
    "identity.custom_headers": _Spec(
        _headers, "lines of 'Name: Value'", (ENV_CUSTOM_HEADERS,), "--header"
    ),
    # Per-version env overrides (KIMIBRIDGE_KIMI_CLI_VERSION, ...) are read by kimi.versions,
    # the one place for those names; the file and flags set them here.
    "identity.versions": _Spec(_pairs, "comma-separated name=version pairs"),
    "gateway.host": _Spec(_text, "a host name or address", ("KIMIBRIDGE_HOST",), "--host"),
    "gateway.port": _Spec(_int, "a port number (1-65535)", ("KIMIBRIDGE_PORT",), "--port"),
    # One key per Kimi tool of `kimibridge mcp` (names as in kimibridge.tools.spec).
    **{
        f"tools.{name}.enabled": _Spec(_bool, "true or false")
        for name in ("moonshot_search", "moonshot_fetch", "kimi_datasource")
    },
    "team.handoff_timeout": _Spec(
        _seconds, "a number of seconds > 0", ("KIMIBRIDGE_HANDOFF_TIMEOUT",)
    ),
}

KEYS: tuple[str, ...] = tuple(_SPECS)
# Every environment variable Settings reads, for docs and `config show`.
ENV_VARS: dict[str, tuple[str, ...]] = {key: spec.env for key, spec in _SPECS.items() if spec.env}


def parse_value(key: str, raw: str) -> object:
    """Cast ``raw`` for ``key`` as an environment value would be (``kimibridge config set``)."""
    if key not in _SPECS:
        raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(KEYS)}")
    return _cast(_SPECS[key], raw, key)


def _cast(spec: _Spec, raw: str, where: str) -> object:
    try:
        return spec.cast(raw)
    except ValueError:
        raise ConfigError(f"{where} is {raw!r}; expected {spec.expected}") from None


def _nest(flat: Mapping[str, object]) -> dict[str, Any]:
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = nested
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return nested


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, object]:
    flat: dict[str, object] = {}
    for name, value in data.items():
        key = f"{prefix}{name}"
        if isinstance(value, Mapping) and key not in _SPECS:
            flat.update(_flatten(value, f"{key}."))
        else:
            flat[key] = value
    return flat


def _validate(flat: Mapping[str, object], where: str) -> Settings:
    try:
        return Settings.model_validate(_nest(flat))
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"])
        spec = _SPECS.get(key)
        if first["type"] == "extra_forbidden":
            raise ConfigError(
                f"{where}: unknown setting {key!r}; known settings: {', '.join(KEYS)}"
            ) from None
        expected = spec.expected if spec else first["msg"]
        got = first.get("input")
        raise ConfigError(f"{where}: {key} is {got!r}; expected {expected}") from None


def _read_file(path: Path) -> dict[str, object]:
    """The config file's keys, flattened and validated; empty when there is no file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        data = tomlkit.parse(text).unwrap()
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    flat = _flatten(data)
    _validate(flat, f"config file {path}")
    return flat


def update_config_file(path: Path, changes: Mapping[str, object]) -> None:
    """Set (or, with ``None``, remove) dotted keys in the config file, keeping its comments.

    The result is validated before it replaces the file atomically (mode 0600).
    """
    for key in changes:
        if key not in _SPECS:
            raise ConfigError(f"unknown setting {key!r}; known settings: {', '.join(KEYS)}")
    try:
        doc = (
            tomlkit.parse(path.read_text(encoding="utf-8")) if path.exists() else tomlkit.document()
        )
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        table: Any = doc
        for parent in parents:
            if parent not in table:
                if value is None:
                    break
                table[parent] = tomlkit.table()
            table = table[parent]
        else:
            if value is None:
                if leaf in table:
                    del table[leaf]
            else:
                table[leaf] = value
    text = tomlkit.dumps(doc)
    _validate(_flatten(tomlkit.parse(text).unwrap()), f"config file {path}")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write(path, text)
