"""What kimibridge tells Kimi about who is calling: identity presets and their headers.

The user chooses (DESIGN.md "Identity and account safety"); nothing here picks a preset.

========== ============================================================ ======================
preset     User-Agent                                                    other headers
========== ============================================================ ======================
harness    the calling agent's own UA (``kimibridge/<ver>`` when none)   none
kimibridge ``kimibridge/<ver> (<agent product>)``                        none
kimi-cli   ``KimiCLI/<ver>`` on model and service routes;                six ``X-Msh-*`` on
           the HTTP client's default UA on /models and /usages           model, service routes
kimi-code  ``kimi-code-cli/<ver>`` on every route                        six ``X-Msh-*`` everywhere
custom     the configured one, else as ``harness``                       the configured ones
========== ============================================================ ======================

The ``kimi-cli`` and ``kimi-code`` columns follow reference/kimi-cli-wire.md §3 exactly: legacy
kimi-cli sends its identity on chat, search and fetch but only ``Authorization`` and aiohttp's
default ``User-Agent`` on ``/models`` and ``/usages``; the new CLI sends its identity on every
call. ``/me`` is called only by the new CLI, so it is a service route (full identity) for both. ``X-Msh-Tool-Call-Id`` goes out only with presets whose client sends it (the two CLIs, or
a custom set with ``X-Msh-*`` headers), so the honest presets carry no ``X-Msh-*`` at all.

The computations are pure functions of ``PlatformFacts`` (passed in, so tests can compute the
macOS and Windows variants); only ``PlatformFacts.detect`` and the device-id helpers touch the
machine.
"""

from __future__ import annotations

import enum
import os
import platform
import re
import socket
import sys
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from kimibridge.errors import ConfigError
from kimibridge.kimi.versions import Versions, resolve_versions

__all__ = [
    "PRESETS",
    "Identity",
    "IdentityDescription",
    "PlatformFacts",
    "PresetName",
    "PresetSpec",
    "RequestKind",
    "build_identity",
    "device_id_path",
    "kimi_cli_device_model",
    "kimi_cli_headers",
    "kimi_code_device_model",
    "kimi_code_headers",
    "load_or_create_device_id",
    "sanitize_kimi_cli_value",
    "sanitize_kimi_code_value",
]

PresetName = Literal["harness", "kimibridge", "kimi-cli", "kimi-code", "custom"]
DeviceIdStyle = Literal["kimi-cli", "kimi-code"]


class RequestKind(enum.StrEnum):
    """Routes that get the same identity treatment."""

    MODEL = "model"  # /chat/completions, /messages, /messages/count_tokens, /files
    ACCOUNT = "account"  # /models, /usages: legacy kimi-cli sends no identity there
    SERVICE = "service"  # /search, /fetch, /tools, /me: the CLIs send their full identity


# --------------------------------------------------------------------------- platform facts


@dataclass(frozen=True, slots=True)
class PlatformFacts:
    """The machine facts the CLIs put in headers, as Python's ``platform`` module reports them."""

    system: str  # platform.system(): "Linux", "Darwin", "Windows", ...
    release: str  # platform.release()
    version: str  # platform.version(): kernel build on Linux, "10.0.22631" on Windows
    machine: str  # platform.machine(): "x86_64", "arm64", "AMD64", ...
    node: str  # platform.node() or socket.gethostname()
    mac_version: str = ""  # platform.mac_ver()[0] (= sw_vers -productVersion)
    windows_build: int | None = None  # sys.getwindowsversion().build

    @classmethod
    def detect(cls) -> PlatformFacts:
        uname = platform.uname()
        build: int | None = None
        if sys.platform == "win32":  # pragma: no cover - exercised on Windows only
            build = sys.getwindowsversion().build
        return cls(
            system=uname.system,
            release=uname.release,
            version=uname.version,
            machine=uname.machine,
            node=uname.node or socket.gethostname(),
            mac_version=platform.mac_ver()[0] if uname.system == "Darwin" else "",
            windows_build=build,
        )


# --------------------------------------------------------------------------- sanitising

_NON_PRINTABLE_ASCII: Final = re.compile(r"[^\x20-\x7e]")
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f]")


