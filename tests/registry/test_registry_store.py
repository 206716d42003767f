"""Registry: persistence, atomic writes, corrupt / newer files, events, discovery, import/export."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from hub_app.registry import (
    AmbiguousLightError,
    LightAlreadyPairedError,
    LightNotFoundError,
    PairedLight,
    Registry,
    RegistryCorruptError,
    RegistryEvent,
    RegistryNewerSchemaError,
    RegistryNotLoadedError,
    default_registry_path,
)
from hub_app.registry import store as store_module

PAIRED_AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def make_light(device_id: str = "hublight-1a2b3c", **changes: Any) -> PairedLight:
    values: dict[str, Any] = {
        "device_id": device_id,
        "name": "Desk lamp",
        "room": "Office",
        "model": "HL-S1",
        "fw_version": "1.0.0",
        "addresses": ["192.168.1.20:80"],
        "backend": "lan",
        "paired_at": PAIRED_AT,
    }
    values.update(changes)
    return PairedLight(**values)


def names_in(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def write_file(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)


async def loaded(path: Path) -> Registry:
    registry = Registry(path)
    await registry.load()
    return registry


def test_default_path_follows_env(data_dir: Path) -> None:
    assert default_registry_path() == data_dir / "registry.json"
    assert Registry().path == data_dir / "registry.json"


async def test_missing_file_is_empty_registry(data_dir: Path) -> None:
    registry = await loaded(data_dir / "registry.json")
    assert registry.all() == []
    assert not (data_dir / "registry.json").exists()


async def test_persisted_and_reloaded(data_dir: Path) -> None:
    path = data_dir / "registry.json"
    registry = await loaded(path)
    first = make_light(extra={"pixels": 60})
    second = make_light("hublight-00ff00", name="Sofa", room="Living room", backend="mqtt")
    await registry.add(first)
    await registry.add(second)
    updated = await registry.update("hublight-1a2b3c", name="Desk", fw_version="1.1.0")
    assert updated.name == "Desk"

    again = await loaded(path)
    assert again.get("hublight-1a2b3c") == updated
    assert again.get("hublight-00ff00") == second
    assert again.rooms() == ["Living room", "Office"]
    assert [x.device_id for x in again.all()] == ["hublight-00ff00", "hublight-1a2b3c"]
    document = json.loads(path.read_text())
    assert document["schema_version"] == store_module.SCHEMA_VERSION

    await again.remove("hublight-00ff00")
    third = await loaded(path)
    assert [x.device_id for x in third.all()] == ["hublight-1a2b3c"]


async def test_add_twice_and_unknown_light(data_dir: Path) -> None:
    registry = await loaded(data_dir / "registry.json")
    await registry.add(make_light())
    with pytest.raises(LightAlreadyPairedError):
        await registry.add(make_light(name="other"))
    await registry.add(make_light(name="other"), replace=True)
    assert registry.get("hublight-1a2b3c") is not None
    assert registry.get("hublight-1a2b3c").name == "other"  # type: ignore[union-attr]
    with pytest.raises(LightNotFoundError):
        await registry.remove("hublight-ffffff")
    with pytest.raises(LightNotFoundError):
        await registry.update("hublight-ffffff", name="x")


def test_paired_light_validation() -> None:
    with pytest.raises(ValueError, match="backend"):
        make_light(backend="zigbee")
    with pytest.raises(ValueError, match="host:port"):
        make_light(addresses=["192.168.1.20"])
    with pytest.raises(ValueError, match="secret"):
        make_light(extra={"lan_secret": "x"})
    with pytest.raises(ValueError, match="timezone"):
        make_light(paired_at=datetime(2026, 1, 1))
    light = make_light(addresses=["[fe80::1]:80", "host.local:8080"])
    assert light.addresses == ("[fe80::1]:80", "host.local:8080")


async def test_resolve_by_id_name_and_address(data_dir: Path) -> None:
    registry = await loaded(data_dir / "registry.json")
    await registry.add(make_light())
    await registry.add(make_light("hublight-000001", name="Twin", addresses=["10.0.0.1:80"]))
    await registry.add(make_light("hublight-000002", name="twin", addresses=["10.0.0.2:80"]))
    assert registry.resolve("hublight-1a2b3c").name == "Desk lamp"
    assert registry.resolve("desk LAMP").device_id == "hublight-1a2b3c"
    assert registry.resolve("10.0.0.2:80").device_id == "hublight-000002"
    with pytest.raises(AmbiguousLightError) as excinfo:
        registry.resolve("Twin")
    assert len(excinfo.value.matches) == 2
    with pytest.raises(LightNotFoundError):
        registry.resolve("Kitchen")


async def test_subscribe_and_unsubscribe(data_dir: Path) -> None:
    registry = await loaded(data_dir / "registry.json")
    events: list[RegistryEvent] = []
    unsubscribe = registry.subscribe(events.append)
    await registry.add(make_light())
    await registry.update("hublight-1a2b3c", room="Hall")
    await registry.remove("hublight-1a2b3c")
    assert [(e.kind, e.light.room) for e in events] == [
        ("added", "Office"),
        ("updated", "Hall"),
        ("removed", "Hall"),
    ]
    unsubscribe()
    await registry.add(make_light())
    assert len(events) == 3


class CrashBeforeReplace(Registry):
    """Dies between writing the temp file and replacing the real one (in the executor step)."""

    def _write_blocking(self, data: bytes) -> None:
        def crash(src: str, dst: str) -> None:
            raise KeyboardInterrupt("simulated crash before os.replace")

        with mock.patch("os.replace", crash):
            super()._write_blocking(data)


async def test_crash_between_temp_write_and_replace_keeps_old_file(data_dir: Path) -> None:
    path = data_dir / "registry.json"
    registry = await loaded(path)
    await registry.add(make_light())
    before = path.read_bytes()

    crashing = CrashBeforeReplace(path)
    await crashing.load()
    with pytest.raises(KeyboardInterrupt):
        await crashing.add(make_light("hublight-00ff00", name="New"))
    assert path.read_bytes() == before
    assert names_in(data_dir) == ["registry.json"]
    reloaded = await loaded(path)
    assert [x.device_id for x in reloaded.all()] == ["hublight-1a2b3c"]


def test_process_killed_mid_write_keeps_old_file(data_dir: Path) -> None:
    """A real crash: the writer process SIGKILLs itself after the temp file is fsynced."""
    path = data_dir / "registry.json"
    data_dir.mkdir(parents=True)
    good = {"schema_version": 1, "lights": [make_light().to_json()]}
    path.write_text(json.dumps(good))
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from hub_app.registry import store
        from hub_app.registry import PairedLight, Registry

        def die(src, dst):
            assert os.path.getsize(src) > 0
            os.kill(os.getpid(), signal.SIGKILL)

        async def main():
            registry = Registry({str(path)!r})
            await registry.load()
            store.os.replace = die
            await registry.add(PairedLight(device_id="hublight-00ff00", name="New"))

        asyncio.run(main())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()
    leftovers = [p.name for p in data_dir.iterdir() if p.name != "registry.json"]
    assert len(leftovers) == 1 and leftovers[0].endswith(".tmp")  # the orphaned temp file
    assert json.loads(path.read_text()) == good

    async def reload() -> Registry:
        return await loaded(path)

    registry = asyncio.run(reload())
    assert [x.device_id for x in registry.all()] == ["hublight-1a2b3c"]
    assert [p.name for p in data_dir.iterdir()] == ["registry.json"]  # temp file cleaned up


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"{not json", "not valid JSON"),
        (b"[]", "top level"),
        (b'{"lights": []}', "schema_version"),
        (b'{"schema_version": 1, "lights": {}}', "lights"),
        (b'{"schema_version": 1, "lights": [{"device_id": "x"}]}', "paired_at"),
        (b"\xff\xfe garbage", "not valid JSON"),
    ],
)
async def test_corrupt_file_is_backed_up_with_clear_error(
    data_dir: Path, content: bytes, reason: str
) -> None:
    path = data_dir / "registry.json"
    write_file(path, content)
    registry = Registry(path)
    with pytest.raises(RegistryCorruptError) as excinfo:
        await registry.load()
    message = str(excinfo.value)
    assert reason in message
    assert "cannot be read" in message
    backup = excinfo.value.backup_path
    assert backup is not None and backup.parent == data_dir
    assert backup.read_bytes() == content
    assert str(backup) in message
    # Nothing is overwritten until the caller says so.
    with pytest.raises(RegistryNotLoadedError):
        await registry.add(make_light())
    assert path.read_bytes() == content
    await registry.start_empty()
    await registry.add(make_light())
    assert [x.device_id for x in (await loaded(path)).all()] == ["hublight-1a2b3c"]
    assert backup.read_bytes() == content


async def test_newer_schema_is_refused_and_kept(data_dir: Path) -> None:
    path = data_dir / "registry.json"
    newer = json.dumps({"schema_version": 99, "lights": [], "future": True}).encode()
    write_file(path, newer)
    registry = Registry(path)
    with pytest.raises(RegistryNewerSchemaError) as excinfo:
        await registry.load()
    assert excinfo.value.version == 99
    assert "newer Home Hub" in str(excinfo.value)
    assert excinfo.value.backup_path is not None
    assert excinfo.value.backup_path.read_bytes() == newer
    with pytest.raises(RegistryNotLoadedError):
        await registry.save()
    assert path.read_bytes() == newer


async def test_older_schema_goes_through_migrations(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The migration hook: pretend the current schema is 2 and version 1 stored 'host' + 'port'."""

    def v1_to_v2(document: dict[str, Any]) -> dict[str, Any]:
        for light in document["lights"]:
            light["addresses"] = [f"{light.pop('host')}:{light.pop('port')}"]
        return document

    monkeypatch.setattr(store_module, "SCHEMA_VERSION", 2)
    monkeypatch.setitem(store_module.MIGRATIONS, 1, v1_to_v2)
    path = data_dir / "registry.json"
    old_light = make_light().to_json()
    del old_light["addresses"]
    old_light.update(host="192.168.1.77", port=80)
    old = json.dumps({"schema_version": 1, "lights": [old_light]}).encode()
    write_file(path, old)

    registry = await loaded(path)
    assert registry.get("hublight-1a2b3c").addresses == ("192.168.1.77:80",)  # type: ignore[union-attr]
    assert json.loads(path.read_text())["schema_version"] == 2
    backups = [name for name in names_in(data_dir) if ".v1-" in name]
    assert len(backups) == 1 and (data_dir / backups[0]).read_bytes() == old


