"""kimi-cli (PyPI ``kimi-cli``) pointed at the gateway: its config text and how to start it.

Pure parts other modules build on (the team orchestrator launches one kimi-cli per agent):

- ``kimi_config_toml(base_url=…, api_key=…, model=…)``: a whole ``config.toml`` with one
  ``type = "kimi"`` provider whose ``base_url`` is the gateway's OpenAI base, telemetry off.
- ``kimi_command(environ)``: the argv prefix that runs the real CLI. kimi-cli 1.51/1.52 ship a
  deprecation stub as the ``kimi`` console script (no arguments: ``curl … | bash`` of the Kimi Code
  installer; any other arguments: a notice, nothing done), while the real Typer CLI still works as
  ``python -m kimi_cli.cli`` (reference/real-clients.md §4). So the stub is detected and the module
  is run with the Python that holds it; an older, working ``kimi`` is run as is.

``run kimi --tools`` adds the kimibridge MCP server with kimi-cli's ``--mcp-config <json>`` (for
that run only; kimi-cli still loads the user's ``<share>/mcp.json`` as well).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import tomlkit

from kimibridge._fs import atomic_write
from kimibridge.harness.contract import Context, HarnessMissing, Launch
from kimibridge.harness.kimi_models import harness_models, pick_model
from kimibridge.harness.patches import ConfigPatch
from kimibridge.harness.tool_registration import kimi_entry
from kimibridge.kimi.model_map import DEFAULT_SPECS, ModelSpec
from kimibridge.tools.spec import SERVER_NAME

__all__ = [
    "ENV_KIMI_PYTHON",
    "HARNESS",
    "INSTALL_HINT",
    "KIMI_ENV",
    "OVERRIDE_VARS",
    "PROVIDER",
    "KimiCliMissing",
    "KimiHarness",
    "KimiInstall",
    "find_kimi_cli",
    "kimi_command",
    "kimi_config",
    "kimi_config_toml",
    "kimi_setup_patches",
    "launch_env",
    "mcp_config_args",
    "model_capabilities",
    "openai_base",
    "prepare_run",
    "user_config_file",
]

PROVIDER: Final = "kimibridge"
# A Python that has kimi_cli installed; wins over the `kimi` found on PATH.
ENV_KIMI_PYTHON: Final = "KIMIBRIDGE_KIMI_PYTHON"
INSTALL_HINT: Final = "uv tool install --python 3.13 kimi-cli"
# Set for every kimi-cli kimibridge starts: no cdn.kimi.com update check, and no "install Kimi
# Code" gate (whose Enter key downloads an installer) in the TUI.
KIMI_ENV: Final[Mapping[str, str]] = {"KIMI_CLI_NO_AUTO_UPDATE": "1"}
# kimi-cli lets these override a `type = "kimi"` provider (llm.py); a user's real Kimi key or base
# URL in the environment would bypass the gateway, so launches drop them.
OVERRIDE_VARS: Final = ("KIMI_BASE_URL", "KIMI_API_KEY", "KIMI_MODEL_NAME")
# Where `uv tool install` and `pipx install` put kimi-cli's interpreter, relative to HOME.
_TOOL_PYTHONS: Final = (
    ".local/share/uv/tools/kimi-cli/bin/python",
    ".local/pipx/venvs/kimi-cli/bin/python",
)


class KimiCliMissing(HarnessMissing):
    """No usable kimi-cli: the message carries the install command."""


def openai_base(url: str) -> str:
    """The gateway's OpenAI base (``…/v1``) from its root URL or from that base itself."""
    base = url.rstrip("/")
    return base if base.endswith("/v1") else base + "/v1"


def model_capabilities(spec: ModelSpec) -> list[str]:
    """kimi-cli's ``capabilities`` for a Kimi model (``thinking``, ``always_thinking``)."""
    if spec.supports_thinking_type == "only":
        return ["always_thinking", "thinking"]
    if spec.supports_thinking_type == "both":
        return ["thinking"]
    return []


def kimi_config(
    *,
    base_url: str,
    api_key: str,
    model: str,
    mcp_tool_timeout_ms: int | None = None,
    spec: ModelSpec | None = None,
) -> dict[str, Any]:
    """The config as data (what ``kimi_config_toml`` writes); see there."""
    facts = spec or DEFAULT_SPECS.get(model) or ModelSpec(model)
    entry: dict[str, Any] = {
        "provider": PROVIDER,
        "model": model,
        "max_context_size": facts.context_length,
    }
    capabilities = model_capabilities(facts)
    if capabilities:
        entry["capabilities"] = capabilities
    config: dict[str, Any] = {
        "default_model": model,
        "telemetry": False,
        "providers": {
            PROVIDER: {"type": "kimi", "base_url": openai_base(base_url), "api_key": api_key}
        },
        "models": {model: entry},
    }
    if mcp_tool_timeout_ms is not None:
        config["mcp"] = {"client": {"tool_call_timeout_ms": int(mcp_tool_timeout_ms)}}
    return config


