"""pi (``@mariozechner/pi-coding-agent``) on Kimi through the gateway.

pi reads custom providers from ``models.json`` in its agent dir (``PI_CODING_AGENT_DIR``, default
``~/.pi/agent``) and the default provider/model from ``settings.json`` next to it
(reference/real-clients.md §2). kimibridge adds one OpenAI-compatible provider, ``kimibridge``:

- ``baseUrl`` the gateway's ``/v1``, ``api: openai-completions``;
- ``apiKey``: for ``run`` the *name* of an environment variable (pi dereferences names), so the
  file holds no secret; for ``setup`` the local key itself (a plain ``pi`` has no such variable);
- ``headers: {"User-Agent": "pi/<version>"}``: pi's own requests say ``OpenAI/JS …``, which names
  the SDK, not the agent. Kimi admits coding agents by User-Agent and kimibridge's default identity
  forwards the agent's own (DESIGN.md "Identity and account safety"), so pi says who it is;
- one model per Kimi model, with context window, output limit and thinking from the catalog.

``run pi`` uses an agent dir kimibridge owns (seeded once from the user's: settings, keybindings,
AGENTS.md/SYSTEM.md, skills, prompts, themes, extensions), so ``~/.pi/agent`` is never written.
``setup pi`` patches the user's own ``models.json`` and ``settings.json``.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from kimibridge._fs import atomic_write
from kimibridge.harness.contract import Context, Launch, missing
from kimibridge.harness.kimi import openai_base
from kimibridge.harness.kimi_models import harness_models, pick_model
from kimibridge.harness.npm_version import package_version
from kimibridge.harness.patches import ConfigPatch
from kimibridge.harness.tool_registration import no_mcp_client
from kimibridge.kimi.model_map import ModelSpec

__all__ = [
    "ENV_API_KEY",
    "HARNESS",
    "INSTALL_HINT",
    "PI_ENV",
    "PROVIDER",
    "PiHarness",
    "pi_model",
    "pi_models_json",
    "pi_provider",
    "pi_setup_patches",
    "pi_user_agent",
    "pi_version",
    "prepare_run",
    "seed_agent_dir",
    "user_agent_dir",
]

PROVIDER: Final = "kimibridge"
PACKAGE: Final = "@mariozechner/pi-coding-agent"
INSTALL_HINT: Final = f"npm install -g {PACKAGE}"
# The variable `run pi` passes the local key in; models.json names it instead of holding the key.
ENV_API_KEY: Final = "KIMIBRIDGE_API_KEY"
# No pi.dev version check and no install telemetry. Not PI_OFFLINE: that also stops the
# user's pi packages (extensions) from installing or updating, which is theirs to decide.
PI_ENV: Final[Mapping[str, str]] = {"PI_SKIP_VERSION_CHECK": "1", "PI_TELEMETRY": "0"}
# What a fresh kimibridge agent dir copies from the user's, when present (never auth.json or
# sessions: the provider is kimibridge's, the history stays with the user's own pi).
SEED_FILES: Final = ("settings.json", "keybindings.json", "AGENTS.md", "SYSTEM.md")
SEED_DIRS: Final = ("skills", "prompts", "themes", "extensions")


def pi_model(spec: ModelSpec) -> dict[str, Any]:
    """One ``models.json`` model entry for a Kimi model."""
    model: dict[str, Any] = {
        "id": spec.id,
        "name": f"{spec.id} (Kimi via kimibridge)",
        "reasoning": spec.supports_thinking_type != "no",
        "input": ["text", "image"],  # the gateway uploads large images to Kimi's Files API
        "contextWindow": spec.context_length,
        "maxTokens": spec.max_output_tokens,
        "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},  # a subscription
    }
    if spec.supports_thinking_type == "only":
        model["thinkingLevelMap"] = {"off": None}  # Kimi thinks anyway: do not offer "off"
    return model


def pi_provider(
    *, base_url: str, api_key: str, models: Sequence[ModelSpec], user_agent: str
) -> dict[str, Any]:
    """The ``providers.kimibridge`` object. ``api_key`` is a key or an environment variable name."""
    return {
        "baseUrl": openai_base(base_url),
        "api": "openai-completions",
        "apiKey": api_key,
        "headers": {"User-Agent": user_agent},
        "models": [pi_model(spec) for spec in models],
    }


def pi_models_json(provider: Mapping[str, Any]) -> str:
    """A whole ``models.json`` holding only the kimibridge provider (``run pi``'s own dir)."""
    return json.dumps({"providers": {PROVIDER: dict(provider)}}, indent=2) + "\n"


def pi_user_agent(version: str | None) -> str:
    return f"pi/{version}" if version else "pi"


def pi_version(binary: Path) -> str | None:
    return package_version(binary, PACKAGE)


def user_agent_dir(environ: Mapping[str, str]) -> Path:
    """The user's own pi agent dir: ``$PI_CODING_AGENT_DIR`` or ``~/.pi/agent``."""
    configured = environ.get("PI_CODING_AGENT_DIR")
    if configured:
        return Path(configured).expanduser()
    home = environ.get("HOME")
    return (Path(home) if home else Path.home()) / ".pi" / "agent"


def seed_agent_dir(own: Path, user: Path) -> None:
    """Copy the user's pi customisations into kimibridge's agent dir, once (items already there
    are kept: the user may have changed them under ``run pi``)."""
    own.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not user.is_dir() or user.resolve() == own.resolve():
        return
    for name in SEED_FILES:
        source, target = user / name, own / name
        if source.is_file() and not target.exists():
            shutil.copy2(source, target)
    for name in SEED_DIRS:
        source, target = user / name, own / name
        if source.is_dir() and not target.exists():
            shutil.copytree(source, target, symlinks=True)


def pi_setup_patches(
    agent_dir: Path, *, base_url: str, api_key: str, models: Sequence[ModelSpec], user_agent: str
) -> list[ConfigPatch]:
    """``setup pi``: the provider in the user's ``models.json``, and kimibridge as the default."""
    provider = pi_provider(base_url=base_url, api_key=api_key, models=models, user_agent=user_agent)
    default = models[0].id if models else "kimi-for-coding"
    settings = agent_dir / "settings.json"
    return [
        ConfigPatch(agent_dir / "models.json", "json", ("providers", PROVIDER), provider),
        ConfigPatch(settings, "json", ("defaultProvider",), PROVIDER),
        ConfigPatch(settings, "json", ("defaultModel",), default),
    ]


def _merge_settings(path: Path, model: str) -> None:
    """kimibridge as pi's default provider in its own agent dir; other settings kept."""
    try:
        current = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        current = {}
    settings = current if isinstance(current, dict) else {}
    settings.update({"defaultProvider": PROVIDER, "defaultModel": model})
    atomic_write(path, json.dumps(settings, indent=2) + "\n")


def prepare_run(
    *,
    binary: str,
    own_dir: Path,
    user_dir: Path,
    base_url: str,
    api_key: str,
    models: Sequence[ModelSpec],
    model: str,
    environ: Mapping[str, str],
    args: Sequence[str],
) -> tuple[list[str], dict[str, str]]:
    """Write kimibridge's pi agent dir and return ``(argv, env)`` for ``run pi``.

    ``models.json`` names ``$KIMIBRIDGE_API_KEY`` instead of holding the key; ``settings.json``
    makes ``kimibridge/<model>`` the default, so ``pi`` and ``pi -p …`` need no flags.
    """
    seed_agent_dir(own_dir, user_dir)
    provider = pi_provider(
        base_url=base_url,
        api_key=ENV_API_KEY,
        models=models,
        user_agent=pi_user_agent(pi_version(Path(binary))),
    )
    atomic_write(own_dir / "models.json", pi_models_json(provider))
    _merge_settings(own_dir / "settings.json", model)
    env = dict(environ)
    env.update(PI_ENV)
    env.update({"PI_CODING_AGENT_DIR": str(own_dir), ENV_API_KEY: api_key})
    return [binary, *args], env


def _chosen_first(models: Sequence[ModelSpec], spec: ModelSpec) -> tuple[ModelSpec, ...]:
    return (spec, *(m for m in models if m.id != spec.id))


class PiHarness:
    name: Final = "pi"
    display: Final = "pi"
    install_hint: Final = INSTALL_HINT
    dialect: Final = "openai"

    def command(self, environ: Mapping[str, str]) -> list[str]:
        found = shutil.which("pi", path=environ.get("PATH"))
        if found is None:
            raise missing(self.display, self.install_hint)
        return [found]

    def launch(self, ctx: Context, args: Sequence[str], *, tools: bool = False) -> Launch:
        if tools:  # pi has no MCP client
            raise no_mcp_client(self.name)
        binary = self.command(ctx.environ)[0]
        models = harness_models(ctx.catalog_file)
        spec = pick_model(models, ctx.model)
        argv, env = prepare_run(
            binary=binary,
            own_dir=ctx.config_dir / "pi-agent",
            user_dir=user_agent_dir(ctx.environ),
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            models=_chosen_first(models, spec),
            model=spec.id,
            environ=ctx.environ,
            args=args,
        )
        return Launch(argv, env)

    def setup_patches(self, ctx: Context) -> list[ConfigPatch]:
        found = shutil.which("pi", path=ctx.environ.get("PATH"))
        version = pi_version(Path(found)) if found else None
        models = harness_models(ctx.catalog_file)
        return pi_setup_patches(
            user_agent_dir(ctx.environ),
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            models=_chosen_first(models, pick_model(models, ctx.model)),
            user_agent=pi_user_agent(version),
        )


HARNESS: Final = PiHarness()
