"""Hub settings: which backend, how to reach it, where discovery runs. JSON in the user config
dir (atomic writes); passwords never here (they go to the ``SecretStore``, kind ``broker``)."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Literal, get_args

import platformdirs

from .jsonfile import read_json_async, write_json_async

#: overrides the config directory (tests, portable installs)
CONFIG_DIR_ENV = "HOME_HUB_CONFIG_DIR"
SETTINGS_FILE = "settings.json"

BackendChoice = Literal["embedded", "mqtt", "aws", "lan"]
BACKEND_CHOICES: tuple[str, ...] = get_args(BackendChoice)


def default_config_dir() -> Path:
    """Where settings live (``$HOME_HUB_CONFIG_DIR`` or platformdirs' user config dir)."""
    override = os.environ.get(CONFIG_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_config_dir("home-hub", appauthor=False))


@dataclass(frozen=True)
class MqttSettings:
    """An external broker (the password is in the keyring under ``broker``/``mqtt``)."""

    host: str = "localhost"
    port: int = 1883
    username: str = ""
    tls: bool = False
    ca_file: str = ""
    cert_file: str = ""
    key_file: str = ""
    keepalive: int = 30
    protocol: Literal["3.1.1", "5"] = "3.1.1"


@dataclass(frozen=True)
class EmbeddedSettings:
    """The hub's own broker: where it listens and the address lights are told to use.

    ``tls``: lights connect over TLS and verify the broker with the hub's CA (default; settings
    files from before TLS existed load with ``tls`` off, since their lights were paired without
    it). ``plain_listener``: also accept connections without TLS on ``plain_port`` (for old
    devices; off). ``tls_names``: extra host names / addresses for the server certificate,
    separated by commas or spaces."""

    host: str = "0.0.0.0"
    port: int = 8883
    advertise_host: str = ""  # empty: this PC's address on the default route
    tls: bool = True
    plain_listener: bool = False
    plain_port: int = 1883
    tls_names: str = ""

    def tls_name_list(self) -> list[str]:
        return [name for name in self.tls_names.replace(",", " ").split() if name]


@dataclass(frozen=True)
class HubSettings:
    """Everything the user chooses in Settings. ``discovery_interfaces`` empty = all."""

    backend: BackendChoice = "embedded"
    embedded: EmbeddedSettings = field(default_factory=EmbeddedSettings)
    mqtt: MqttSettings = field(default_factory=MqttSettings)
    discovery_interfaces: tuple[str, ...] = ()
    ap_scan_interval_s: float = 10.0
    remembered_networks: tuple[str, ...] = ()  # SSIDs only; passwords in the keyring

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["discovery_interfaces"] = list(self.discovery_interfaces)
        data["remembered_networks"] = list(self.remembered_networks)
        data["version"] = 1
        return data

    @classmethod
    def from_json(cls, data: Any) -> HubSettings:
        """Settings from JSON; unknown keys are ignored and bad values fall back to defaults."""
        if not isinstance(data, dict):
            return cls()
        defaults = cls()
        backend = data.get("backend")
        embedded = _sub(EmbeddedSettings, data.get("embedded"))
        raw_embedded = data.get("embedded")
        if isinstance(raw_embedded, dict) and "tls" not in raw_embedded:
            # Written before the broker had TLS: its lights were paired for a plain listener.
            embedded = replace(embedded, tls=False)
        mqtt = _sub(MqttSettings, data.get("mqtt"))
        interfaces = data.get("discovery_interfaces")
        networks = data.get("remembered_networks")
        interval = data.get("ap_scan_interval_s")
        return cls(
            backend=backend if backend in BACKEND_CHOICES else defaults.backend,
            embedded=embedded,
            mqtt=mqtt,
            discovery_interfaces=tuple(str(x) for x in interfaces)
            if isinstance(interfaces, list)
            else (),
            ap_scan_interval_s=float(interval)
            if isinstance(interval, int | float) and interval >= 1
            else defaults.ap_scan_interval_s,
            remembered_networks=tuple(str(x) for x in networks)
            if isinstance(networks, list)
            else (),
        )


def _sub(cls: Any, data: Any) -> Any:
    default = cls()
    if not isinstance(data, dict):
        return default
    values = {}
    for item in fields(cls):
        value = data.get(item.name)
        if value is not None and isinstance(value, type(getattr(default, item.name))):
            values[item.name] = value
    result = replace(default, **values)
    if isinstance(result, MqttSettings) and result.protocol not in ("3.1.1", "5"):
        result = replace(result, protocol="3.1.1")
    return result


async def load_settings(path: Path) -> HubSettings:
    """Read settings (defaults when the file is missing or unreadable)."""
    return HubSettings.from_json(await read_json_async(path))


async def save_settings(path: Path, settings: HubSettings) -> None:
    """Write settings atomically (in an executor)."""
    await write_json_async(path, settings.to_json())