@dataclass
class FakeDiscoveredLight:
    """Shape of hub_app.discovery's light (device_id, addresses, port)."""

    device_id: str
    addresses: list[str]
    port: int = 80


@dataclass
class FakeDiscoveryEvent:
    kind: str
    light: FakeDiscoveredLight


@dataclass
class EventSource:
    """Shape of LanDiscovery's subscribe(cb) -> unsubscribe."""

    callbacks: list[Any] = field(default_factory=list)

    def subscribe(self, callback: Any) -> Any:
        self.callbacks.append(callback)
        return lambda: self.callbacks.remove(callback)

    def emit(self, event: FakeDiscoveryEvent) -> None:
        for callback in list(self.callbacks):
            callback(event)


async def test_update_address_persists_by_itself(data_dir: Path) -> None:
    path = data_dir / "registry.json"
    registry = await loaded(path)
    await registry.add(make_light())
    updated = await registry.update_address("hublight-1a2b3c", ["192.168.1.99:80"])
    assert updated is not None and updated.addresses == ("192.168.1.99:80",)
    assert updated.last_seen is not None
    assert (await loaded(path)).get("hublight-1a2b3c").addresses == ("192.168.1.99:80",)  # type: ignore[union-attr]
    assert await registry.update_address("hublight-ffffff", ["10.0.0.1:80"]) is None
    with pytest.raises(ValueError):
        await registry.update_address("hublight-1a2b3c", ["no-port"])


