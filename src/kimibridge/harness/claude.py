"""Claude Code on Kimi: `kimibridge run claude` and `kimibridge setup claude`.

``run`` gives Claude Code its own config dir (``~/.claude-kimibridge``, or
``~/.claude-kimibridge-<profile>``), seeded once from ``~/.claude`` (settings, keybindings,
skills, agents, commands, plugins; the user's dir is only read), with an empty
``.credentials.json`` (no Anthropic OAuth to prefer over the key) and a ``.claude.json`` that
skips onboarding, approves the key and trusts the working directory (real-clients.md §1: else
three dialogs stop the TUI). The environment points Claude Code at the gateway with the
harness's own local key and Kimi models, and turns off traffic that would leave loopback.

``--tools`` (``run`` only) passes the kimibridge MCP server as ``--mcp-config=<json>``: for this
run only, nothing written (in the ``=`` form, since the option takes several values and would
swallow a prompt after it).

``--direct`` is kimigas's path (kimi-plugins.md §4): a static Kimi API key straight to Kimi's
Anthropic endpoint, no gateway.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from kimibridge._fs import atomic_write, ensure_private_dir
from kimibridge.errors import ConfigError
from kimibridge.harness.contract import Context, Launch, missing
from kimibridge.harness.kimi_models import harness_models, pick_model
from kimibridge.harness.patches import ConfigPatch
from kimibridge.harness.tool_registration import claude_entry
from kimibridge.kimi.model_map import ModelSpec
from kimibridge.tools.spec import SERVER_NAME

__all__ = [
    "DIRECT_BASE_URL",
    "ENV_CLAUDE_BIN",
    "HARNESS",
    "INSTALL_HINT",
    "QUIET",
    "YOLO_FLAGS",
    "ClaudeHarness",
    "claude_config",
    "claude_env",
    "config_dir_for",
    "direct_launch",
    "map_args",
    "mcp_config_arg",
    "seed_config_dir",
    "update_claude_json",
]

PACKAGE: Final = "@anthropic-ai/claude-code"
INSTALL_HINT: Final = f"npm install -g {PACKAGE}"
ENV_CLAUDE_BIN: Final = "KIMIBRIDGE_CLAUDE_BIN"  # a claude executable other than the one on PATH
DIRECT_BASE_URL: Final = "https://api.kimi.com/coding/"  # kimigas's ANTHROPIC_BASE_URL
YOLO_FLAGS: Final = frozenset({"--yolo", "--yes", "-y", "--auto-approve"})
SKIP_PERMISSIONS: Final = "--dangerously-skip-permissions"
API_TIMEOUT_MS: Final = "600000"  # a long Kimi turn must not be cut at Claude Code's default
SEED_FILES: Final = ("settings.json", "keybindings.json")
SEED_DIRS: Final = ("skills", "agents", "commands", "plugins")
# Variables that would send Claude Code elsewhere than where we point it, or with another identity.
DROPPED: Final = (
    "ANTHROPIC_AUTH_TOKEN",
    "ANTHROPIC_CUSTOM_HEADERS",
    "CLAUDE_CODE_USE_BEDROCK",
    "CLAUDE_CODE_USE_VERTEX",
    "CLAUDE_CODE_USE_FOUNDRY",
    "CLAUDE_CODE_OAUTH_TOKEN",
)
QUIET: Final[Mapping[str, str]] = {
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_COST_WARNINGS": "true",
    "CLAUDE_CODE_ATTRIBUTION_HEADER": "0",
    "API_TIMEOUT_MS": API_TIMEOUT_MS,
    # With tool search on, Claude Code sends MCP tools deferred and reveals them through
    # tool_reference blocks, which Kimi does not expand (the gateway drops both, gateways.md §b):
    # the model would never see kimibridge's or any MCP server's tools.
    "ENABLE_TOOL_SEARCH": "false",
}


def _home(environ: Mapping[str, str]) -> Path:
    return Path(environ.get("HOME") or Path.home())


def config_dir_for(environ: Mapping[str, str], profile: str | None = None) -> Path:
    """Claude Code's config dir under kimibridge: one per profile, never ``~/.claude``."""
    name = ".claude-kimibridge" + (f"-{profile}" if profile else "")
    return _home(environ) / name