def kimi_config_toml(
    *,
    base_url: str,
    api_key: str,
    model: str,
    mcp_tool_timeout_ms: int | None = None,
    spec: ModelSpec | None = None,
) -> str:
    """A whole kimi-cli ``config.toml`` that sends every request through the gateway.

    ``base_url`` is the gateway (``http://127.0.0.1:8765``) or its OpenAI base (``…/v1``);
    kimi-cli posts to ``{base}/chat/completions``. ``api_key`` is a gateway local key (the file
    holds it: write it 0600). ``model`` is a Kimi model id; its context size and thinking
    capabilities come from ``spec`` or the built-in catalog defaults. ``mcp_tool_timeout_ms`` sets
    ``[mcp.client] tool_call_timeout_ms`` (kimi-cli's default is 60000).
    """
    config = kimi_config(
        base_url=base_url,
        api_key=api_key,
        model=model,
        mcp_tool_timeout_ms=mcp_tool_timeout_ms,
        spec=spec,
    )
    doc = tomlkit.document()
    doc.add(tomlkit.comment("Written by kimibridge: kimi-cli through the kimibridge gateway."))
    doc.add(tomlkit.comment("Regenerated on every launch; edits here are lost."))
    for key, value in config.items():
        doc[key] = value
    return tomlkit.dumps(doc)


# ---------------------------------------------------------------------------------- finding it


@dataclass(frozen=True, slots=True)
class KimiInstall:
    """Where kimi-cli is: ``argv`` runs it; ``python`` is its interpreter when known."""

    argv: tuple[str, ...]
    python: Path | None
    stub: bool  # the installed `kimi` script is the 1.51/1.52 deprecation stub


def _shebang_python(script: Path, path_env: str | None) -> Path | None:
    try:
        with script.open("rb") as fh:
            first = fh.readline(512)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    parts = first[2:].decode("utf-8", "replace").split()
    if not parts:
        return None
    if Path(parts[0]).name == "env" and len(parts) > 1:
        found = shutil.which(parts[1], path=path_env)
        return Path(found) if found else None
    return Path(parts[0])


