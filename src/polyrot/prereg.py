"""preregistration.md: the registered block, dated amendments, the lock, verdict provenance.

The document holds one fenced block tagged ``yaml prereg`` (hypotheses, bars, thresholds)
and any number of blocks tagged ``yaml amendment`` (``date``, ``reason``, ``changes``: a
map from dotted keys to new values; an existing key is amended, a new key under an existing
mapping, such as ``claims.X``, registers something new). Thresholds live nowhere else.

``preregistration.lock`` (committed) holds the sha256 of the registered block's content
and of each amendment, in order. ``load()`` refuses a document whose registered block or a
locked amendment no longer matches the lock (a silent edit), and one with amendments that
were never locked. ``python -m polyrot.prereg lock`` records new amendments; it re-registers
an edited registered block only with ``--reregister`` and only while no verdict exists.
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from polyrot import atomic

_BLOCK = re.compile(r"^```yaml[ \t]+(prereg|amendment)[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


class PreregError(RuntimeError):
    """The preregistration is malformed, or was edited without a locked amendment."""


@dataclass(frozen=True)
class Amendment:
    date: str
    reason: str
    changes: dict[str, Any]
    sha256: str


@dataclass(frozen=True)
class Preregistration:
    """A parsed, lock-checked preregistration."""

    path: Path
    file_sha256: str
    registered: dict[str, Any]
    registered_sha256: str
    amendments: tuple[Amendment, ...]

    @property
    def effective(self) -> dict[str, Any]:
        """The registered block with every amendment applied in order."""
        out = copy.deepcopy(self.registered)
        for a in self.amendments:
            for key, value in a.changes.items():
                _set_dotted(out, key, value)
        return out

    def bar(self, name: str) -> dict[str, Any]:
        """The effective specification of bar ``name`` (threshold, comparison, ...)."""
        bars = self.effective.get("bars", {})
        if name not in bars:
            raise PreregError(f"preregistration {self.path} registers no bar {name!r} (has {sorted(bars)})")
        return bars[name]

    def claim(self, name: str) -> dict[str, Any]:
        claims = self.effective.get("claims", {})
        if name not in claims:
            raise PreregError(f"preregistration {self.path} registers no claim {name!r}")
        return claims[name]

    def provenance(self) -> dict[str, Any]:
        """What every verdict records about the preregistration it was judged under."""
        return {
            "path": str(self.path),
            "sha256": self.file_sha256,
            "registered": str(self.registered.get("registered")),
            "registered_sha256": self.registered_sha256,
            "amendments": [
                {"date": a.date, "reason": a.reason, "changes": a.changes, "sha256": a.sha256} for a in self.amendments
            ],
        }


def content_hash(obj: Any) -> str:
    """sha256 of a block's parsed content (so comments and layout may change, values may not)."""
    text = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _set_dotted(obj: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = obj
    for p in parts[:-1]:
        if not isinstance(node, dict) or p not in node:
            raise PreregError(f"amendment changes {key!r}, which is not a key of the registered block")
        node = node[p]
    if not isinstance(node, dict):
        raise PreregError(f"amendment changes {key!r}, whose parent is not a mapping")
    node[parts[-1]] = value  # an existing key is amended; a new key registers something new


def _date(value: Any, where: str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError as exc:
        raise PreregError(f"{where}: date {value!r} is not YYYY-MM-DD") from exc


def parse(path: str | Path) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    """The registered block, the amendment blocks (in document order) and the file's sha256."""
    path = Path(path)
    if not path.exists():
        raise PreregError(f"preregistration {path} does not exist")
    raw = path.read_bytes()
    text = raw.decode()
    registered = None
    amendments = []
    for kind, body in _BLOCK.findall(text):
        try:
            data = yaml.safe_load(body)
        except yaml.YAMLError as exc:
            raise PreregError(f"{path}: a `yaml {kind}` block is not valid YAML: {exc}") from exc
        if not isinstance(data, dict):
            raise PreregError(f"{path}: a `yaml {kind}` block must be a mapping")
        if kind == "prereg":
            if registered is not None:
                raise PreregError(f"{path}: more than one `yaml prereg` block")
            registered = data
        else:
            amendments.append(data)
    if registered is None:
        raise PreregError(f"{path}: no fenced block tagged `yaml prereg`")
    return registered, amendments, hashlib.sha256(raw).hexdigest()


def _check_amendments(registered: dict[str, Any], blocks: list[dict[str, Any]]) -> list[Amendment]:
    reg_date = _date(registered.get("registered"), "registered block")
    last = reg_date
    out = []
    probe = copy.deepcopy(registered)
    for i, b in enumerate(blocks, 1):
        missing = {"date", "reason", "changes"} - set(b)
        if missing:
            raise PreregError(f"amendment {i} lacks {sorted(missing)}")
        date = _date(b["date"], f"amendment {i}")
        if date < last:
            raise PreregError(f"amendment {i} is dated {date}, before the previous entry ({last})")
        if not isinstance(b["changes"], dict) or not b["changes"]:
            raise PreregError(f"amendment {i}: changes must be a non-empty mapping of dotted keys")
        for key, value in b["changes"].items():
            _set_dotted(probe, key, value)
        last = date
        out.append(Amendment(str(date), str(b["reason"]), dict(b["changes"]), content_hash(b)))
    return out


def _check_locked_amendments(path: Path, amendments: list[Amendment], locked: list[dict[str, Any]]) -> None:
    """Every locked amendment is still there, unchanged and in order (append-only)."""
    for i, entry in enumerate(locked):
        if i >= len(amendments) or amendments[i].sha256 != entry["sha256"]:
            raise PreregError(
                f"locked amendment {i + 1} (dated {entry.get('date')}) of {path} was edited or removed; "
                "amendments are append-only"
            )


def load(path: str | Path, lock_path: str | Path) -> Preregistration:
    """Parse ``path`` and check it against ``lock_path``; raise ``PreregError`` on any edit
    that did not go through a locked, dated amendment."""
    path, lock_path = Path(path), Path(lock_path)
    registered, blocks, file_sha = parse(path)
    amendments = _check_amendments(registered, blocks)
    reg_sha = content_hash(registered)
    if not lock_path.exists():
        raise PreregError(f"no lock file {lock_path}: run `python -m polyrot.prereg lock` once to register {path}")
    lock = json.loads(lock_path.read_text())
    if lock.get("registered_sha256") != reg_sha:
        raise PreregError(
            f"the registered block of {path} was edited after registration "
            f"(locked sha256 {lock.get('registered_sha256', '?')[:12]}…, now {reg_sha[:12]}…). "
            "Thresholds and hypotheses may change only through a dated `yaml amendment` block, "
            "recorded with `python -m polyrot.prereg lock`; restore the registered block."
        )
    locked = lock.get("amendments", [])
    _check_locked_amendments(path, amendments, locked)
    if len(amendments) > len(locked):
        new = ", ".join(a.date for a in amendments[len(locked) :])
        raise PreregError(
            f"{path} has amendment(s) dated {new} that are not locked yet: "
            "run `python -m polyrot.prereg lock` to record them"
        )
    return Preregistration(path, file_sha, registered, reg_sha, tuple(amendments))


def write_lock(
    path: str | Path, lock_path: str | Path, reregister: bool = False, results_dir: str | Path | None = None
) -> dict:
    """Record the registered block (first time) and any new amendments in ``lock_path``."""
    path, lock_path = Path(path), Path(lock_path)
    registered, blocks, _ = parse(path)
    amendments = _check_amendments(registered, blocks)
    reg_sha = content_hash(registered)
    lock = json.loads(lock_path.read_text()) if lock_path.exists() else None
    if lock is not None and lock["registered_sha256"] != reg_sha:
        verdicts = sorted(Path(results_dir).glob("**/bars/*.json")) if results_dir else []
        if not reregister:
            raise PreregError(
                f"the registered block of {path} differs from the lock; record changes as a dated amendment "
                "(or, before any result exists, pass --reregister)"
            )
        if verdicts:
            raise PreregError(f"refusing to re-register: verdicts already exist ({verdicts[0]} …)")
        lock = None
    _check_locked_amendments(path, amendments, [] if lock is None else lock["amendments"])
    new_lock = {
        "document": path.name,
        "registered": str(registered.get("registered")),
        "registered_sha256": reg_sha,
        "amendments": [{"date": a.date, "sha256": a.sha256} for a in amendments],
    }
    atomic.write_json(lock_path, new_lock)
    return new_lock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m polyrot.prereg", description="Check or lock preregistration.md")
    sub = parser.add_subparsers(dest="cmd", required=True)
    for name in ("check", "lock"):
        p = sub.add_parser(name)
        p.add_argument("--document", default="preregistration.md")
        p.add_argument("--lock", default="preregistration.lock")
        if name == "lock":
            p.add_argument(
                "--reregister", action="store_true", help="replace the registered block (only before results)"
            )
            p.add_argument("--results", default="results", help="results directory to look for verdicts in")
    args = parser.parse_args(argv)
    try:
        if args.cmd == "check":
            reg = load(args.document, args.lock)
            print(json.dumps(reg.provenance(), indent=2))
        else:
            lock = write_lock(args.document, args.lock, args.reregister, args.results)
            print(
                f"locked {args.document}: registered {lock['registered_sha256'][:12]}…, {len(lock['amendments'])} amendment(s)"
            )
    except PreregError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
