"""EmbeddedBackend: the hub's own broker, per-light credentials, ACL, retained persistence."""

from __future__ import annotations

import asyncio
import json
import ssl
from pathlib import Path

import pytest

from hub_app.broker_client import (
    Availability,
    CommandError,
    ConfigurationError,
    ConnectionKind,
    EmbeddedBackend,
)
from hub_app.broker_client.embedded import USERS_FILE, verify_password
from hub_app.broker_client.embedded_broker import RETAINED_FILE, EmbeddedBroker
from hub_app.testing.mqtt_light import AsyncMqttClient, ConnectRefused, MqttLight

from .helpers import TIMEOUT, wait_for


def server(config: dict[str, object]) -> tuple[str, int]:
    host, port = str(config["mqtt.server"]).rsplit(":", 1)
    return host, int(port)


def tls_of(config: dict[str, object]) -> ssl.SSLContext | None:
    """What a light does with its pairing config: verify the broker against `mqtt.ca`."""
    if not config["mqtt.tls"]:
        return None
    return ssl.create_default_context(cadata=str(config["mqtt.ca"]))


async def paired_light(backend: EmbeddedBackend, device_id: str, **options: object) -> MqttLight:
    config = await backend.pair_light(device_id)
    host, port = server(config)
    lamp = MqttLight(
        device_id,
        host,
        port,
        username=str(config["mqtt.user"]),
        password=str(config["mqtt.pass"]),
        ssl_context=tls_of(config),
        **options,
    )  # type: ignore[arg-type]
    return await lamp.start()


async def test_pairing_returns_mqtt_config_and_stores_only_a_hash(
    embedded: EmbeddedBackend,
) -> None:
    config = await embedded.pair_light("hublight-00e001")
    assert set(config) >= {"mqtt.enable", "mqtt.server", "mqtt.user", "mqtt.pass", "mqtt.tls"}
    assert config["mqtt.enable"] is True and config["mqtt.user"] == "hublight-00e001"
    assert server(config)[1] == embedded.broker.port
    password = str(config["mqtt.pass"])
    assert len(password) >= 20
    stored = (embedded.data_dir / USERS_FILE).read_text()
    assert password not in stored
    entry = json.loads(stored)["lights"]["hublight-00e001"]
    assert verify_password(password.encode(), entry["hash"])
    assert password not in repr(embedded) and password not in repr(embedded.credentials)
    assert "hublight-00e001" in embedded.lights


async def test_round_trip_through_the_embedded_broker(embedded: EmbeddedBackend) -> None:
    lamp = await paired_light(embedded, "hublight-00e002")
    try:
        await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.ONLINE)
        state = await embedded.set_light(lamp.device_id, on=True, brightness=64, transition_ms=0)
        assert (state.on, state.brightness) == (True, 64)
        assert lamp.state["brightness"] == 64
        assert await embedded.rpc(lamp.device_id, "RPC.Ping") == "pong"
        assert not embedded.twin(lamp.device_id).pending
    finally:
        await lamp.stop()
    await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.OFFLINE)


async def test_wrong_or_missing_password_is_refused(embedded: EmbeddedBackend) -> None:
    config = await embedded.pair_light("hublight-00e003")
    host, port = server(config)
    for user, password in [
        ("hublight-00e003", "wrong"),
        (None, None),
        ("hub", "guess"),
        ("hublight-unknown", str(config["mqtt.pass"])),
    ]:
        client = AsyncMqttClient(
            host, port, "intruder", username=user, password=password, ssl_context=tls_of(config)
        )
        with pytest.raises(ConnectRefused) as err:
            await client.connect()
        assert err.value.code == 5


