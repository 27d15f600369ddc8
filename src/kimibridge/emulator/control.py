"""``/_emulator/*``: drive an emulator from another process (loopback only, no auth).

The same operations ``kimibridge.testing.EmulatorHandle`` offers in process, as JSON over
HTTP, so a test or a person can steer ``kimibridge emulator`` started from the CLI.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from kimibridge.emulator.faults import FaultKind

if TYPE_CHECKING:
    from kimibridge.emulator.app import Emulator

__all__ = ["control_routes"]

P = "/_emulator"


def _fail(message: str, status: int = 400) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _body(request: web.Request) -> dict[str, Any]:
    raw = await request.read()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _truthy(value: str | None, default: bool) -> bool:
    if value is None:
        return default
    return value.lower() not in {"0", "false", "no", "off"}


def control_routes(emulator: Emulator) -> list[web.RouteDef]:
    state = emulator.platform

    async def approve(request: web.Request) -> web.Response:
        body = await _body(request)
        return web.json_response({"approved": state.oauth.approve(body.get("user_code"))})

    async def deny(request: web.Request) -> web.Response:
        body = await _body(request)
        return web.json_response({"denied": state.oauth.deny(body.get("user_code"))})

    async def device_codes(request: web.Request) -> web.Response:
        host = f"{request.scheme}://{request.host}"
        codes = [d.to_public(host) for d in state.oauth.device_codes()]
        return web.json_response({"device_codes": codes})

    async def inject(request: web.Request) -> web.Response:
        body = await _body(request)
        try:
            kind = FaultKind(body.pop("kind"))
        except (KeyError, ValueError):
            return _fail(f"kind must be one of {[k.value for k in FaultKind]}")
        route = body.pop("route", None)
        if route is not None and not isinstance(route, str):
            return _fail("route must be a path suffix such as /messages")
        for name in ("delay_s", "after_chunks"):
            value = body.get(name)
            if value is not None and (
                not isinstance(value, int | float) or isinstance(value, bool)
            ):
                return _fail(f"{name} must be a number")
        try:
            fault = state.inject(kind, route, **body)
        except TypeError as exc:
            return _fail(f"bad fault fields: {exc}")
        return web.json_response({"queued": _fault_json(fault)})

    async def faults(request: web.Request) -> web.Response:
        return web.json_response({"faults": [_fault_json(f) for f in state.faults.pending()]})

    async def clear_faults(request: web.Request) -> web.Response:
        state.faults.clear()
        return web.json_response({"faults": []})

    async def token_ttl(request: web.Request) -> web.Response:
        body = await _body(request)
        seconds = body.get("seconds")
        if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
            return _fail("seconds must be a number >= 0")
        state.set_token_ttl(seconds)
        return web.json_response({"token_ttl": state.config.token_ttl})

    async def latency(request: web.Request) -> web.Response:
        body = await _body(request)
        ms = body.get("ms")
        if not isinstance(ms, int | float) or isinstance(ms, bool) or ms < 0:
            return _fail("ms must be a number >= 0")
        state.set_latency(ms)
        return web.json_response({"latency_ms": state.config.latency_ms})

    async def tokens(request: web.Request) -> web.Response:
        body = await _body(request)
        ttl = body.get("ttl")
        if ttl is not None and (not isinstance(ttl, int | float) or isinstance(ttl, bool)):
            return _fail("ttl must be a number")
        return web.json_response(state.oauth.issue(ttl).to_wire())

    async def expire_tokens(request: web.Request) -> web.Response:
        state.oauth.expire_all()
        return web.json_response({"expired": True})

    async def api_keys(request: web.Request) -> web.Response:
        body = await _body(request)
        key = body.get("key")
        if not isinstance(key, str) or not key:
            return _fail("key must be a non-empty string")
        state.gate.add_key(key)
        return web.json_response({"added": True, "count": len(state.gate.keys())})

    async def requests(request: web.Request) -> web.Response:
        items = state.recorder.all()
        if _truthy(request.query.get("redacted"), default=True):
            return web.json_response({"requests": [r.redacted() for r in items]})
        # Unredacted on request only: a local test driver may need the exact bytes.
        raw = []
        for r in items:
            view = r.redacted()
            view["headers"] = dict(r.headers)
            view["body"] = r.body.decode("utf-8", "replace")
            raw.append(view)
        return web.json_response({"requests": raw})

    async def clear_requests(request: web.Request) -> web.Response:
        state.recorder.clear()
        return web.json_response({"requests": []})

    async def stats(request: web.Request) -> web.Response:
        return web.json_response(emulator.stats())

    async def script(request: web.Request) -> web.Response:
        body = await _body(request)
        steps = body.get("steps")
        if not isinstance(steps, list):
            return _fail("steps must be a list")
        emulator.model.script(steps)
        return web.json_response({"scripted": len(steps)})

    async def scenario(request: web.Request) -> web.Response:
        body = await _body(request)
        path = body.get("path")
        if not isinstance(path, str) or not path:
            return _fail("path must name a scenario file")
        try:
            emulator.model.load_scenario(Path(path))
        except OSError as exc:
            return _fail(f"cannot read {path}: {exc.strerror or exc}")
        return web.json_response({"loaded": path})

    async def index(request: web.Request) -> web.Response:
        routes = sorted({f"{r.method} {r.path}" for r in defs if r.path != f"{P}/"})
        return web.json_response({"routes": routes})

    defs = [
        web.get(f"{P}/", index),
        web.post(f"{P}/approve", approve),
        web.post(f"{P}/deny", deny),
        web.get(f"{P}/device_codes", device_codes),
        web.post(f"{P}/faults", inject),
        web.get(f"{P}/faults", faults),
        web.delete(f"{P}/faults", clear_faults),
        web.post(f"{P}/token_ttl", token_ttl),
        web.post(f"{P}/latency", latency),
        web.post(f"{P}/tokens", tokens),
        web.post(f"{P}/tokens/expire", expire_tokens),
        web.post(f"{P}/api_keys", api_keys),
        web.get(f"{P}/requests", requests),
        web.delete(f"{P}/requests", clear_requests),
        web.get(f"{P}/stats", stats),
        web.post(f"{P}/script", script),
        web.post(f"{P}/scenario", scenario),
    ]
    return [_json_errors(d) for d in defs]


def _fault_json(fault: Any) -> dict[str, Any]:
    return {
        "kind": fault.kind.value,
        "route": fault.route,
        "delay_s": fault.delay_s,
        "after_chunks": fault.after_chunks,
    }


def _json_errors(route: web.RouteDef) -> web.RouteDef:
    """Bad JSON in a control call becomes a 400 with a message, not a 500."""
    inner = route.handler

    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await inner(request)
        except ValueError as exc:
            return _fail(f"bad request body: {exc}")

    return web.RouteDef(route.method, route.path, handler, route.kwargs)