def user_claude_dir(environ: Mapping[str, str]) -> Path:
    return _home(environ) / ".claude"


def seed_config_dir(own: Path, user: Path) -> bool:
    """Create ``own`` from what ``user`` has, once; ``user`` is only read. True when created now."""
    if own.exists():
        return False
    ensure_private_dir(own)
    for name in SEED_FILES:
        if (user / name).is_file():
            shutil.copy2(user / name, own / name)
    for name in SEED_DIRS:
        if (user / name).is_dir():
            shutil.copytree(user / name, own / name, symlinks=True)
    atomic_write(own / ".credentials.json", "{}\n")
    return True


def claude_config(api_key: str, project_dir: Path) -> dict[str, Any]:
    """``.claude.json`` that skips onboarding, the API-key question and the trust dialog."""
    return {
        "hasCompletedOnboarding": True,
        "customApiKeyResponses": {"approved": [api_key[-20:]], "rejected": []},
        "projects": {str(project_dir): {"hasTrustDialogAccepted": True}},
    }


def update_claude_json(own: Path, api_key: str, project_dir: Path, *, bypass: bool = False) -> None:
    """Merge the answers into ``own/.claude.json``, keeping what Claude Code stored there."""
    path = own / ".claude.json"
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    data["hasCompletedOnboarding"] = True
    if bypass:
        data["bypassPermissionsModeAccepted"] = True
    fingerprint = api_key[-20:]
    responses = data.get("customApiKeyResponses")
    if not isinstance(responses, dict):
        responses = {}
    approved = [k for k in responses.get("approved") or [] if isinstance(k, str)]
    rejected = [k for k in responses.get("rejected") or [] if k != fingerprint]
    if fingerprint not in approved:
        approved.append(fingerprint)
    data["customApiKeyResponses"] = {**responses, "approved": approved, "rejected": rejected}
    projects = data.get("projects")
    if not isinstance(projects, dict):
        projects = {}
    project = projects.get(str(project_dir))
    project = dict(project) if isinstance(project, dict) else {}
    project["hasTrustDialogAccepted"] = True
    projects[str(project_dir)] = project
    data["projects"] = projects
    atomic_write(path, json.dumps(data, indent=2) + "\n")


def model_env(spec: ModelSpec, models: Sequence[ModelSpec]) -> dict[str, str]:
    """Every model slot Claude Code has → a Kimi model (the fast slots → highspeed when offered)."""
    ids = {m.id for m in models}
    fast = "kimi-for-coding-highspeed" if "kimi-for-coding-highspeed" in ids else spec.id
    return {
        "ANTHROPIC_MODEL": spec.id,
        "ANTHROPIC_DEFAULT_OPUS_MODEL": spec.id,
        "ANTHROPIC_DEFAULT_SONNET_MODEL": spec.id,
        "ANTHROPIC_DEFAULT_HAIKU_MODEL": fast,
        "ANTHROPIC_SMALL_FAST_MODEL": fast,
    }


def claude_env(
    environ: Mapping[str, str],
    *,
    base_url: str,
    api_key: str,
    config_dir: Path,
    models: Mapping[str, str],
) -> dict[str, str]:
    env = {k: v for k, v in environ.items() if k not in DROPPED}
    env.update(QUIET)
    env.update(models)
    env["ANTHROPIC_BASE_URL"] = base_url
    env["ANTHROPIC_API_KEY"] = api_key
    env["CLAUDE_CONFIG_DIR"] = str(config_dir)
    return env


def map_args(args: Sequence[str], *, is_root: bool) -> tuple[list[str], dict[str, str]]:
    """kimigas's flags → Claude Code's; extra env (root may skip permissions only as a sandbox)."""
    out = [SKIP_PERMISSIONS if a in YOLO_FLAGS else a for a in args]
    # One --dangerously-skip-permissions even when asked for twice.
    seen = False
    mapped: list[str] = []
    for a in out:
        if a == SKIP_PERMISSIONS:
            if seen:
                continue
            seen = True
        mapped.append(a)
    bypass = seen or "bypassPermissions" in mapped
    extra = {"IS_SANDBOX": "1"} if bypass and is_root else {}
    return mapped, extra


