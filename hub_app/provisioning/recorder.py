"""The flight recorder of a provisioning run.

Timestamps every step transition, user action, progress message, RPC (through the device
client's ``trace`` callback) and Wi-Fi adapter / discovery event, and exports them as JSON for the
diagnostic report. Secrets never leave it:

* by key: values under keys that name a secret (``pass``, ``password``, ``secret``,
  ``setup_code``, ``auth``, ...) are replaced when recorded;
* by value: every secret the flow has seen is registered with ``add_secret()`` (also in its
  other spellings: upper / lower case, with a dash, JSON- and URL-escaped) and every occurrence in
  any string is replaced, when recorded and again, over the whole text, at export.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from hub_app.atomicfile import write_file_atomically

__all__ = ["REDACTED", "FlightRecorder", "is_secret_key"]

REDACTED = "«redacted»"
FORMAT = "hub-provisioning-flight-recorder"
VERSION = 1

_SECRET_KEYS = frozenset({
    "pass", "password", "passwd", "psk", "secret", "hub_secret", "lan_secret", "setup_code",
    "code_typed", "auth", "authorization", "www-authenticate", "cnonce", "token",
})
_SECRET_SUFFIXES = ("_pass", ".pass", "password", "secret", "setup_code")
#: values shorter than this are not scrubbed by value (they would mangle unrelated text)
MIN_SECRET_LENGTH = 4


def is_secret_key(key: str) -> bool:
    """Whether a value stored under ``key`` is a secret (by name)."""
    lowered = key.lower()
    return lowered in _SECRET_KEYS or lowered.endswith(_SECRET_SUFFIXES)


def _variants(value: str) -> set[str]:
    """The spellings under which a secret may show up in text."""
    forms = {value, value.upper(), value.lower()}
    compact = value.replace("-", "").replace(" ", "")
    forms |= {compact, compact.upper(), compact.lower()}
    if len(compact) == 8:  # a setup code is printed as XXXX-XXXX
        forms |= {f"{compact[:4]}-{compact[4:]}".upper(), f"{compact[:4]}-{compact[4:]}".lower()}
    more: set[str] = set()
    for form in forms:
        more.add(json.dumps(form)[1:-1])
        more.add(json.dumps(form, ensure_ascii=False)[1:-1])
        more.add(urllib.parse.quote(form, safe=""))
        more.add(urllib.parse.quote_plus(form, safe=""))
    forms |= more
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def _plain(value: Any) -> Any:
    """JSON-ready copy of ``value`` (dataclasses, mappings, sequences, exceptions, others)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_plain(v) for v in value]
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if hasattr(value, "__dict__"):
        return {k: _plain(v) for k, v in vars(value).items() if not k.startswith("_")}
    return repr(value)


class FlightRecorder:
    """Collects the events of one provisioning run. Thread-safe appends; export is a snapshot."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._start = clock()
        self._started_at = _dt.datetime.now(_dt.UTC)
        self._events: list[dict[str, Any]] = []
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"FlightRecorder(events={len(self._events)}, secrets={len(self._secrets)})"

    # --- secrets ---------------------------------------------------------------------------
    def add_secret(self, value: str | None) -> None:
        """Register a secret value: it is scrubbed from every event (past ones at export)."""
        if value and len(value) >= MIN_SECRET_LENGTH:
            with self._lock:
                self._secrets |= _variants(value)

    def redact_text(self, text: str) -> str:
        """``text`` with every registered secret (in any of its spellings) replaced."""
        for secret in sorted(self._secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def redact(self, value: Any) -> Any:
        """A JSON-ready copy of ``value`` with secrets removed by key and by value."""
        plain = _plain(value)
        return self._scrub(plain)

    def _scrub(self, value: Any) -> Any:
        if isinstance(value, dict):
            out: dict[str, Any] = {}
            for key, item in value.items():
                if is_secret_key(key) and item not in (None, "", False, True):
                    out[key] = REDACTED
                else:
                    out[self.redact_text(key)] = self._scrub(item)
            return out
        if isinstance(value, list):
            return [self._scrub(v) for v in value]
        if isinstance(value, str):
            return self.redact_text(value)
        return value

    # --- recording -------------------------------------------------------------------------
    def record(self, kind: str, **fields: Any) -> None:
        """Append an event ``{t, ts, kind, **fields}`` (fields redacted)."""
        now = self._clock()
        event = {"t": round(now - self._start, 6),
                 "ts": _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds"),
                 "kind": kind}
        event.update(self.redact(fields))
        with self._lock:
            self._events.append(event)

    def step(self, from_step: str | None, to_step: str, **fields: Any) -> None:
        """A step transition."""
        self.record("step", from_step=from_step, to_step=to_step, **fields)

    def user_action(self, step_id: str, action: str, user_input: Mapping[str, Any] | None = None,
                    secret_fields: tuple[str, ...] = ()) -> None:
        """Something the user did (submit, back, cancel); ``secret_fields`` are blanked."""
        data: dict[str, Any] = {}
        for key, value in (user_input or {}).items():
            if key in secret_fields:
                data[key] = REDACTED if value else value
            else:
                data[key] = value
        self.record("user", step_id=step_id, action=action, input=data)

    def rpc(self, trace: Any) -> None:
        """The device client's ``trace`` callback: one event per RPC (an ``RpcTrace``)."""
        self.record("rpc", **{"trace": trace})

    def event(self, source: str, name: str, **fields: Any) -> None:
        """An adapter / discovery / flow event (``source`` e.g. "adapter", "discovery")."""
        self.record("event", source=source, name=name, **fields)

    # --- reading ---------------------------------------------------------------------------
    @property
    def events(self) -> list[dict[str, Any]]:
        """A redacted copy of the events so far."""
        with self._lock:
            events = list(self._events)
        return [self._scrub(e) for e in events]

    def rpc_traces(self) -> list[dict[str, Any]]:
        """The recorded RpcTrace data, in order."""
        return [e["trace"] for e in self.events if e["kind"] == "rpc"]

    def export_data(self) -> dict[str, Any]:
        """The whole record as JSON-ready data, secrets removed."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "started_at": self._started_at.isoformat(timespec="milliseconds"),
            "events": self.events,
        }

    def export_text(self) -> str:
        """The JSON text of ``export_data()``, scanned once more for every secret's spelling."""
        text = json.dumps(self.export_data(), ensure_ascii=False, indent=1)
        scrubbed = self.redact_text(text)
        if scrubbed != text:
            try:
                json.loads(scrubbed)
            except ValueError:  # a secret that looked like JSON syntax: drop the events
                return json.dumps({"format": FORMAT, "version": VERSION, "events": [],
                                   "note": "events withheld: could not redact safely"})
        return scrubbed

    def export(self, path: str | os.PathLike[str]) -> Path:
        """Write the export atomically to ``path`` (JSON). -> the path."""
        target = Path(path)
        write_file_atomically(target, self.export_text().encode("utf-8"))
        return target