def sanitize_kimi_cli_value(value: str, fallback: str = "unknown") -> str:
    """kimi-cli's rule: ASCII values are stripped; otherwise non-ASCII is dropped, then stripped,
    with ``fallback`` when nothing is left.

    Control characters are dropped too: kimi-cli could not send them either (no HTTP client
    accepts them in a header), so this only differs where kimi-cli would fail.
    """
    if value.isascii():
        return _CONTROL.sub("", value).strip()
    cleaned = _CONTROL.sub("", value.encode("ascii", "ignore").decode("ascii")).strip()
    return cleaned or fallback


def sanitize_kimi_code_value(value: str, fallback: str = "unknown") -> str:
    """Kimi Code's rule: drop everything outside U+0020-U+007E, trim, ``fallback`` if empty."""
    cleaned = _NON_PRINTABLE_ASCII.sub("", value).strip()
    return cleaned or fallback


# --------------------------------------------------------------------------- device model


def kimi_cli_device_model(facts: PlatformFacts) -> str:
    """``X-Msh-Device-Model`` as legacy kimi-cli computes it (kimi-cli-wire §3)."""
    arch = facts.machine
    if facts.system == "Darwin":
        return _joined("macOS", facts.mac_version or facts.release, arch)
    if facts.system == "Windows":
        release = facts.release
        if release == "10" and facts.windows_build is not None and facts.windows_build >= 22000:
            release = "11"
        return _joined("Windows", release, arch)
    if facts.system:
        return _joined(facts.system, facts.release, arch)
    return "Unknown"


def _joined(head: str, release: str, arch: str) -> str:
    return " ".join(part for part in (head, release, arch) if part)


# Node's os.arch() names for Python's platform.machine() values.
_NODE_ARCH: Final[Mapping[str, str]] = {
    "x86_64": "x64",
    "amd64": "x64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "i386": "ia32",
    "i686": "ia32",
    "x86": "ia32",
    "armv6l": "arm",
    "armv7l": "arm",
    "ppc64le": "ppc64",
    "ppc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loong64",
}
# Node's os.type() names for Python's platform.system() values.
_NODE_TYPE: Final[Mapping[str, str]] = {"Windows": "Windows_NT"}


def _node_arch(facts: PlatformFacts) -> str:
    return _NODE_ARCH.get(facts.machine.lower(), facts.machine)


def _node_release(facts: PlatformFacts) -> str:
    # Node's os.release() is the uname release, except on Windows where it is "10.0.<build>",
    # which Python reports as platform.version().
    return facts.version if facts.system == "Windows" else facts.release


def kimi_code_device_model(facts: PlatformFacts) -> str:
    """``X-Msh-Device-Model`` as Kimi Code (Node) computes it: Node arch names such as ``x64``."""
    arch = _node_arch(facts)
    release = _node_release(facts)
    if facts.system == "Darwin":
        return f"macOS {facts.mac_version or release} {arch}"
    if facts.system == "Windows":
        return f"Windows {release} {arch}"
    return f"{_NODE_TYPE.get(facts.system, facts.system)} {release} {arch}".strip()


# --------------------------------------------------------------------------- device id


def device_id_path(style: DeviceIdStyle, environ: Mapping[str, str]) -> Path:
    """``<KIMI_SHARE_DIR or ~/.kimi>/device_id`` (kimi-cli) or ``<KIMI_CODE_HOME or
    ~/.kimi-code>/device_id`` (kimi-code)."""
    from kimibridge.kimi.kimicli_files import kimicli_paths

    paths = kimicli_paths(environ)
    return paths.legacy_device_id if style == "kimi-cli" else paths.code_device_id


_NEW_DEVICE_ID: Final[Mapping[DeviceIdStyle, Callable[[], str]]] = {
    "kimi-cli": lambda: uuid.uuid4().hex,  # 32 lowercase hex
    "kimi-code": lambda: str(uuid.uuid4()),  # dashed UUID
}