async def test_discovery_events_move_paired_lights(data_dir: Path) -> None:
    path = data_dir / "registry.json"
    registry = await loaded(path)
    await registry.add(make_light())
    source = EventSource()
    events: list[RegistryEvent] = []
    registry.subscribe(events.append)
    unsubscribe = registry.attach_discovery(source)

    source.emit(FakeDiscoveryEvent("added", FakeDiscoveredLight("hublight-1a2b3c", ["10.1.1.5"])))
    source.emit(FakeDiscoveryEvent("added", FakeDiscoveredLight("hublight-999999", ["10.1.1.6"])))
    source.emit(
        FakeDiscoveryEvent("updated", FakeDiscoveredLight("hublight-1a2b3c", ["fe80::5"], 8080))
    )
    source.emit(FakeDiscoveryEvent("removed", FakeDiscoveredLight("hublight-1a2b3c", [])))
    await registry.flush()

    light = registry.get("hublight-1a2b3c")
    assert light is not None and light.addresses == ("[fe80::5]:8080",)
    assert light.last_seen is not None
    assert "hublight-999999" not in registry  # discovery never pairs
    assert [e.kind for e in events] == ["updated", "updated"]
    reloaded = await loaded(path)
    assert reloaded.get("hublight-1a2b3c").addresses == ("[fe80::5]:8080",)  # type: ignore[union-attr]

    unsubscribe()
    assert source.callbacks == []


