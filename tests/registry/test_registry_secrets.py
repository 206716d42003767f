"""SecretStore against a real in-process keyring backend, the fail backend and refused ones."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import keyring
import pytest
from registry_keyrings import MemoryKeyring, PlaintextFileKeyring

from hub_app.registry import (
    MEMORY_ONLY_WARNING,
    PairedLight,
    Registry,
    SecretStore,
    generate_light_secret,
)

WIFI_PASSWORD = "wifi-Pa55 &=+'ü-test-7731"
LIGHT_SECRET = "light-secret-test-0c8e4f1d2a9b"
BROKER_PASSWORD = "broker-pw-test-55e1a7"


async def test_keyring_round_trip(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore()
    assert await store.probe() is True
    assert store.available and store.warning is None
    assert store.backend_name.endswith("MemoryKeyring")

    await store.set("wifi", "Home Net", WIFI_PASSWORD)
    await store.set("light", "hublight-1a2b3c", LIGHT_SECRET)
    await store.set_json("broker", "embedded", {"user": "hub", "password": BROKER_PASSWORD})
    assert memory_keyring.passwords[("home-hub", "wifi:Home Net")] == WIFI_PASSWORD
    assert await store.get("wifi", "Home Net") == WIFI_PASSWORD
    assert await store.get("light", "hublight-1a2b3c") == LIGHT_SECRET
    assert await store.get_json("broker", "embedded") == {
        "user": "hub",
        "password": BROKER_PASSWORD,
    }
    assert await store.get("wifi", "Other") is None

    # A second store (another start of the app) sees the same secrets.
    assert await SecretStore().get("light", "hublight-1a2b3c") == LIGHT_SECRET

    assert await store.delete("light", "hublight-1a2b3c") is True
    assert await store.delete("light", "hublight-1a2b3c") is False
    assert await store.get("light", "hublight-1a2b3c") is None
    store.close()


async def test_keyring_calls_run_off_the_event_loop(memory_keyring: MemoryKeyring) -> None:
    threads: list[str] = []
    original = memory_keyring.get_password

    def recording_get(service: str, username: str) -> str | None:
        threads.append(threading.current_thread().name)
        return original(service, username)

    memory_keyring.get_password = recording_get  # type: ignore[method-assign]
    store = SecretStore()
    await store.get("wifi", "x")
    assert threads and all(name.startswith("keyring") for name in threads)
    assert threading.current_thread().name not in threads
    store.close()


async def test_fail_backend_is_memory_only_with_warning(fail_keyring: None) -> None:
    store = SecretStore()
    warnings: list[str | None] = []
    store.subscribe(warnings.append)
    assert await store.probe() is False
    assert not store.available
    assert store.backend_name == "memory"
    assert store.warning == MEMORY_ONLY_WARNING
    assert "only until you close Home Hub" in MEMORY_ONLY_WARNING
    assert warnings == [MEMORY_ONLY_WARNING]

    await store.set("wifi", "Home Net", WIFI_PASSWORD)
    assert await store.get("wifi", "Home Net") == WIFI_PASSWORD
    assert await SecretStore().get("wifi", "Home Net") is None  # gone with the session
    assert await store.delete("wifi", "Home Net") is True
    assert await store.get("wifi", "Home Net") is None


async def test_plaintext_backend_is_refused() -> None:
    previous = keyring.get_keyring()
    plaintext = PlaintextFileKeyring()
    keyring.set_keyring(plaintext)
    try:
        store = SecretStore()
        await store.set("light", "hublight-1a2b3c", LIGHT_SECRET)
        assert not store.available and store.warning == MEMORY_ONLY_WARNING
        assert plaintext.passwords == {}
        assert await store.get("light", "hublight-1a2b3c") == LIGHT_SECRET
    finally:
        keyring.set_keyring(previous)


async def test_locked_keyring_at_start_is_memory_only(memory_keyring: MemoryKeyring) -> None:
    memory_keyring.locked = True
    store = SecretStore()
    await store.set("wifi", "Home Net", WIFI_PASSWORD)
    assert not store.available and store.warning == MEMORY_ONLY_WARNING
    assert memory_keyring.passwords == {}


async def test_keyring_failing_later_switches_to_memory(
    memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    store = SecretStore()
    assert await store.probe()
    memory_keyring.locked = True
    await store.set("light", "hublight-1a2b3c", LIGHT_SECRET)
    assert not store.available
    assert store.warning is not None and "only until you close Home Hub" in store.warning
    assert await store.get("light", "hublight-1a2b3c") == LIGHT_SECRET
    assert LIGHT_SECRET not in caplog.text
    assert "KeyringLocked" in caplog.text


async def test_bad_kind_and_key_are_refused(memory_keyring: MemoryKeyring) -> None:
    store = SecretStore()
    with pytest.raises(ValueError, match="unknown secret kind"):
        await store.set("email", "x", "y")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="non-empty key"):
        await store.get("wifi", "")
    with pytest.raises(ValueError) as excinfo:
        await store.set("wifi", "Home", "")
    assert "wifi" in str(excinfo.value)


async def test_secrets_never_in_repr_or_errors(fail_keyring: None) -> None:
    store = SecretStore()
    await store.set("wifi", "Home Net", WIFI_PASSWORD)
    assert WIFI_PASSWORD not in repr(store)
    await store.set("broker", "aws", "{not json " + BROKER_PASSWORD)
    with pytest.raises(ValueError) as excinfo:
        await store.get_json("broker", "aws")
    assert BROKER_PASSWORD not in str(excinfo.value)


def files_under(directory: Path) -> list[Path]:
    return [p for p in directory.rglob("*") if p.is_file()]


def test_generate_light_secret() -> None:
    made = {generate_light_secret() for _ in range(50)}
    assert len(made) == 50
    for secret in made:
        assert 32 <= len(secret) <= 128
        assert secret.replace("-", "").replace("_", "").isalnum()


async def test_data_dir_never_contains_test_secrets(
    data_dir: Path, tmp_path: Path, memory_keyring: MemoryKeyring, caplog: pytest.LogCaptureFixture
) -> None:
    """Pair a light with secrets, export, forget; grep every file in the data dir and logs."""
    caplog.set_level(logging.DEBUG)
    store = SecretStore()
    registry = Registry()
    await registry.load()
    await store.set("wifi", "Home Net", WIFI_PASSWORD)
    await store.set("light", "hublight-1a2b3c", LIGHT_SECRET)
    await store.set("broker", "embedded", BROKER_PASSWORD)
    await registry.add(
        PairedLight(device_id="hublight-1a2b3c", name="Desk", addresses=["10.0.0.5:80"])
    )
    await registry.update_address("hublight-1a2b3c", ["10.0.0.6:80"])
    await registry.export(data_dir / "export.json")
    await registry.import_(data_dir / "export.json")
    await registry.remove("hublight-1a2b3c")
    await store.forget_light("hublight-1a2b3c")

    files = files_under(data_dir)
    assert files, "the test must have written something"
    for secret in (WIFI_PASSWORD, LIGHT_SECRET, BROKER_PASSWORD):
        for path in files:
            assert secret.encode() not in path.read_bytes(), path
        assert secret not in caplog.text
    assert ("home-hub", "light:hublight-1a2b3c") not in memory_keyring.passwords
    assert memory_keyring.passwords[("home-hub", "wifi:Home Net")] == WIFI_PASSWORD