def _package_dir(python: Path) -> Path | None:
    """Where ``python`` would import ``kimi_cli`` from, without importing it (that takes seconds)."""
    if not os.access(python, os.X_OK):
        return None
    code = (
        "import importlib.util as u; s = u.find_spec('kimi_cli'); "
        "print(list(s.submodule_search_locations)[0] if s and s.submodule_search_locations else '')"
    )
    try:
        out = subprocess.run(
            [str(python), "-I", "-c", code],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
            env={"PATH": os.defpath},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    found = out.stdout.strip()
    return Path(found) if out.returncode == 0 and found else None


def _is_stub(package: Path) -> bool:
    # 1.51 added kimi_cli/deprecation.py together with the gate in kimi_cli/__main__.py.
    return (package / "deprecation.py").is_file()


def _module_install(python: Path) -> KimiInstall | None:
    package = _package_dir(python)
    if package is None or not (package / "cli" / "__main__.py").is_file():
        return None
    return KimiInstall((str(python), "-m", "kimi_cli.cli"), python, _is_stub(package))


def find_kimi_cli(environ: Mapping[str, str]) -> KimiInstall:
    """The kimi-cli to run, or ``KimiCliMissing`` with the install command.

    Order: ``$KIMIBRIDGE_KIMI_PYTHON``; the ``kimi`` on ``PATH`` (its interpreter runs
    ``-m kimi_cli.cli`` when the script is the deprecation stub); the interpreters of a
    ``uv tool`` or ``pipx`` install. Never runs ``kimi`` itself.
    """
    override = environ.get(ENV_KIMI_PYTHON)
    if override:
        found = _module_install(Path(override).expanduser())
        if found is None:
            raise KimiCliMissing(
                f"{ENV_KIMI_PYTHON}={override} has no kimi_cli; install it with "
                f"`{override} -m pip install kimi-cli`, or unset {ENV_KIMI_PYTHON}"
            )
        return found
    path_env = environ.get("PATH")
    script = shutil.which("kimi", path=path_env)
    if script is not None:
        python = _shebang_python(Path(script), path_env)
        package = _package_dir(python) if python is not None else None
        if python is not None and package is not None:
            if _is_stub(package):
                return KimiInstall((str(python), "-m", "kimi_cli.cli"), python, True)
            return KimiInstall((script,), python, False)
    home = environ.get("HOME")
    if home:
        for rel in _TOOL_PYTHONS:
            candidate = Path(home) / rel
            if candidate.exists():
                found = _module_install(candidate)
                if found is not None:
                    return found
    raise KimiCliMissing(
        f"kimi-cli is not installed; install it with `{INSTALL_HINT}` "
        f"(or point {ENV_KIMI_PYTHON} at a Python that has it)"
    )


def kimi_command(environ: Mapping[str, str]) -> list[str]:
    """The argv prefix that runs kimi-cli (append its own arguments: ``--print``, ``-p …``)."""
    return list(find_kimi_cli(environ).argv)


def launch_env(environ: Mapping[str, str], extra: Sequence[tuple[str, str]] = ()) -> dict[str, str]:
    """``environ`` for a kimi-cli launched through the gateway: override variables dropped."""
    env = {k: v for k, v in environ.items() if k not in OVERRIDE_VARS}
    env.update(KIMI_ENV)
    env.update(dict(extra))
    return env


def mcp_config_args(environ: Mapping[str, str]) -> list[str]:
    """``--mcp-config <json>`` with the kimibridge MCP server (``run kimi --tools``)."""
    servers = {"mcpServers": {SERVER_NAME: kimi_entry(environ)}}
    return ["--mcp-config", json.dumps(servers, separators=(",", ":"))]


def prepare_run(
    *,
    config_file: Path,
    base_url: str,
    api_key: str,
    model: str,
    spec: ModelSpec | None,
    environ: Mapping[str, str],
    args: Sequence[str],
    tools: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """Write kimibridge's kimi-cli config (0600: it holds the local key) and return ``(argv, env)``.

    ``--config-file`` makes kimi-cli read only that file; its sessions, history and device id stay
    in the user's share dir (``~/.kimi``), whose ``config.toml`` is never read or written.
    ``tools``: the kimibridge MCP server as ``--mcp-config``, and an MCP tool-call timeout that
    outlasts Kimi's 180 s tool timeout.
    """
    from kimibridge.tools.spec import CLIENT_TIMEOUT_MS

    timeout = CLIENT_TIMEOUT_MS if tools else None
    atomic_write(
        config_file,
        kimi_config_toml(
            base_url=base_url,
            api_key=api_key,
            model=model,
            spec=spec,
            mcp_tool_timeout_ms=timeout,
        ),
    )
    mcp = mcp_config_args(environ) if tools else []
    argv = [*kimi_command(environ), "--config-file", str(config_file), *mcp, *args]
    return argv, launch_env(environ)


def user_config_file(environ: Mapping[str, str]) -> Path:
    """kimi-cli's own config: ``$KIMI_SHARE_DIR/config.toml``, else ``~/.kimi/config.toml``."""
    share = environ.get("KIMI_SHARE_DIR")
    if share:
        return Path(share).expanduser() / "config.toml"
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".kimi" / "config.toml"


def kimi_setup_patches(
    config_file: Path, *, base_url: str, api_key: str, model: str, spec: ModelSpec | None = None
) -> list[ConfigPatch]:
    """``setup kimi``: the provider, a ``kimibridge/<model>`` model and the default model.

    The model key is prefixed so it never collides with kimi-cli's own ``kimi-code/…`` entries.
    """
    config = kimi_config(base_url=base_url, api_key=api_key, model=model, spec=spec)
    name = f"{PROVIDER}/{model}"
    return [
        ConfigPatch(config_file, "toml", ("providers", PROVIDER), config["providers"][PROVIDER]),
        ConfigPatch(config_file, "toml", ("models", name), config["models"][model]),
        ConfigPatch(config_file, "toml", ("default_model",), name),
    ]


class KimiHarness:
    name: Final = "kimi"
    display: Final = "kimi-cli"
    install_hint: Final = INSTALL_HINT
    dialect: Final = "openai"

    def command(self, environ: Mapping[str, str]) -> list[str]:
        return kimi_command(environ)

    def launch(self, ctx: Context, args: Sequence[str], *, tools: bool = False) -> Launch:
        spec = pick_model(harness_models(ctx.catalog_file), ctx.model)
        argv, env = prepare_run(
            config_file=ctx.config_dir / "kimi-cli" / "config.toml",
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            model=spec.id,
            spec=spec,
            environ=ctx.environ,
            args=args,
            tools=tools,
        )
        return Launch(argv, env)

    def setup_patches(self, ctx: Context) -> list[ConfigPatch]:
        spec = pick_model(harness_models(ctx.catalog_file), ctx.model)
        return kimi_setup_patches(
            user_config_file(ctx.environ),
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            model=spec.id,
            spec=spec,
        )


HARNESS: Final = KimiHarness()
