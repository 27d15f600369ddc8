"""opencode (npm ``opencode-ai``) on Kimi through the gateway.

opencode merges its config from the global dir (``config.json``, ``opencode.json``,
``opencode.jsonc`` under ``$XDG_CONFIG_HOME/opencode``), the project, and last
``OPENCODE_CONFIG_CONTENT`` (reference/real-clients.md §3). kimibridge adds one provider,
``kimibridge``, built on ``@ai-sdk/openai-compatible`` (bundled in the binary: nothing is
downloaded), with every Kimi model, and makes it the ``model`` and ``small_model`` (opencode's
title requests use the small one).

- ``run opencode``: the config goes in ``OPENCODE_CONFIG_CONTENT`` only (no file is written), with
  ``autoupdate`` off, plus ``OPENCODE_DISABLE_MODELS_FETCH=1`` (no models.dev fetch) and
  ``OPENCODE_DISABLE_AUTOUPDATE=1``. With ``--tools`` it also holds ``mcp.kimibridge``, the
  kimibridge MCP server, for that run only.
- ``setup opencode``: the same provider, ``model`` and ``small_model`` patched into the user's
  global ``opencode.json``.

User-Agent: opencode sends its own, ``opencode/<version> ai-sdk/… runtime/bun/…``, which names it
(an ``options.headers`` User-Agent is ignored: opencode 1.18.33 sets the header itself, measured),
so the gateway's default identity forwards an honest one with nothing to configure.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from kimibridge.harness.contract import Context, Launch, missing
from kimibridge.harness.kimi import openai_base
from kimibridge.harness.kimi_models import harness_models, pick_model
from kimibridge.harness.patches import ConfigPatch
from kimibridge.harness.tool_registration import opencode_entry
from kimibridge.kimi.model_map import ModelSpec
from kimibridge.tools.spec import SERVER_NAME

__all__ = [
    "HARNESS",
    "INSTALL_HINT",
    "OPENCODE_ENV",
    "PACKAGE",
    "PROVIDER",
    "OpencodeHarness",
    "opencode_config",
    "opencode_config_content",
    "opencode_provider",
    "opencode_setup_patches",
    "prepare_run",
    "user_config_file",
]

PROVIDER: Final = "kimibridge"
PACKAGE: Final = "opencode-ai"
INSTALL_HINT: Final = f"npm install -g {PACKAGE}"
OPENCODE_ENV: Final[Mapping[str, str]] = {
    "OPENCODE_DISABLE_MODELS_FETCH": "1",  # models.dev: our provider lists its own models
    "OPENCODE_DISABLE_AUTOUPDATE": "1",
}


def _model(spec: ModelSpec) -> dict[str, Any]:
    return {
        "name": f"{spec.id} (Kimi via kimibridge)",
        # opencode needs both limits or neither (opencode-kimi-full AGENTS.md rule 10).
        "limit": {"context": spec.context_length, "output": spec.max_output_tokens},
        "reasoning": spec.supports_thinking_type != "no",
        "tool_call": True,
        # Without image input declared opencode turns image parts into error text.
        "attachment": True,
        "modalities": {"input": ["text", "image"], "output": ["text"]},
    }


def opencode_provider(
    *, base_url: str, api_key: str, models: Sequence[ModelSpec]
) -> dict[str, Any]:
    """The ``provider.kimibridge`` object."""
    return {
        "npm": "@ai-sdk/openai-compatible",
        "name": "Kimi (kimibridge)",
        "options": {
            "baseURL": openai_base(base_url),
            "apiKey": api_key,
        },
        "models": {spec.id: _model(spec) for spec in models},
    }


def opencode_config(
    *,
    base_url: str,
    api_key: str,
    models: Sequence[ModelSpec],
    model: str,
    small_model: str | None = None,
) -> dict[str, Any]:
    """The config ``run opencode`` passes in ``OPENCODE_CONFIG_CONTENT``."""
    return {
        "$schema": "https://opencode.ai/config.json",
        "model": f"{PROVIDER}/{model}",
        "small_model": f"{PROVIDER}/{small_model or model}",
        "autoupdate": False,
        "provider": {
            PROVIDER: opencode_provider(base_url=base_url, api_key=api_key, models=models)
        },
    }


def opencode_config_content(config: Mapping[str, Any]) -> str:
    return json.dumps(config, separators=(",", ":"))


def user_config_file(environ: Mapping[str, str]) -> Path:
    """The user's global ``opencode.json`` (``$XDG_CONFIG_HOME/opencode``, else ``~/.config``).

    ``opencode.json`` even when an ``opencode.jsonc`` exists: opencode merges both (the .jsonc
    last), and a .jsonc may hold comments a JSON patch would lose.
    """
    xdg = environ.get("XDG_CONFIG_HOME")
    if xdg:
        root = Path(xdg).expanduser()
    else:
        home = environ.get("HOME")
        root = (Path(home) if home else Path.home()) / ".config"
    return root / "opencode" / "opencode.json"


def opencode_setup_patches(
    config_file: Path,
    *,
    base_url: str,
    api_key: str,
    models: Sequence[ModelSpec],
    model: str,
) -> list[ConfigPatch]:
    """``setup opencode``: provider, ``model`` and ``small_model`` in the user's opencode.json."""
    provider = opencode_provider(base_url=base_url, api_key=api_key, models=models)
    return [
        ConfigPatch(config_file, "json", ("provider", PROVIDER), provider),
        ConfigPatch(config_file, "json", ("model",), f"{PROVIDER}/{model}"),
        ConfigPatch(config_file, "json", ("small_model",), f"{PROVIDER}/{model}"),
    ]


