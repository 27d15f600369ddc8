"""Prefix-cache efficiency of recorded Claude Code traffic: through kimibridge vs straight to Kimi.

    python bench/cache.py                       # sessions C then D (bench/fixtures)
    python bench/cache.py --session ../shared/fixtures/claude-sessions/session-B.jsonl --second derived

Replays a recorded Claude Code 2.1.330 session (the request bodies exactly as sent) twice, each
against its own fresh emulator (Kimi's content-prefix cache as measured: 256-token chunks, shared
across dialects):

- direct: to the emulator's Anthropic side, as `ANTHROPIC_BASE_URL=<kimi>` would;
- kimibridge: to the gateway (Anthropic in, Kimi's OpenAI endpoint upstream).

Then the first request of a second session: by default a second real recording
(`bench/fixtures/claude-session-C.jsonl`, made by `bench/record_claude_session.py`); with
`--second derived`, one derived from the first session as Claude Code would start another (new
session id, prompt and billing hash). Prints, per path, the share of the prompt read from cache
within the session (requests after the first) and for the second session's first request, and
writes the table into docs/performance.md (``--no-docs`` to skip). Asserts nothing.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import sys
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kimibridge.testing import run_emulator

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_SESSION_B = (  # the shared fixture: --session with --second derived
    Path(__file__).resolve().parents[2] / "shared/fixtures/claude-sessions/session-B.jsonl"
)
KEY = "sk-kimi-cache-bench"
DEFAULT_SESSION = FIXTURES / "claude-session-C.jsonl"
SECOND_SESSION = FIXTURES / "claude-session-D.jsonl"


def load(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def second_session(first: dict[str, Any]) -> dict[str, Any]:
    """The first request of another session: new id, new prompt, new billing hash."""
    other = copy.deepcopy(first)
    body = other["body"]
    system = body.get("system")
    if (
        isinstance(system, list)
        and system
        and "x-anthropic-billing-header" in system[0].get("text", "")
    ):
        system[0]["text"] = re.sub(
            r"(cc_version=[\d.]+\.)[0-9a-f]{3}", r"\g<1>f0e", system[0]["text"]
        )
    last = body["messages"][0]
    if isinstance(last["content"], list):
        texts = [b for b in last["content"] if b.get("type") == "text"]
        texts[-1]["text"] = "List the Python files in this project and count their lines."
    else:
        last["content"] = "List the Python files in this project and count their lines."
    other["headers"] = [
        [
            n,
            "11111111-2222-4333-8444-555555555555"
            if n.lower() == "x-claude-code-session-id"
            else v,
        ]
        for n, v in other["headers"]
    ]
    metadata = body.get("metadata")
    if isinstance(metadata, dict) and isinstance(metadata.get("user_id"), str):
        metadata["user_id"] = metadata["user_id"].replace(
            json.loads(metadata["user_id"]).get("session_id", "") or "x",
            "11111111-2222-4333-8444-555555555555",
        )
    return other


def post(url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
    data = json.dumps({**body, "stream": False}, ensure_ascii=False, separators=(",", ":")).encode()
    req = urllib.request.Request(url, data=data, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            answer: dict[str, Any] = json.loads(r.read())
            return answer
    except urllib.error.HTTPError as exc:
        raise SystemExit(f"{url}: {exc.code} {exc.read()[:300]!r}") from None


def ratios(usages: list[dict[str, Any]]) -> tuple[float, int]:
    read = sum(u.get("cache_read_input_tokens") or 0 for u in usages)
    total = sum(
        (u.get("input_tokens") or 0) + (u.get("cache_read_input_tokens") or 0) for u in usages
    )
    return (read / total if total else 0.0), total


def replay(
    path_name: str, requests: list[dict[str, Any]], extra: dict[str, Any]
) -> list[dict[str, Any]]:
    with run_emulator() as kimi:
        kimi.add_api_key(KEY)
        if path_name == "direct":
            url = kimi.anthropic_base_url + "/v1/messages?beta=true"
            auth = {"x-api-key": KEY}
            usages = [_send(url, r, auth) for r in [*requests, extra]]
        else:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.integration.gateway_env import gateway_env

            with gateway_env(
                kimi, Path(tempfile.mkdtemp(prefix="kb-cache-")), preset="harness"
            ) as env:
                url = env.url + "/v1/messages?beta=true"
                usages = [_send(url, r, {"x-api-key": env.key}) for r in [*requests, extra]]
    return usages


def _send(url: str, recorded: dict[str, Any], auth: dict[str, str]) -> dict[str, Any]:
    keep = {
        "user-agent",
        "anthropic-version",
        "anthropic-beta",
        "x-claude-code-session-id",
        "x-app",
    }
    headers = {n: v for n, v in recorded["headers"] if n.lower() in keep}
    headers.update({"content-type": "application/json", **auth})
    usage: dict[str, Any] = post(url, recorded["body"], headers)["usage"]
    return usage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--session", type=Path, default=DEFAULT_SESSION)
    parser.add_argument(
        "--second", default=str(SECOND_SESSION), help="a JSONL recording, or 'derived'"
    )
    parser.add_argument(
        "--no-docs", action="store_true", help="Do not write the results into docs/performance.md."
    )
    args = parser.parse_args()
    os.environ.setdefault("KIMIBRIDGE_HOME", tempfile.mkdtemp(prefix="kb-cache-home-"))
    requests = load(args.session)
    if args.second == "derived":
        extra, second_name = second_session(requests[0]), "derived from the first"
    else:
        extra, second_name = load(Path(args.second))[0], Path(args.second).name
    print(f"session: {args.session.name}, {len(requests)} requests; second session: {second_name}")
    print(f"{'path':<12}{'within session (requests 2..n)':<34}{'second session, first request'}")
    table: list[str] = []
    for name in ("direct", "kimibridge"):
        usages = replay(name, requests, extra)
        within, tokens = ratios(usages[1:-1])
        cross, cross_tokens = ratios(usages[-1:])
        print(
            f"{name:<12}{within:>6.1%} of {tokens:>9,} tokens{'':<10}{cross:>6.1%} of {cross_tokens:,} tokens"
        )
        path = "direct to Kimi's Anthropic side" if name == "direct" else "through kimibridge"
        table.append(
            f"| {path} | {within:.1%} of {tokens:,} prompt tokens read from cache "
            f"| {cross:.1%} of {cross_tokens:,} |"
        )
    if not args.no_docs:
        from _docs import machine_line, write_section

        command = "python bench/cache.py " + " ".join(sys.argv[1:])
        section = "cache" if args.session == DEFAULT_SESSION else "cache-" + args.session.stem
        write_section(
            section,
            "\n".join(
                [
                    f"`{command.strip()}`",
                    "",
                    machine_line(),
                    "",
                    f"Session {args.session.name} ({len(requests)} requests), then the first "
                    f"request of a second session ({second_name}).",
                    "",
                    "| path | within the session (requests 2..n) | second session, first request |",
                    "|---|---|---|",
                    *table,
                ]
            ),
        )


if __name__ == "__main__":
    main()