async def test_last_seen_alone_is_written_at_most_every_interval(data_dir: Path) -> None:
    path = data_dir / "registry.json"
    registry = await loaded(path)
    await registry.add(make_light())
    t0 = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    await registry.update_address("hublight-1a2b3c", ["192.168.1.20:80"], seen_at=t0)
    on_disk = path.read_bytes()
    soon = t0 + timedelta(seconds=30)
    await registry.update_address("hublight-1a2b3c", ["192.168.1.20:80"], seen_at=soon)
    assert path.read_bytes() == on_disk  # nothing worth a write
    assert registry.get("hublight-1a2b3c").last_seen == soon  # type: ignore[union-attr]
    later = t0 + timedelta(seconds=registry.LAST_SEEN_PERSIST_INTERVAL)
    await registry.update_address("hublight-1a2b3c", ["192.168.1.20:80"], seen_at=later)
    assert (await loaded(path)).get("hublight-1a2b3c").last_seen == later  # type: ignore[union-attr]


async def test_export_and_import(data_dir: Path, tmp_path: Path) -> None:
    path = data_dir / "registry.json"
    registry = await loaded(path)
    await registry.add(make_light())
    await registry.add(make_light("hublight-00ff00", name="Sofa"))
    export_path = tmp_path / "export.json"
    assert await registry.export(export_path) == 2
    exported = json.loads(export_path.read_text())
    assert exported["schema_version"] == 1 and "exported_at" in exported

    other = await loaded(tmp_path / "other" / "registry.json")
    await other.add(make_light("hublight-abcdef", name="Kept"))
    await other.add(make_light(name="Old name"))
    result = await other.import_(export_path)
    assert result.added == ("hublight-00ff00",)
    assert result.updated == ("hublight-1a2b3c",)
    assert result.removed == ()
    assert {x.device_id for x in other.all()} == {
        "hublight-abcdef",
        "hublight-1a2b3c",
        "hublight-00ff00",
    }
    again = await other.import_(export_path)
    assert set(again.unchanged) == {"hublight-1a2b3c", "hublight-00ff00"}

    replaced = await other.import_(export_path, merge=False)
    assert replaced.removed == ("hublight-abcdef",)
    assert {x.device_id for x in (await loaded(other.path)).all()} == {
        "hublight-1a2b3c",
        "hublight-00ff00",
    }
    assert any("before-import" in name for name in names_in(other.path.parent))


async def test_import_rejects_bad_files_without_changes(data_dir: Path, tmp_path: Path) -> None:
    registry = await loaded(data_dir / "registry.json")
    await registry.add(make_light())
    bad = tmp_path / "bad.json"
    bad.write_text('{"schema_version": 1, "lights": [{"device_id": 5}]}')
    with pytest.raises(RegistryCorruptError, match="Nothing was imported"):
        await registry.import_(bad)
    newer = tmp_path / "newer.json"
    newer.write_text('{"schema_version": 7, "lights": []}')
    with pytest.raises(RegistryNewerSchemaError):
        await registry.import_(newer, merge=False)
    assert [x.device_id for x in registry.all()] == ["hublight-1a2b3c"]