def _merged(existing: str | None, ours: Mapping[str, Any]) -> dict[str, Any]:
    """Ours over a config the user already passes in ``OPENCODE_CONFIG_CONTENT`` (kept otherwise)."""
    try:
        base = json.loads(existing) if existing else {}
    except ValueError:
        base = {}
    merged: dict[str, Any] = base if isinstance(base, dict) else {}
    providers = merged.get("provider")
    providers = dict(providers) if isinstance(providers, dict) else {}
    providers.update(ours["provider"])
    merged.update({k: v for k, v in ours.items() if k not in ("provider", "mcp")})
    merged["provider"] = providers
    if "mcp" in ours:
        servers = merged.get("mcp")
        servers = dict(servers) if isinstance(servers, dict) else {}
        servers.update(ours["mcp"])
        merged["mcp"] = servers
    return merged


def prepare_run(
    *,
    binary: str,
    base_url: str,
    api_key: str,
    models: Sequence[ModelSpec],
    model: str,
    environ: Mapping[str, str],
    args: Sequence[str],
    tools: bool = False,
) -> tuple[list[str], dict[str, str]]:
    """``(argv, env)`` for ``run opencode``: nothing is written to disk. ``tools``: the
    kimibridge MCP server as ``mcp.kimibridge`` (next to any the user passes inline)."""
    config = opencode_config(base_url=base_url, api_key=api_key, models=models, model=model)
    if tools:
        config["mcp"] = {SERVER_NAME: opencode_entry(environ)}
    env = dict(environ)
    env.update(OPENCODE_ENV)
    env["OPENCODE_CONFIG_CONTENT"] = opencode_config_content(
        _merged(environ.get("OPENCODE_CONFIG_CONTENT"), config)
    )
    return [binary, *args], env


class OpencodeHarness:
    name: Final = "opencode"
    display: Final = "opencode"
    install_hint: Final = INSTALL_HINT
    dialect: Final = "openai"

    def command(self, environ: Mapping[str, str]) -> list[str]:
        found = shutil.which("opencode", path=environ.get("PATH"))
        if found is None:
            raise missing(self.display, self.install_hint)
        return [found]

    def launch(self, ctx: Context, args: Sequence[str], *, tools: bool = False) -> Launch:
        binary = self.command(ctx.environ)[0]
        models = harness_models(ctx.catalog_file)
        spec = pick_model(models, ctx.model)
        argv, env = prepare_run(
            binary=binary,
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            models=_with(models, spec),
            model=spec.id,
            environ=ctx.environ,
            args=args,
            tools=tools,
        )
        return Launch(argv, env)

    def setup_patches(self, ctx: Context) -> list[ConfigPatch]:
        models = harness_models(ctx.catalog_file)
        spec = pick_model(models, ctx.model)
        return opencode_setup_patches(
            user_config_file(ctx.environ),
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            models=_with(models, spec),
            model=spec.id,
        )


def _with(models: Sequence[ModelSpec], spec: ModelSpec) -> tuple[ModelSpec, ...]:
    return (spec, *(m for m in models if m.id != spec.id))


HARNESS: Final = OpencodeHarness()
