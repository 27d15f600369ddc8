"""Apply ConfigPatches to a harness's files with a backup, and undo them.

Planning is pure (bytes in, bytes out). Applying records, per harness, a manifest in
``<state>/setup/<harness>/``: for every touched file whether it existed, a copy of its bytes
from before kimibridge's *first* setup, the sha of what setup last wrote and the key paths setup
set (the union over every setup). ``undo`` restores a file nobody changed since to exactly the
original bytes (or deletes a file setup created), however many times setup ran in between. A
file edited after setup (Claude Code rewrites ``~/.claude.json`` all the time) keeps those edits:
only setup's keys go back to their original values, or away. JSON files are rewritten with
two-space indentation; TOML files through tomlkit, so their comments and layout are kept.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from kimibridge._fs import atomic_write, ensure_private_dir
from kimibridge.errors import ConfigError
from kimibridge.harness.patches import ConfigPatch

__all__ = [
    "FileChange",
    "UndoResult",
    "apply_changes",
    "diff_text",
    "manifest_path",
    "plan_changes",
    "undo_setup",
]

MANIFEST: Final = "manifest.json"


@dataclass(frozen=True, slots=True)
class FileChange:
    path: Path
    before: bytes | None  # None: the file does not exist yet
    after: bytes
    format: Literal["json", "toml"] = "json"
    key_paths: tuple[tuple[str, ...], ...] = ()  # what the patches set, for a key-level undo

    @property
    def changed(self) -> bool:
        return self.before != self.after


@dataclass(frozen=True, slots=True)
class UndoResult:
    restored: list[Path]  # back to the original bytes
    deleted: list[Path]
    # Changed by someone after setup; that copy is kept in the state dir too. Only setup's keys
    # were taken out of them, except those in ``restored_whole``.
    edited_since: list[Path]
    # Edited files put back whole (their edits are only in the kept copy), with the reason.
    restored_whole: dict[Path, str] = field(default_factory=dict)


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}") from None


def _set_json(doc: Any, keys: Sequence[str], value: Any, path: Path) -> Any:
    if not keys:
        return value
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: expected a JSON object where {'.'.join(keys)} goes")
    head, rest = keys[0], keys[1:]
    doc[head] = _set_json(doc.get(head, {}) if rest else None, rest, value, path)
    return doc


def _patch_json(text: bytes | None, patches: Sequence[ConfigPatch], path: Path) -> bytes:
    doc: Any = {}
    if text is not None and text.strip():
        try:
            doc = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc}); fix or move it first") from None
    for p in patches:
        doc = _set_json(doc, p.key_path, p.value, path)
    return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()


def _patch_toml(text: bytes | None, patches: Sequence[ConfigPatch], path: Path) -> bytes:
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        doc = tomlkit.parse(text.decode() if text else "")
    except (TOMLKitError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path} is not valid TOML ({exc}); fix or move it first") from None
    for p in patches:
        if not p.key_path:
            doc = tomlkit.parse(p.value) if isinstance(p.value, str) else tomlkit.item(p.value)
            continue
        table: Any = doc
        for key in p.key_path[:-1]:
            if key not in table:
                table[key] = tomlkit.table()
            table = table[key]
            if not isinstance(table, dict):
                raise ConfigError(f"{path}: {key} is not a table")
        table[p.key_path[-1]] = p.value
    return tomlkit.dumps(doc).encode()


def plan_changes(patches: Sequence[ConfigPatch]) -> list[FileChange]:
    """Every file the patches touch, with its bytes now and after; nothing is written."""
    by_path: dict[Path, list[ConfigPatch]] = {}
    for p in patches:
        by_path.setdefault(p.path, []).append(p)
    changes = []
    for path, group in by_path.items():
        formats = {p.format for p in group}
        if len(formats) != 1:
            raise ConfigError(f"{path}: patched both as JSON and as TOML")
        before = _read(path)
        fmt = group[0].format
        patch = _patch_json if fmt == "json" else _patch_toml
        keys = tuple(dict.fromkeys(p.key_path for p in group))
        changes.append(FileChange(path, before, patch(before, group, path), fmt, keys))
    return changes


def diff_text(change: FileChange) -> str:
    before = (change.before or b"").decode(errors="replace").splitlines(keepends=True)
    after = change.after.decode(errors="replace").splitlines(keepends=True)
    old = str(change.path) if change.before is not None else "/dev/null"
    return "".join(difflib.unified_diff(before, after, old, str(change.path)))


def manifest_path(state_dir: Path, harness: str) -> Path:
    return state_dir / "setup" / harness / MANIFEST


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {"files": {}}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the setup record {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ConfigError(f"the setup record {path} is damaged")
    return data


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def apply_changes(changes: Sequence[FileChange], state_dir: Path, harness: str) -> list[Path]:
    """Write the changes (atomically), recording first what undo needs. Returns the files written."""
    record = manifest_path(state_dir, harness)
    ensure_private_dir(record.parent)
    manifest = _load_manifest(record)
    files: dict[str, Any] = manifest["files"]
    written = []
    for change in changes:
        if not change.changed:
            continue
        key = str(change.path)
        entry = files.get(key)
        if entry is None:  # the first setup to touch it: remember the user's original
            entry = {"existed": change.before is not None, "backup": None, "created_dirs": []}
            entry["format"] = change.format
            entry["keys"] = []
            if change.before is not None:
                backup = record.parent / f"{len(files):03d}-{change.path.name}"
                atomic_write(backup, change.before)
                entry["backup"] = backup.name
                entry["mode"] = change.path.stat().st_mode & 0o7777
            else:
                entry["created_dirs"] = [str(d) for d in _missing_dirs(change.path.parent)]
            files[key] = entry
        # A record from before key paths were kept has no "keys": it stays a whole-file undo.
        if isinstance(entry.get("keys"), list):
            known = [list(k) for k in entry["keys"]]
            known += [list(k) for k in change.key_paths if list(k) not in known]
            entry["keys"] = known
        # The record is on disk before the file changes: a crash leaves an undoable state.
        entry["after"] = _sha(change.after)
        atomic_write(record, json.dumps(manifest, indent=2) + "\n")
        mode = int(entry.get("mode", 0o600))
        atomic_write(change.path, change.after, mode=mode)
        os.chmod(change.path, mode)
        written.append(change.path)
    return written


def _missing_dirs(directory: Path) -> list[Path]:
    out = []
    while not directory.exists():
        out.append(directory)
        directory = directory.parent
    return out  # deepest first: the order undo removes them in


class _CannotMerge(Exception):
    """The edited file cannot take a key-level undo; the reason is the message."""


def _parse(text: bytes | None, fmt: str) -> Any:
    """The document in ``text`` (a missing or blank file is an empty one)."""
    if fmt == "json":
        if text is None or not text.strip():
            return {}
        try:
            return json.loads(text)
        except ValueError:
            raise _CannotMerge("it no longer parses as JSON") from None
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    try:
        return tomlkit.parse(text.decode() if text else "")
    except (TOMLKitError, UnicodeDecodeError):
        raise _CannotMerge("it no longer parses as TOML") from None


_ABSENT: Final = object()


def _lookup(doc: Any, keys: Sequence[str]) -> Any:
    for key in keys:
        if not isinstance(doc, dict) or key not in doc:
            return _ABSENT
        doc = doc[key]
    return doc


def _put_back(doc: Any, original: Any, keys: Sequence[str], fmt: str) -> None:
    """Set ``keys`` in ``doc`` to its value in ``original``, or delete it (and the parents setup
    created that are now empty) when ``original`` did not have it."""
    value = _lookup(original, keys)
    if value is _ABSENT:
        parent = _lookup(doc, keys[:-1])
        if isinstance(parent, dict) and keys[-1] in parent:
            del parent[keys[-1]]
        for depth in range(len(keys) - 1, 0, -1):
            node = _lookup(doc, keys[:depth])
            if _lookup(original, keys[:depth]) is not _ABSENT or node != {}:
                break
            del _lookup(doc, keys[: depth - 1])[keys[depth - 1]]
        return
    table: Any = doc
    for key in keys[:-1]:
        if key not in table:
            table[key] = {} if fmt == "json" else _toml_table()
        table = table[key]
        if not isinstance(table, dict):
            raise _CannotMerge(f"{'.'.join(keys)} no longer sits in an object")
    table[keys[-1]] = value


def _toml_table() -> Any:
    import tomlkit

    return tomlkit.table()


def _without_our_keys(now: bytes, original: bytes | None, entry: dict[str, Any]) -> bytes:
    """``now`` with every key setup set back to the original's value, or gone."""
    keys = [tuple(k) for k in entry["keys"]]
    if () in keys:
        raise _CannotMerge("kimibridge wrote the whole file")
    fmt = str(entry.get("format", "json"))
    doc, orig = _parse(now, fmt), _parse(original, fmt)
    if not isinstance(doc, dict):
        raise _CannotMerge("it is no longer a JSON object")
    for k in sorted(keys, key=len, reverse=True):  # deepest first: a parent's value wins
        _put_back(doc, orig, k, fmt)
    if fmt == "json":
        return (json.dumps(doc, indent=2, ensure_ascii=False) + "\n").encode()
    import tomlkit

    # A table setup appended leaves its blank separator line behind: end as the original did.
    text = tomlkit.dumps(doc).rstrip("\n")
    ending = len(original) - len(original.rstrip(b"\n")) if original else 1
    return (text + "\n" * ending if text else "").encode()