async def test_acl_a_light_cannot_use_another_lights_topics(embedded: EmbeddedBackend) -> None:
    victim = await paired_light(embedded, "hublight-00e004")
    attacker_config = await embedded.pair_light("hublight-00e005")
    await wait_for(lambda: embedded.twin(victim.device_id).reported is not None)
    before = embedded.twin(victim.device_id).reported
    refused: list[tuple[str, str]] = []
    embedded.broker.on_refused = lambda client, topic: refused.append((client, topic))
    host, port = server(attacker_config)
    received: list[str] = []
    attacker = AsyncMqttClient(
        host,
        port,
        "hublight-00e005",
        username="hublight-00e005",
        password=str(attacker_config["mqtt.pass"]),
        ssl_context=tls_of(attacker_config),
        on_message=lambda m: received.append(m.topic),
    )
    await attacker.connect()
    try:
        # Publishing as the victim (state, availability) and commanding it: all dropped.
        forged = {"on": True, "brightness": 99, "rgb": [6, 6, 6], "rev": 10**6, "source": "x"}
        await attacker.publish("hublight-00e004/state", json.dumps(forged), qos=1, retain=True)
        await attacker.publish("hublight-00e004/online", "offline", qos=1, retain=True)
        await attacker.publish(
            "hublight-00e004/rpc",
            json.dumps(
                {"id": 1, "src": "hublight-00e005", "method": "Light.Set", "params": {"on": True}}
            ),
            qos=1,
        )
        # Subscribing to the victim's commands or to everything: refused.
        codes = await attacker.subscribe([("hublight-00e004/rpc", 1), ("#", 1), ("+/state", 1)])
        assert codes == [0x80, 0x80, 0x80]
        # Its own topics work.
        assert await attacker.subscribe([("hublight-00e005/rpc", 1)]) == [1]
        await attacker.publish("hublight-00e005/online", "online", qos=1, retain=True)
        await wait_for(lambda: embedded.availability("hublight-00e005") is Availability.ONLINE)
    finally:
        await attacker.disconnect()
    assert {topic for _c, topic in refused} == {
        "hublight-00e004/state",
        "hublight-00e004/online",
        "hublight-00e004/rpc",
    }
    assert embedded.twin(victim.device_id).reported == before
    assert embedded.availability(victim.device_id) is Availability.ONLINE
    assert not any(r.get("src") == "hublight-00e005" for r in victim.requests)
    assert json.loads(embedded.broker.retained()["hublight-00e004/state"])["rev"] == before.rev
    await victim.stop()


async def test_power_cut_goes_offline_via_last_will(embedded: EmbeddedBackend) -> None:
    lamp = await paired_light(embedded, "hublight-00e006", keepalive=2)
    await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.ONLINE)
    await lamp.power_cut()
    await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.OFFLINE)
    with pytest.raises(CommandError) as err:
        await embedded.set_light(lamp.device_id, on=True)
    assert err.value.reason == "offline"
    await lamp.start()
    await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.ONLINE)
    assert (await embedded.set_light(lamp.device_id, on=True)).on
    await lamp.stop()


async def test_silent_light_goes_offline_after_keepalive(embedded: EmbeddedBackend) -> None:
    """A hung light (link open, no packets) is dropped at 1.5 x keepalive: Last Will."""
    config = await embedded.pair_light("hublight-00e007")
    host, port = server(config)
    lamp = MqttLight(
        "hublight-00e007",
        host,
        port,
        username="hublight-00e007",
        password=str(config["mqtt.pass"]),
        ssl_context=tls_of(config),
        keepalive=1,
    )
    await lamp.start()
    await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.ONLINE)
    for task in list(lamp.client._tasks):  # stop pinging, keep the socket open
        if task.get_coro().__name__ == "_ping_loop":  # type: ignore[union-attr]
            task.cancel()
    await wait_for(lambda: embedded.availability(lamp.device_id) is Availability.OFFLINE)
    lamp.client.abort()


async def test_retained_state_survives_a_hub_restart(tmp_path: Path) -> None:
    data = tmp_path / "hub"
    first = EmbeddedBackend(data, host="127.0.0.1", port=0)
    await first.start()
    await first.wait_connected(TIMEOUT)
    lamp = await paired_light(first, "hublight-00e008")
    await first.set_light(lamp.device_id, on=True, rgb=(1, 2, 3))
    rev = lamp.state["rev"]
    await lamp.power_cut()
    await first.close()
    saved = json.loads((data / RETAINED_FILE).read_text())
    assert "hublight-00e008/state" in saved["retained"]

    second = EmbeddedBackend(data, host="127.0.0.1", port=0)
    second.add_light("hublight-00e008")
    await second.start()
    try:
        await wait_for(lambda: second.twin("hublight-00e008").reported is not None)
        reported = second.twin("hublight-00e008").reported
        assert reported is not None and reported.rev == rev and reported.rgb == (1, 2, 3)
        # The light was gone when the hub stopped: it must not stay retained `online`.
        assert second.availability("hublight-00e008") is Availability.OFFLINE
        # The old credentials still work after the restart.
        assert second.credentials.has_light("hublight-00e008")
    finally:
        await second.close()