def mcp_config_arg(environ: Mapping[str, str]) -> str:
    """``--mcp-config=<json>`` with the kimibridge MCP server (``run claude --tools``)."""
    servers = {"mcpServers": {SERVER_NAME: claude_entry(environ)}}
    return "--mcp-config=" + json.dumps(servers, separators=(",", ":"))


def _binary(environ: Mapping[str, str]) -> str:
    explicit = environ.get(ENV_CLAUDE_BIN)
    if explicit:
        return explicit
    found = shutil.which("claude", path=environ.get("PATH"))
    if found is None:
        raise missing("Claude Code", INSTALL_HINT)
    return found


def _prepare(
    environ: Mapping[str, str],
    args: Sequence[str],
    *,
    base_url: str,
    api_key: str,
    models: Mapping[str, str],
    profile: str | None,
    cwd: Path,
    tools: bool = False,
) -> Launch:
    binary = _binary(environ)
    argv, extra = map_args(args, is_root=os.geteuid() == 0)
    if tools:
        argv.insert(0, mcp_config_arg(environ))
    own = config_dir_for(environ, profile)
    seed_config_dir(own, user_claude_dir(environ))
    update_claude_json(own, api_key, cwd, bypass=SKIP_PERMISSIONS in argv)
    env = claude_env(environ, base_url=base_url, api_key=api_key, config_dir=own, models=models)
    env.update(extra)
    return Launch([binary, *argv], env, cwd)


def direct_launch(
    environ: Mapping[str, str],
    args: Sequence[str],
    *,
    stored_api_key: str | None,
    model: str | None = None,
    profile: str | None = None,
    base_url: str = DIRECT_BASE_URL,
    tools: bool = False,
) -> Launch:
    """kimigas's path: a static key (``KIMI_API_KEY``, else the one `kimibridge login` stored)."""
    key = environ.get("KIMI_API_KEY") or stored_api_key
    if not key:
        raise ConfigError(
            "--direct needs a Kimi Code API key: set KIMI_API_KEY or run `kimibridge login` "
            "with an API key (OAuth works through the gateway only: drop --direct)"
        )
    models = model_env(pick_model(harness_models(None), model), ())
    return _prepare(
        environ,
        args,
        base_url=base_url,
        api_key=key,
        models=models,
        profile=profile,
        cwd=Path.cwd(),
        tools=tools,
    )


class ClaudeHarness:
    name: Final = "claude"
    display: Final = "Claude Code"
    install_hint: Final = INSTALL_HINT
    dialect: Final = "anthropic"

    def command(self, environ: Mapping[str, str]) -> list[str]:
        return [_binary(environ)]

    def launch(
        self,
        ctx: Context,
        args: Sequence[str],
        *,
        profile: str | None = None,
        tools: bool = False,
    ) -> Launch:
        models = harness_models(ctx.catalog_file)
        return _prepare(
            ctx.environ,
            args,
            base_url=ctx.gateway_url,
            api_key=ctx.api_key,
            models=model_env(pick_model(models, ctx.model), models),
            profile=profile,
            cwd=Path.cwd(),
            tools=tools,
        )

    def setup_patches(self, ctx: Context) -> list[ConfigPatch]:
        """``~/.claude/settings.json`` env: the user's plain ``claude`` through the gateway."""
        models = harness_models(ctx.catalog_file)
        env = {
            "ANTHROPIC_BASE_URL": ctx.gateway_url,
            "ANTHROPIC_API_KEY": ctx.api_key,
            **model_env(pick_model(models, ctx.model), models),
            **QUIET,
        }
        settings = user_claude_dir(ctx.environ) / "settings.json"
        return [ConfigPatch(settings, "json", ("env", k), v) for k, v in env.items()]


HARNESS: Final = ClaudeHarness()
