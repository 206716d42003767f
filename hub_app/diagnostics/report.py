"""The diagnostic report: a zip for a support ticket, with every secret removed.

Secrets are removed by key (``pass``, ``secret``, ``auth``, ... anywhere in the JSON) and by value
(every known secret, in its usual spellings, anywhere in any member); ``find_secrets`` checks a
written zip once more. ``write_report`` is blocking: run it in an executor.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hub_app.provisioning.recorder import FlightRecorder, is_secret_key

__all__ = ["REDACTED", "ReportContent", "build_members", "find_secrets", "write_report"]

REDACTED = "«redacted»"


@dataclass
class ReportContent:
    """What goes into a report (every part optional)."""

    device_id: str
    info: Mapping[str, Any] | None = None
    wifi_status: Mapping[str, Any] | None = None
    boot_state: Mapping[str, Any] | None = None
    config: Mapping[str, Any] | None = None
    log_text: str = ""
    flight_recorder_json: str | None = None
    rpc_history: list[dict[str, Any]] = field(default_factory=list)
    connectivity: Mapping[str, Any] | None = None
    app_version: str = ""


class _Scrubber:
    def __init__(self, secrets: Iterable[str]) -> None:
        self._recorder = FlightRecorder()
        for secret in secrets:
            self._recorder.add_secret(secret)

    def value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            out: dict[str, Any] = {}
            for key, item in data.items():
                key_text = str(key)
                if (is_secret_key(key_text) and not key_text.endswith("_set")
                        and item not in (None, "", False, True)):
                    out[self.text(key_text)] = REDACTED
                else:
                    out[self.text(key_text)] = self.value(item)
            return out
        if isinstance(data, (list, tuple)):
            return [self.value(v) for v in data]
        if isinstance(data, str):
            return self.text(data)
        return data

    def text(self, text: str) -> str:
        return self._recorder.redact_text(text).replace("«redacted»", REDACTED)


def _json(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False, default=str)


def build_members(content: ReportContent, secrets: Iterable[str] = ()) -> dict[str, bytes]:
    """The zip members (name -> bytes), secrets removed by key and by value."""
    scrub = _Scrubber(secrets)
    created = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
    members: dict[str, str] = {}
    members["info.json"] = _json(scrub.value({
        "device_id": content.device_id, "info": content.info, "wifi_status": content.wifi_status,
        "ota_boot_state": content.boot_state}))
    if content.config is not None:
        members["config.json"] = _json(scrub.value(content.config))
    members["log.txt"] = scrub.text(content.log_text or "(no log lines were fetched)") + "\n"
    if content.flight_recorder_json:
        members["setup-flight-recorder.json"] = scrub.text(content.flight_recorder_json)
    members["rpc-console.json"] = _json(scrub.value(content.rpc_history))
    if content.connectivity is not None:
        members["connectivity.json"] = _json(scrub.value(content.connectivity))
    listing = "\n".join(f"- {name}" for name in members)
    members["README.txt"] = (
        f"Home Hub diagnostic report for {content.device_id}\n"
        f"Created {created} by Home Hub {content.app_version}\n\n"
        f"Passwords, the light's key and other secrets have been removed.\n\nFiles:\n{listing}\n")
    return {name: text.encode("utf-8") for name, text in members.items()}


def write_report(path: str | os.PathLike[str], members: Mapping[str, bytes]) -> Path:
    """Write the zip atomically (blocking). -> the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".report-", suffix=".zip", dir=target.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for name, data in members.items():
                archive.writestr(name, data)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def find_secrets(path: str | os.PathLike[str], secrets: Iterable[str]) -> list[str]:
    """The members of the zip at ``path`` that contain any of ``secrets`` (blocking)."""
    wanted = [s for s in secrets if s]
    hits: list[str] = []
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            text = archive.read(name).decode("utf-8", "replace")
            if any(s in text or json.dumps(s)[1:-1] in text for s in wanted):
                hits.append(name)
    return hits
