"""Paired lights on disk: one atomic JSON file with a schema version.

``Registry(path)`` keeps the paired lights in memory and persists every change by itself
(temp file in the same directory, fsync, ``os.replace``; the write runs in an executor).
Secrets never live here: they go to ``hub_app.registry.secrets.SecretStore``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, get_args

import platformdirs

from hub_app.atomicfile import write_file_atomically

_log = logging.getLogger(__name__)

#: version of the registry file written by this code
SCHEMA_VERSION = 1

#: environment variable that overrides the data directory (tests, portable installs)
DATA_DIR_ENV = "HOME_HUB_DATA_DIR"

REGISTRY_FILE_NAME = "registry.json"

Backend = Literal["embedded", "mqtt", "aws", "lan"]
BACKENDS: tuple[str, ...] = get_args(Backend)

RegistryEventKind = Literal["added", "updated", "removed"]

#: a migration turns a document of version N into one of version N + 1
Migration = Callable[[dict[str, Any]], dict[str, Any]]

#: ``MIGRATIONS[n]`` upgrades a version-``n`` document to version ``n + 1``
MIGRATIONS: dict[int, Migration] = {}

# Keys of ``PairedLight.extra`` that look like secrets are refused: secrets belong in the keyring.
_SECRET_LOOKING_KEY = re.compile(r"secret|pass|token|credential|private|api_?key", re.IGNORECASE)
_ADDRESS = re.compile(
    r"^(?:\[(?P<ip6>[0-9A-Fa-f:.%\w]+)\]|(?P<host>[^\s:\[\]]+)):(?P<port>\d{1,5})$"
)
_TEMP_PREFIX = ".registry-"
_TEMP_SUFFIX = ".tmp"


class RegistryError(Exception):
    """Base class of registry errors; the message is meant for people."""


class RegistryFileError(RegistryError):
    """The registry file cannot be used; ``backup_path`` holds a copy of the bad file."""

    def __init__(self, message: str, path: Path, backup_path: Path | None) -> None:
        super().__init__(message)
        self.path = path
        self.backup_path = backup_path


class RegistryCorruptError(RegistryFileError):
    """The registry file is not valid JSON or does not match the schema."""


class RegistryNewerSchemaError(RegistryFileError):
    """The registry file was written by a newer Home Hub."""

    def __init__(self, message: str, path: Path, backup_path: Path | None, version: int) -> None:
        super().__init__(message, path, backup_path)
        self.version = version


class RegistryNotLoadedError(RegistryError):
    """Saving is refused because the file on disk could not be read (see ``start_empty``)."""


class LightNotFoundError(RegistryError, LookupError):
    """No paired light matches."""


class AmbiguousLightError(RegistryError, LookupError):
    """More than one paired light matches a name."""

    def __init__(self, message: str, matches: list[PairedLight]) -> None:
        super().__init__(message)
        self.matches = matches


class LightAlreadyPairedError(RegistryError):
    """``add`` was called for a device id that is already in the registry."""


def default_data_dir() -> Path:
    """The user's Home Hub data directory (``$HOME_HUB_DATA_DIR`` wins over platformdirs)."""
    override = os.environ.get(DATA_DIR_ENV)
    if override:
        return Path(override)
    return Path(platformdirs.user_data_dir("home-hub", appauthor=False))


def default_registry_path() -> Path:
    """Where the registry file lives by default."""
    return default_data_dir() / REGISTRY_FILE_NAME


def format_address(host: str, port: int) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    if ":" in host and not host.startswith("["):
        return f"[{host}]:{port}"
    return f"{host}:{port}"


def parse_address(address: str) -> tuple[str, int]:
    """Split ``host:port`` (or ``[ipv6]:port``) into host and port; ValueError if malformed."""
    match = _ADDRESS.match(address)
    if not match:
        raise ValueError(f"not a host:port address: {address!r}")
    port = int(match["port"])
    if not 0 < port < 65536:
        raise ValueError(f"port out of range in address {address!r}")
    return (match["ip6"] or match["host"]), port


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def _check_str(name: str, value: object, *, required: bool = False, max_len: int = 256) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name}: must be a string, not {type(value).__name__}")
    if required and not value:
        raise ValueError(f"{name}: must not be empty")
    if len(value) > max_len:
        raise ValueError(f"{name}: longer than {max_len} characters")
    return value


