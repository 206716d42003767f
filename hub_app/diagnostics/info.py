"""Device info for people: rows of (label, value) from Sys.GetInfo and Wifi.GetStatus."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

__all__ = ["format_bytes", "format_duration", "info_rows", "signal_quality"]


def format_duration(seconds: float | int | None) -> str:
    """``3725`` -> ``"1 h 2 min 5 s"``."""
    if seconds is None:
        return "unknown"
    total = int(seconds)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} d")
    if hours or days:
        parts.append(f"{hours} h")
    if minutes or hours or days:
        parts.append(f"{minutes} min")
    parts.append(f"{secs} s")
    return " ".join(parts)


def format_bytes(count: int | None) -> str:
    """``123456`` -> ``"120.6 KiB"``."""
    if count is None:
        return "unknown"
    value = float(count)
    for unit in ("B", "KiB", "MiB"):
        if value < 1024 or unit == "MiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GiB"


def signal_quality(rssi: int | None) -> str:
    """A Wi-Fi signal in words with its dBm."""
    if rssi is None:
        return "unknown"
    words = ("excellent" if rssi >= -55 else "good" if rssi >= -67 else
             "fair" if rssi >= -75 else "weak" if rssi >= -85 else "very weak")
    return f"{words} ({rssi} dBm)"


def _ram(info: Mapping[str, Any]) -> str:
    free, size, low = info.get("ram_free"), info.get("ram_size"), info.get("ram_min_free")
    if free is None or size is None:
        return "unknown"
    text = f"{format_bytes(free)} free of {format_bytes(size)}"
    if low is not None:
        text += f" (lowest {format_bytes(low)})"
    return text


def _last_seen(value: Any, now: _dt.datetime | None) -> str:
    if value is None:
        return "never"
    if isinstance(value, str):
        try:
            value = _dt.datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if isinstance(value, (int, float)):
        value = _dt.datetime.fromtimestamp(value, _dt.UTC)
    if not isinstance(value, _dt.datetime):
        return str(value)
    now = now or _dt.datetime.now(_dt.UTC)
    if value.tzinfo is None:
        value = value.replace(tzinfo=_dt.UTC)
    ago = max(0.0, (now - value).total_seconds())
    stamp = value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return f"{stamp} ({format_duration(ago)} ago)" if ago >= 1 else f"{stamp} (just now)"


def info_rows(info: Mapping[str, Any], wifi: Mapping[str, Any] | None = None, *,
              address: str | None = None, backend: str | None = None,
              last_seen: Any = None, now: _dt.datetime | None = None,
              ) -> list[tuple[str, str]]:
    """The rows of the Device info tab (label, value), in reading order."""
    wifi_info: dict[str, Any] = dict(info.get("wifi") or {})
    wifi_info.update(dict(wifi or {}))
    ota = info.get("ota") or {}
    mqtt = info.get("mqtt") or {}
    firmware = str(info.get("fw_version") or "unknown")
    if info.get("fw_id"):
        firmware += f" (build {info['fw_id']})"
    if ota:
        slot = f"slot {ota.get('active_slot')}"
        firmware += f", {slot}, " + ("committed" if ota.get("is_committed") else
                                     "NOT committed yet")
    addresses = [f"{label}: {wifi_info[key]}" for key, label in
                 (("sta_ip", "home network"), ("ap_ip", "own access point")) if wifi_info.get(key)]
    if address:
        addresses.insert(0, f"hub uses {address}")
    wifi_text = str(wifi_info.get("status") or "unknown")
    if wifi_info.get("ssid"):
        wifi_text += f" to {wifi_info['ssid']}"
    if wifi_info.get("reason"):
        wifi_text += f" (last failure: {wifi_info['reason']})"
    if mqtt:
        backend_text = (f"{backend or 'mqtt'}: broker {mqtt.get('server') or '-'}, " +
                        ("connected" if mqtt.get("connected") else "not connected"))
    else:
        backend_text = backend or "unknown"
    if backend and mqtt and not str(backend).startswith(("mqtt", "aws")):
        backend_text = f"{backend} (light's MQTT: {mqtt.get('server') or 'off'})"
    return [
        ("Name", str(info.get("name") or info.get("id") or "")),
        ("Device id", str(info.get("id") or "unknown")),
        ("Model", f"{info.get('model') or 'unknown'} ({info.get('app') or '?'}, "
                  f"{info.get('arch') or '?'})"),
        ("Firmware", firmware),
        ("Uptime", format_duration(info.get("uptime"))),
        ("Memory", _ram(info)),
        ("Storage", f"{format_bytes(info.get('fs_free'))} free of "
                    f"{format_bytes(info.get('fs_size'))}" if info.get("fs_size") else "unknown"),
        ("Wi-Fi", wifi_text),
        ("Wi-Fi signal", signal_quality(wifi_info.get("rssi"))),
        ("Set-up state", str(info.get("setup_state") or wifi_info.get("setup_state")
                             or "unknown")),
        ("Addresses", ", ".join(addresses) or "none"),
        ("MAC", str(info.get("mac") or "unknown")),
        ("Backend", backend_text),
        ("Last seen", _last_seen(last_seen, now)),
    ]