def undo_setup(state_dir: Path, harness: str) -> UndoResult | None:
    """Put every file setup touched back as it was; None when there is nothing to undo.

    A file nobody changed since setup gets its original bytes back (or is deleted if setup
    created it). A file edited since keeps the edits: only setup's keys are put back, unless it
    no longer parses or its record predates key paths; then it is restored whole, as before.
    Either way the edited file is also kept in the state dir.
    """
    record = manifest_path(state_dir, harness)
    if not record.exists():
        return None
    manifest = _load_manifest(record)
    restored, deleted, edited = [], [], []
    whole: dict[Path, str] = {}
    created_dirs: set[Path] = set()
    for key, entry in manifest["files"].items():
        path = Path(key)
        now = _read(path)
        original = (record.parent / entry["backup"]).read_bytes() if entry["existed"] else None
        if now is not None and _sha(now) != entry.get("after"):
            edited.append(path)
            atomic_write(record.parent / f"edited-{path.name}", now)
            try:
                if not isinstance(entry.get("keys"), list):
                    raise _CannotMerge("its setup record predates key-level undo")
                merged = _without_our_keys(now, original, entry)
            except _CannotMerge as exc:
                whole[path] = str(exc)
            else:
                mode = int(entry.get("mode", path.stat().st_mode & 0o7777))
                atomic_write(path, merged, mode=mode)
                os.chmod(path, mode)
                continue  # a file setup created stays: it holds someone else's content now
        if original is not None:
            mode = int(entry.get("mode", 0o600))
            atomic_write(path, original, mode=mode)
            os.chmod(path, mode)
            restored.append(path)
        else:
            if now is not None:
                path.unlink()
                deleted.append(path)
            created_dirs.update(Path(d) for d in entry.get("created_dirs", []))
    # After every file: one file's directory may hold another file setup created.
    for d in sorted(created_dirs, key=lambda d: len(d.parts), reverse=True):
        # Not empty (the user put something there) or gone: leave it.
        with contextlib.suppress(OSError):
            d.rmdir()
    if not edited:
        for f in record.parent.iterdir():
            f.unlink()
        record.parent.rmdir()
    else:
        record.unlink()
    return UndoResult(restored, deleted, edited, whole)