def _check_time(name: str, value: object, *, optional: bool = False) -> datetime | None:
    if value is None and optional:
        return None
    if not isinstance(value, datetime):
        raise ValueError(f"{name}: must be a datetime")
    if value.tzinfo is None:
        raise ValueError(f"{name}: must be timezone-aware")
    return value


def _check_extra(value: object) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("extra: must be an object")
    for key in value:
        if not isinstance(key, str):
            raise ValueError("extra: keys must be strings")
        if _SECRET_LOOKING_KEY.search(key):
            raise ValueError(f"extra: key {key!r} looks like a secret; secrets go to the keyring")
    try:
        json.dumps(dict(value))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"extra: must be JSON-serialisable ({exc})") from None
    return dict(value)


@dataclass(frozen=True)
class PairedLight:
    """One paired light. Validated on construction; ``addresses`` are ``host:port`` strings.

    ``addresses`` may be given as any sequence and is stored as a tuple.
    """

    device_id: str
    name: str = ""
    room: str = ""
    model: str = ""
    fw_version: str = ""
    kind: str = "hublight"
    addresses: Sequence[str] = ()
    backend: Backend = "lan"
    paired_at: datetime = field(default_factory=utc_now)
    last_seen: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        _check_str("device_id", self.device_id, required=True, max_len=128)
        _check_str("name", self.name, max_len=64)
        _check_str("room", self.room, max_len=64)
        _check_str("model", self.model)
        _check_str("fw_version", self.fw_version)
        _check_str("kind", self.kind, required=True)
        if isinstance(self.addresses, str) or not isinstance(self.addresses, Iterable):
            raise ValueError("addresses: must be a list of host:port strings")
        addresses = tuple(self.addresses)
        for address in addresses:
            if not isinstance(address, str):
                raise ValueError("addresses: must be a list of host:port strings")
            parse_address(address)
        object.__setattr__(self, "addresses", addresses)
        if self.backend not in BACKENDS:
            raise ValueError(f"backend: must be one of {', '.join(BACKENDS)}, not {self.backend!r}")
        _check_time("paired_at", self.paired_at)
        _check_time("last_seen", self.last_seen, optional=True)
        object.__setattr__(self, "extra", _check_extra(self.extra))

    @property
    def display_name(self) -> str:
        """The name, or the device id when the light has no name."""
        return self.name or self.device_id

    def to_json(self) -> dict[str, Any]:
        """The JSON form stored on disk (no secrets: the registry holds none)."""
        return {
            "device_id": self.device_id,
            "name": self.name,
            "room": self.room,
            "model": self.model,
            "fw_version": self.fw_version,
            "kind": self.kind,
            "addresses": list(self.addresses),
            "backend": self.backend,
            "paired_at": self.paired_at.isoformat(),
            "last_seen": self.last_seen.isoformat() if self.last_seen else None,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_json(cls, data: object) -> PairedLight:
        """Build from the JSON form; ValueError naming the bad field."""
        if not isinstance(data, dict):
            raise ValueError("a light must be an object")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown field(s): {', '.join(unknown)}")
        if "device_id" not in data:
            raise ValueError("device_id: missing")
        values = dict(data)
        for name in ("paired_at", "last_seen"):
            raw = values.get(name)
            if raw is None:
                if name == "paired_at":
                    raise ValueError("paired_at: missing")
                continue
            if not isinstance(raw, str):
                raise ValueError(f"{name}: must be an ISO 8601 time string")
            try:
                values[name] = datetime.fromisoformat(raw)
            except ValueError:
                raise ValueError(f"{name}: not an ISO 8601 time: {raw!r}") from None
        addresses = values.get("addresses", [])
        if not isinstance(addresses, list):
            raise ValueError("addresses: must be a list of host:port strings")
        return cls(**values)


@dataclass(frozen=True)
class RegistryEvent:
    """A change of the registry: ``kind`` is added / updated / removed."""

    kind: RegistryEventKind
    light: PairedLight


@dataclass(frozen=True)
class ImportResult:
    """What ``Registry.import_`` changed, as device ids."""

    added: tuple[str, ...]
    updated: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]