def load_or_create_device_id(path: Path, style: DeviceIdStyle) -> str:
    """The device id in ``path``, created in that client's format when missing or empty.

    The file is the client's own, so both present one device: no newline, mode 0600. Creation
    is atomic and never overwrites an id a concurrent client wrote first (link, not rename).
    """
    existing = _read_device_id(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    new_id = _NEW_DEVICE_ID[style]()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(new_id)
        os.chmod(tmp, 0o600)
        if path.exists():  # present but empty: replace it
            os.replace(tmp, path)
            return new_id
        try:
            os.link(tmp, path)
        except FileExistsError:
            return _read_device_id(path) or new_id
        except OSError:  # no hard links on this filesystem: exclusive create instead
            return _create_exclusive(path, new_id)
        return new_id
    finally:
        tmp.unlink(missing_ok=True)


def _create_exclusive(path: Path, new_id: str) -> str:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_device_id(path) or new_id
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(new_id)
    return new_id


def _read_device_id(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------- the two CLIs


def kimi_cli_headers(versions: Versions, facts: PlatformFacts, device_id: str) -> dict[str, str]:
    """Legacy kimi-cli's chat headers: ``KimiCLI/<ver>`` and its six ``X-Msh-*`` headers."""
    msh = {
        "X-Msh-Platform": "kimi_cli",
        "X-Msh-Version": versions.kimi_cli,
        "X-Msh-Device-Name": facts.node,
        "X-Msh-Device-Model": kimi_cli_device_model(facts),
        "X-Msh-Os-Version": facts.version,
        "X-Msh-Device-Id": device_id,
    }
    headers = {"User-Agent": f"KimiCLI/{versions.kimi_cli}"}
    headers.update({name: sanitize_kimi_cli_value(value) for name, value in msh.items()})
    return headers


def kimi_code_headers(versions: Versions, facts: PlatformFacts, device_id: str) -> dict[str, str]:
    """Kimi Code 2.x headers: ``kimi-code-cli/<ver>`` and its six ``X-Msh-*`` headers."""
    return {
        "User-Agent": f"kimi-code-cli/{versions.kimi_code}",
        "X-Msh-Platform": "kimi_code_cli",
        "X-Msh-Version": sanitize_kimi_code_value(versions.kimi_code),
        "X-Msh-Device-Name": sanitize_kimi_code_value(facts.node),
        "X-Msh-Device-Model": sanitize_kimi_code_value(kimi_code_device_model(facts)),
        "X-Msh-Os-Version": sanitize_kimi_code_value(_node_release(facts)),
        "X-Msh-Device-Id": device_id,
    }


# --------------------------------------------------------------------------- presets


class _UserAgent(enum.Enum):
    FIXED = "fixed"  # the plan's headers carry it
    CALLER = "caller"  # the calling agent's, else kimibridge's own
    ATTRIBUTED = "attributed"  # kimibridge/<ver> (<agent product>)


@dataclass(frozen=True, slots=True)
class _Plan:
    """What one preset sends on one kind of route, besides Authorization."""

    headers: Mapping[str, str]
    user_agent: _UserAgent
    tool_call_id: bool


@dataclass(frozen=True, slots=True)
class _Inputs:
    versions: Versions
    facts: PlatformFacts
    device_id: str | None
    custom_headers: Mapping[str, str]


def _same_for_all(plan: _Plan) -> dict[RequestKind, _Plan]:
    return dict.fromkeys(RequestKind, plan)


def _harness_plans(_: _Inputs) -> dict[RequestKind, _Plan]:
    return _same_for_all(_Plan({}, _UserAgent.CALLER, tool_call_id=False))


def _kimibridge_plans(_: _Inputs) -> dict[RequestKind, _Plan]:
    return _same_for_all(_Plan({}, _UserAgent.ATTRIBUTED, tool_call_id=False))


def _kimi_cli_plans(inputs: _Inputs) -> dict[RequestKind, _Plan]:
    assert inputs.device_id is not None
    full = kimi_cli_headers(inputs.versions, inputs.facts, inputs.device_id)
    # /models and /usages: only Authorization and the HTTP client's default User-Agent. Imported
    # here: commands that never build this preset (or never talk HTTP) skip aiohttp's import.
    from aiohttp.http import SERVER_SOFTWARE as aiohttp_default_user_agent

    account = {"User-Agent": aiohttp_default_user_agent}
    return {
        RequestKind.MODEL: _Plan(full, _UserAgent.FIXED, tool_call_id=True),
        RequestKind.SERVICE: _Plan(full, _UserAgent.FIXED, tool_call_id=True),
        RequestKind.ACCOUNT: _Plan(account, _UserAgent.FIXED, tool_call_id=False),
    }


def _kimi_code_plans(inputs: _Inputs) -> dict[RequestKind, _Plan]:
    assert inputs.device_id is not None
    full = kimi_code_headers(inputs.versions, inputs.facts, inputs.device_id)
    return _same_for_all(_Plan(full, _UserAgent.FIXED, tool_call_id=True))


def _custom_plans(inputs: _Inputs) -> dict[RequestKind, _Plan]:
    headers = _checked_custom_headers(inputs.custom_headers)
    has_ua = any(name.lower() == "user-agent" for name in headers)
    msh = any(name.lower().startswith("x-msh-") for name in headers)
    rule = _UserAgent.FIXED if has_ua else _UserAgent.CALLER
    return _same_for_all(_Plan(headers, rule, tool_call_id=msh))


_RESERVED_HEADERS: Final = frozenset(
    {"authorization", "host", "content-length", "content-type", "transfer-encoding", "connection"}
)
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


# The setting and env var that hold the custom preset's headers; kimibridge.config owns both
# (repeated here so this module need not import the config layer; a unit test checks they agree).
CUSTOM_HEADERS_SETTING: Final = "identity.custom_headers"
CUSTOM_HEADERS_ENV: Final = "KIMIBRIDGE_CUSTOM_HEADERS"


def _checked_custom_headers(headers: Mapping[str, str]) -> dict[str, str]:
    if not headers:
        raise ConfigError(
            f"identity preset 'custom' needs headers: set [{CUSTOM_HEADERS_SETTING}] in the "
            f"config file, or {CUSTOM_HEADERS_ENV} ('Name: Value' lines)"
        )
    checked: dict[str, str] = {}
    for name, value in headers.items():
        if not _TOKEN_RE.fullmatch(name):
            raise ConfigError(f"custom identity header name {name!r} is not a valid header name")
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigError(f"custom identity header {name!r} is set by kimibridge itself")
        if _NON_PRINTABLE_ASCII.search(value):
            raise ConfigError(f"custom identity header {name!r} must be printable ASCII")
        checked[name] = value.strip()
    return checked


@dataclass(frozen=True, slots=True)
class PresetSpec:
    """One row of the preset table."""

    name: PresetName
    summary: str
    risk: str | None  # one sentence, shown by `status`; None for presets that forge nothing
    device_id: DeviceIdStyle | None  # whose device_id file the preset presents
    plans: Callable[[_Inputs], dict[RequestKind, _Plan]] = field(repr=False)


PRESETS: Final[Mapping[PresetName, PresetSpec]] = {
    spec.name: spec
    for spec in (
        PresetSpec(
            "harness",
            "forwards the calling agent's own User-Agent; no other identity headers",
            None,
            None,
            _harness_plans,
        ),
        PresetSpec(
            "kimibridge",
            "identifies as kimibridge, naming the calling agent in a comment",
            None,
            None,
            _kimibridge_plans,
        ),
        PresetSpec(
            "kimi-cli",
            "presents the legacy Kimi CLI's identity (KimiCLI User-Agent, X-Msh-* device headers)",
            "This sends Kimi CLI's own client identity from another program, which Kimi's rules "
            "forbid (an account has been terminated for it), so use it only on your own account "
            "and at your own risk.",
            "kimi-cli",
            _kimi_cli_plans,
        ),
        PresetSpec(
            "kimi-code",
            "presents the Kimi Code CLI's identity (kimi-code-cli User-Agent, X-Msh-* headers)",
            "This sends Kimi Code's own client identity from another program, which Kimi's rules "
            "forbid (an account has been terminated for it), so use it only on your own account "
            "and at your own risk.",
            "kimi-code",
            _kimi_code_plans,
        ),
        PresetSpec(
            "custom",
            f"sends the headers configured under [{CUSTOM_HEADERS_SETTING}]",
            None,
            None,
            _custom_plans,
        ),
    )
}


# --------------------------------------------------------------------------- Identity


@dataclass(frozen=True, slots=True)
class IdentityDescription:
    """What ``kimibridge status`` shows: every header per kind of route, token redacted."""

    preset: PresetName
    summary: str
    risky: bool
    risk: str | None
    forwards_caller_user_agent: bool
    headers: Mapping[RequestKind, Mapping[str, str]]

    def to_dict(self) -> dict[str, object]:
        return {
            "preset": self.preset,
            "summary": self.summary,
            "risky": self.risky,
            "risk": self.risk,
            "forwards_caller_user_agent": self.forwards_caller_user_agent,
            "headers": {kind.value: dict(h) for kind, h in self.headers.items()},
        }


class Identity:
    """The headers one preset adds to each upstream request (Authorization is not among them)."""

    __slots__ = ("_own_ua", "_plans", "_spec", "versions")

    def __init__(
        self, spec: PresetSpec, plans: Mapping[RequestKind, _Plan], versions: Versions
    ) -> None:
        self._spec = spec
        self._plans = dict(plans)
        self.versions = versions
        self._own_ua = f"kimibridge/{versions.kimibridge}"

    @property
    def preset(self) -> PresetName:
        return self._spec.name

    @property
    def risky(self) -> bool:
        return self._spec.risk is not None

    @property
    def risk(self) -> str | None:
        return self._spec.risk

    def __repr__(self) -> str:
        return f"Identity(preset={self.preset!r})"

    def headers(
        self,
        kind: RequestKind,
        *,
        caller_user_agent: str | None = None,
        tool_call_id: str | None = None,
    ) -> dict[str, str]:
        """A fresh header dict for one request of ``kind``."""
        plan = self._plans[kind]
        headers = dict(plan.headers)
        if plan.user_agent is _UserAgent.CALLER:
            headers["User-Agent"] = _clean_caller_ua(caller_user_agent) or self._own_ua
        elif plan.user_agent is _UserAgent.ATTRIBUTED:
            headers["User-Agent"] = self._attributed_ua(caller_user_agent)
        if tool_call_id and plan.tool_call_id:
            headers["X-Msh-Tool-Call-Id"] = sanitize_kimi_code_value(tool_call_id)
        return headers

    def _attributed_ua(self, caller_user_agent: str | None) -> str:
        caller = _clean_caller_ua(caller_user_agent)
        if not caller:
            return self._own_ua
        product = caller.split()[0].strip("()")
        return f"{self._own_ua} ({product})" if product else self._own_ua

    def describe(self, caller_user_agent: str | None = None) -> IdentityDescription:
        by_kind: dict[RequestKind, Mapping[str, str]] = {}
        for kind in RequestKind:
            headers = {"Authorization": "Bearer <redacted>"}
            headers.update(self.headers(kind, caller_user_agent=caller_user_agent))
            by_kind[kind] = headers
        return IdentityDescription(
            preset=self.preset,
            summary=self._spec.summary,
            risky=self.risky,
            risk=self.risk,
            forwards_caller_user_agent=any(
                p.user_agent is not _UserAgent.FIXED for p in self._plans.values()
            ),
            headers=by_kind,
        )


def _clean_caller_ua(value: str | None) -> str | None:
    if not value:
        return None
    if value.isascii() and value.isprintable():
        return value.strip() or None
    return _NON_PRINTABLE_ASCII.sub("", value).strip() or None


def build_identity(
    preset: str,
    *,
    versions: Versions | None = None,
    facts: PlatformFacts | None = None,
    device_id: str | None = None,
    custom_headers: Mapping[str, str] | None = None,
    environ: Mapping[str, str],
) -> Identity:
    """An ``Identity`` for ``preset`` (one of ``PRESETS``).

    For ``kimi-cli``/``kimi-code`` the device id is read from (or created in) that client's
    own ``device_id`` file, found through ``environ`` (``KIMI_SHARE_DIR``/``KIMI_CODE_HOME``),
    unless ``device_id`` is given. ``facts`` default to this machine's.
    """
    spec = _PRESETS_BY_TEXT.get(preset)
    if spec is None:
        raise ConfigError(
            f"unknown identity preset {preset!r}; choose one of: {', '.join(PRESETS)}"
        )
    resolved_versions = versions if versions is not None else resolve_versions(environ)
    if spec.device_id is not None and device_id is None:
        device_id = load_or_create_device_id(
            device_id_path(spec.device_id, environ), spec.device_id
        )
    if spec.device_id is not None and facts is None:
        facts = PlatformFacts.detect()
    inputs = _Inputs(
        versions=resolved_versions,
        facts=facts if facts is not None else _NO_FACTS,
        device_id=device_id,
        custom_headers=custom_headers or {},
    )
    return Identity(spec, spec.plans(inputs), resolved_versions)


_PRESETS_BY_TEXT: Final[Mapping[str, PresetSpec]] = {str(k): v for k, v in PRESETS.items()}
_NO_FACTS: Final = PlatformFacts(system="", release="", version="", machine="", node="")