async def test_commands_never_retained_and_no_wildcards(embedded: EmbeddedBackend) -> None:
    lamp = await paired_light(embedded, "hublight-00e009")
    await embedded.set_light(lamp.device_id, on=True)
    assert "hublight-00e009/rpc" not in embedded.broker.retained()
    assert all("#" not in t and "+" not in t for t in embedded.subscribed_topics)
    await lamp.stop()


async def test_malformed_packets_do_not_hurt_the_broker(embedded: EmbeddedBackend) -> None:
    lamp = await paired_light(embedded, "hublight-00e00a")
    host, port = "127.0.0.1", embedded.broker.port
    assert embedded.certificates is not None
    context = embedded.certificates.client_context()
    for junk in [
        b"\x00\x00",
        b"\x10\xff\xff\xff\xff\x7f",
        b"GET / HTTP/1.1\r\n\r\n",
        b"\x10\x05\x00\x04MQ",
        bytes(range(256)),
    ]:
        reader, writer = await asyncio.open_connection(host, port, ssl=context)
        writer.write(junk)
        await writer.drain()
        with pytest.raises((asyncio.IncompleteReadError, ConnectionError, TimeoutError)):
            async with asyncio.timeout(15):
                await reader.readexactly(1)
                await reader.readexactly(10**6)
        writer.close()
    # A paired light sending garbage on its own topics: the hub drops it and keeps going.
    lamp.client.publish_nowait("hublight-00e00a/state", b"\xff{not json", qos=1, retain=True)
    lamp.client.publish_nowait("hublight-00e00a/online", b"perhaps", qos=1, retain=True)
    await wait_for(lambda: embedded.dropped_messages >= 2)
    assert embedded.connection.kind is ConnectionKind.CONNECTED
    assert (await embedded.set_light(lamp.device_id, brightness=5)).brightness == 5
    await lamp.stop()


async def test_broker_wildcards_and_qos() -> None:
    broker = await EmbeddedBroker("127.0.0.1", 0).start()
    try:
        got: list[tuple[str, bytes, bool]] = []
        sub = AsyncMqttClient(
            "127.0.0.1",
            broker.port,
            "sub",
            on_message=lambda m: got.append((m.topic, m.payload, m.retain)),
        )
        pub = AsyncMqttClient("127.0.0.1", broker.port, "pub")
        await sub.connect()
        await pub.connect()
        await pub.publish("a/b/c", "retained", qos=1, retain=True)
        assert await sub.subscribe([("a/+/c", 1), ("a/#", 0), ("$SYS/#", 0)]) == [1, 0, 0]
        await pub.publish("a/x/c", "live", qos=1)
        await pub.publish("b/x", "other", qos=1)
        await wait_for(lambda: len(got) >= 2)
        await asyncio.sleep(0.2)
        # Retained messages are replayed per matching subscription (as Mosquitto does); live
        # messages are delivered once per client even with overlapping subscriptions.
        assert set(got) == {("a/b/c", b"retained", True), ("a/x/c", b"live", False)}
        assert got.count(("a/x/c", b"live", False)) == 1
        await sub.disconnect()
        await pub.disconnect()
    finally:
        await broker.close()


async def test_port_in_use_is_a_configuration_error(
    embedded: EmbeddedBackend, tmp_path: Path
) -> None:
    clash = EmbeddedBackend(tmp_path / "other", host="127.0.0.1", port=embedded.broker.port)
    with pytest.raises(ConfigurationError):
        await clash.start()
    assert clash.connection.kind is ConnectionKind.DISCONNECTED
    assert clash.connection.reason and "cannot listen" in clash.connection.reason


async def test_hub_over_loopback_paho_instead_of_in_process(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "hub", host="127.0.0.1", port=0, in_process=False)
    await backend.start()
    try:
        await backend.wait_connected(TIMEOUT)
        lamp = await paired_light(backend, "hublight-00e00b")
        state = await backend.set_light(lamp.device_id, rgb=(4, 5, 6))
        assert state.rgb == (4, 5, 6)
        assert backend._thread is not None  # really the paho path
        await lamp.stop()
    finally:
        await backend.close()