class DiscoveredLight(Protocol):
    """What the registry needs from a ``hub_app.discovery`` light."""

    @property
    def device_id(self) -> str: ...

    @property
    def addresses(self) -> Iterable[str]: ...

    @property
    def port(self) -> int: ...


class DiscoveryEvent(Protocol):
    """What the registry needs from a ``hub_app.discovery`` event."""

    @property
    def kind(self) -> str: ...

    @property
    def light(self) -> DiscoveredLight: ...


class DiscoverySource(Protocol):
    """Anything with ``subscribe(callback) -> unsubscribe`` (``LanDiscovery``)."""

    def subscribe(self, callback: Callable[[Any], None]) -> Callable[[], None]: ...


def _backup_path_for(path: Path, reason: str) -> Path:
    stamp = utc_now().strftime("%Y%m%dT%H%M%S")
    candidate = path.with_name(f"{path.name}.{reason}-{stamp}")
    counter = 1
    while candidate.exists():
        candidate = path.with_name(f"{path.name}.{reason}-{stamp}-{counter}")
        counter += 1
    return candidate


def _migrate(document: dict[str, Any], version: int) -> dict[str, Any]:
    while version < SCHEMA_VERSION:
        migration = MIGRATIONS.get(version)
        if migration is None:
            raise ValueError(f"no migration from schema version {version}")
        document = migration(document)
        version += 1
        document["schema_version"] = version
    return document


class Registry:
    """The paired lights, persisted to ``path`` (default: ``default_registry_path()``).

    Call ``await load()`` once; every mutator (``add``, ``update``, ``remove``,
    ``update_address``, ``import_``) persists by itself. ``subscribe(cb)`` reports changes.
    """

    #: a last_seen-only change is written to disk at most this often (seconds)
    LAST_SEEN_PERSIST_INTERVAL = 300.0

    def __init__(self, path: Path | str | None = None) -> None:
        self.path = Path(path) if path is not None else default_registry_path()
        self._lights: dict[str, PairedLight] = {}
        self._subscribers: list[Callable[[RegistryEvent], None]] = []
        self._save_lock = asyncio.Lock()
        self._pending_save: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._load_failed: RegistryFileError | None = None
        self._persisted: dict[str, PairedLight] = {}  # what the file on disk holds

    def __repr__(self) -> str:
        return f"Registry(path={str(self.path)!r}, lights={len(self._lights)})"

    # -- reading -----------------------------------------------------------------------------

    def get(self, device_id: str) -> PairedLight | None:
        """The light with this device id, or None."""
        return self._lights.get(device_id)

    def all(self) -> list[PairedLight]:
        """Every paired light, sorted by room, then name, then device id."""
        return sorted(self._lights.values(), key=lambda x: (x.room, x.display_name, x.device_id))

    def rooms(self) -> list[str]:
        """The distinct non-empty rooms, sorted."""
        return sorted({light.room for light in self._lights.values() if light.room})

    def __len__(self) -> int:
        return len(self._lights)

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._lights

    def resolve(self, query: str) -> PairedLight:
        """Find a light by device id, by name (case-insensitive) or by one of its addresses.

        Raises ``LightNotFoundError`` or ``AmbiguousLightError``.
        """
        if query in self._lights:
            return self._lights[query]
        by_name = [x for x in self._lights.values() if x.name.casefold() == query.casefold()]
        if len(by_name) == 1:
            return by_name[0]
        if len(by_name) > 1:
            ids = ", ".join(sorted(x.device_id for x in by_name))
            raise AmbiguousLightError(
                f"{len(by_name)} lights are called {query!r} ({ids}); use a device id", by_name
            )
        by_address = [x for x in self._lights.values() if query in x.addresses]
        if len(by_address) == 1:
            return by_address[0]
        if len(by_address) > 1:
            raise AmbiguousLightError(f"several lights list the address {query}", by_address)
        raise LightNotFoundError(f"no paired light matches {query!r}")

    # -- events ------------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[RegistryEvent], None]) -> Callable[[], None]:
        """Call ``callback(RegistryEvent)`` on every change; returns the unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, kind: RegistryEventKind, light: PairedLight) -> None:
        event = RegistryEvent(kind, light)
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                _log.exception("registry subscriber failed on %s %s", kind, light.device_id)

    # -- loading -----------------------------------------------------------------------------

    async def load(self) -> None:
        """Read the file (a missing file is an empty registry).

        A corrupt or newer-schema file raises ``RegistryCorruptError`` /
        ``RegistryNewerSchemaError`` after copying it aside (``error.backup_path``); saving is
        then refused until ``start_empty()`` so nothing is overwritten by accident.
        """
        loop = asyncio.get_running_loop()
        try:
            lights, migrated_from = await loop.run_in_executor(None, self._read_blocking)
        except RegistryFileError as exc:
            self._load_failed = exc
            self._lights = {}
            raise
        self._load_failed = None
        self._lights = {light.device_id: light for light in lights}
        self._persisted = dict(self._lights)
        if migrated_from is not None:
            _log.info("registry migrated from schema %d to %d", migrated_from, SCHEMA_VERSION)
            await self.save()

    def _read_blocking(self) -> tuple[list[PairedLight], int | None]:
        self._remove_stale_temp_files()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return [], None
        try:
            lights, version = self._parse(raw, self.path)
        except RegistryNewerSchemaError as exc:
            backup = self._backup_blocking("newer")
            raise RegistryNewerSchemaError(
                f"{exc} A copy was kept at {backup}.", self.path, backup, exc.version
            ) from None
        except ValueError as exc:
            backup = self._backup_blocking("corrupt")
            raise RegistryCorruptError(
                f"The list of paired lights in {self.path} cannot be read ({exc}). "
                f"A copy of the damaged file was kept at {backup}.",
                self.path,
                backup,
            ) from None
        if version < SCHEMA_VERSION:
            self._backup_blocking(f"v{version}")
            return lights, version
        return lights, None

    @staticmethod
    def _parse(raw: bytes, path: Path) -> tuple[list[PairedLight], int]:
        """Validate a registry or export document; ValueError with the reason."""
        try:
            document = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not valid JSON: {exc}") from None
        if not isinstance(document, dict):
            raise ValueError("the top level must be an object")
        version = document.get("schema_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ValueError("schema_version is missing or not a positive integer")
        if version > SCHEMA_VERSION:
            raise RegistryNewerSchemaError(
                f"{path} was written by a newer Home Hub (schema version {version}; this "
                f"version understands up to {SCHEMA_VERSION}). Update Home Hub to use it.",
                path,
                None,
                version,
            )
        document = _migrate(document, version)
        raw_lights = document.get("lights")
        if not isinstance(raw_lights, list):
            raise ValueError("lights: must be a list")
        lights: list[PairedLight] = []
        seen: set[str] = set()
        for index, raw_light in enumerate(raw_lights):
            try:
                light = PairedLight.from_json(raw_light)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"light #{index + 1}: {exc}") from None
            if light.device_id in seen:
                raise ValueError(f"light #{index + 1}: duplicate device id {light.device_id}")
            seen.add(light.device_id)
            lights.append(light)
        return lights, version

    def _backup_blocking(self, reason: str) -> Path:
        backup = _backup_path_for(self.path, reason)
        shutil.copy2(self.path, backup)
        _log.warning("kept a copy of the registry file at %s (%s)", backup, reason)
        return backup

    def _remove_stale_temp_files(self) -> None:
        directory = self.path.parent
        if not directory.is_dir():
            return
        for stale in directory.glob(f"{_TEMP_PREFIX}*{_TEMP_SUFFIX}"):
            with contextlib.suppress(OSError):
                stale.unlink()

    async def start_empty(self) -> None:
        """After a failed ``load()``: accept an empty registry (the bad file was backed up)."""
        self._load_failed = None
        self._lights = {}
        await self.save()

    # -- saving ------------------------------------------------------------------------------

    def _document(self) -> dict[str, Any]:
        return {
            "schema_version": SCHEMA_VERSION,
            "lights": [light.to_json() for light in self.all()],
        }

    async def save(self) -> None:
        """Write the registry atomically (in an executor). Saves are serialised."""
        if self._load_failed is not None:
            raise RegistryNotLoadedError(
                f"Not saving: {self.path} could not be read earlier and would be overwritten. "
                "Call start_empty() to begin again (a copy of the old file was kept)."
            )
        async with self._save_lock:
            snapshot = dict(self._lights)
            data = (json.dumps(self._document(), indent=2, ensure_ascii=False) + "\n").encode()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(None, self._write_blocking, data)
            self._persisted = snapshot

    def _write_blocking(self, data: bytes) -> None:
        """The blocking write; runs in an executor."""
        write_file_atomically(self.path, data, temp_prefix=_TEMP_PREFIX)

    def _schedule_save(self) -> None:
        """Persist soon, from a sync context; coalesces with a save already pending."""
        if self._pending_save is not None and not self._pending_save.done():
            return
        task = asyncio.get_running_loop().create_task(self._save_logged())
        self._pending_save = task

    async def _save_logged(self) -> None:
        await asyncio.sleep(0)  # let a burst of events coalesce into one write
        self._pending_save = None
        try:
            await self.save()
        except Exception:
            _log.exception("could not save the registry to %s", self.path)

    async def flush(self) -> None:
        """Wait for background saves and discovery updates to finish."""
        while True:
            pending = [t for t in (self._pending_save, *self._background) if t and not t.done()]
            if not pending:
                return
            await asyncio.gather(*pending, return_exceptions=True)

    # -- mutating ----------------------------------------------------------------------------

    async def add(self, light: PairedLight, *, replace: bool = False) -> None:
        """Add a newly paired light and save. ``replace=True`` re-pairs an existing one."""
        existing = self._lights.get(light.device_id)
        if existing is not None and not replace:
            raise LightAlreadyPairedError(f"{light.device_id} is already paired")
        self._lights[light.device_id] = light
        self._emit("updated" if existing else "added", light)
        await self.save()

    async def update(self, device_id: str, **changes: Any) -> PairedLight:
        """Change fields of a paired light (validated) and save; returns the new light."""
        current = self._require(device_id)
        if "device_id" in changes and changes["device_id"] != device_id:
            raise ValueError("device_id cannot be changed")
        updated = dataclasses.replace(current, **changes)
        if updated != current:
            self._lights[device_id] = updated
            self._emit("updated", updated)
            await self.save()
        return updated

    async def remove(self, device_id: str) -> PairedLight:
        """Forget a light and save; returns what was removed."""
        light = self._require(device_id)
        del self._lights[device_id]
        self._emit("removed", light)
        await self.save()
        return light

    async def update_address(
        self, device_id: str, addresses: Iterable[str], *, seen_at: datetime | None = None
    ) -> PairedLight | None:
        """Record where a paired light answers now (and when); saves when anything changed.

        Returns the updated light, or None when ``device_id`` is not paired.
        """
        light = self._apply_address(device_id, tuple(addresses), seen_at or utc_now())
        if light is None:
            return None
        if self._needs_persist(light):
            await self.save()
        return light

    def _apply_address(
        self, device_id: str, addresses: tuple[str, ...], seen_at: datetime
    ) -> PairedLight | None:
        current = self._lights.get(device_id)
        if current is None:
            return None
        for address in addresses:
            parse_address(address)
        new_addresses = addresses or current.addresses
        updated = dataclasses.replace(current, addresses=new_addresses, last_seen=seen_at)
        self._lights[device_id] = updated
        if new_addresses != current.addresses:
            _log.info(
                "%s moved: %s -> %s",
                device_id,
                ", ".join(current.addresses) or "-",
                ", ".join(new_addresses),
            )
        self._emit("updated", updated)
        return updated

    def _needs_persist(self, light: PairedLight) -> bool:
        """Address changes are written at once; last_seen alone at most every interval."""
        stored = self._persisted.get(light.device_id)
        if stored is None or stored.addresses != light.addresses:
            return True
        if light.last_seen is None:
            return False
        if stored.last_seen is None:
            return True
        elapsed = (light.last_seen - stored.last_seen).total_seconds()
        return elapsed >= self.LAST_SEEN_PERSIST_INTERVAL

    def _require(self, device_id: str) -> PairedLight:
        light = self._lights.get(device_id)
        if light is None:
            raise LightNotFoundError(f"no paired light with device id {device_id!r}")
        return light

    # -- discovery ---------------------------------------------------------------------------

    def handle_discovery_event(self, event: DiscoveryEvent) -> None:
        """Apply a LanDiscovery "added"/"updated" event to a paired light (sync; saves soon)."""
        if event.kind not in ("added", "updated"):
            return
        found = event.light
        if found.device_id not in self._lights:
            return
        addresses = tuple(format_address(host, int(found.port)) for host in found.addresses)
        try:
            light = self._apply_address(found.device_id, addresses, utc_now())
        except ValueError as exc:
            _log.warning("ignoring discovery of %s: %s", found.device_id, exc)
            return
        if light is not None and self._needs_persist(light):
            self._schedule_save()

    def attach_discovery(self, discovery: DiscoverySource) -> Callable[[], None]:
        """Follow ``LanDiscovery`` events: paired lights get their new addresses and last_seen.

        Must be called with a running event loop. Returns the unsubscribe function.
        """
        return discovery.subscribe(self.handle_discovery_event)

    # -- import / export ---------------------------------------------------------------------

    async def export(self, path: Path | str) -> int:
        """Write every paired light to ``path`` (atomic; no secrets). Returns the count."""
        document = self._document()
        document["exported_at"] = utc_now().isoformat()
        data = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, write_file_atomically, Path(path), data)
        return len(document["lights"])

    async def import_(self, path: Path | str, *, merge: bool = True) -> ImportResult:
        """Read an export. ``merge=True`` adds new lights and updates known ones from the file;
        ``merge=False`` replaces the whole registry (the current file is backed up first).
        """
        source = Path(path)
        loop = asyncio.get_running_loop()
        raw = await loop.run_in_executor(None, source.read_bytes)
        try:
            imported, _ = self._parse(raw, source)
        except RegistryNewerSchemaError:
            raise
        except ValueError as exc:
            raise RegistryCorruptError(
                f"{source} is not a Home Hub export ({exc}). Nothing was imported.", source, None
            ) from None
        added: list[str] = []
        updated: list[str] = []
        unchanged: list[str] = []
        removed: list[str] = []
        if not merge:
            if self.path.exists():
                await loop.run_in_executor(None, self._backup_blocking, "before-import")
            imported_ids = {x.device_id for x in imported}
            for device_id in list(self._lights):
                if device_id not in imported_ids:
                    removed.append(device_id)
                    self._emit("removed", self._lights.pop(device_id))
        for light in imported:
            current = self._lights.get(light.device_id)
            if current == light:
                unchanged.append(light.device_id)
                continue
            self._lights[light.device_id] = light
            (updated if current else added).append(light.device_id)
            self._emit("updated" if current else "added", light)
        if added or updated or removed:
            await self.save()
        return ImportResult(tuple(added), tuple(updated), tuple(unchanged), tuple(removed))
