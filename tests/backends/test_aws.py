"""AwsShadowBackend: X.509 client certificate over TLS to Mosquitto + the shadow TEST DOUBLE,
with the real firmware (simulated light with `aws.enable`) speaking the shadow topics."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hublight_sim.runner import Simulator

from hub_app.broker_client import Availability, CommandError, ConnectionKind, MqttConfig
from hub_app.broker_client.aws import AwsShadowBackend
from hub_app.broker_client.mqtt_codec import Publish
from hub_app.testing.aws_shadow_double import ShadowDouble
from hub_app.testing.mosquitto import MosquittoBroker, free_port
from hub_app.testing.mqtt_light import AsyncMqttClient

from .helpers import TIMEOUT, wait_for
from .simlights import configure, make_simulator

pytestmark = [pytest.mark.mosquitto, pytest.mark.slow]


@dataclass
class AwsWorld:
    broker: MosquittoBroker
    shadow: ShadowDouble
    sim: Simulator
    plain_port: int

    @property
    def device_id(self) -> str:
        return self.sim.lights[0].device_id

    def backend(self, **options: Any) -> AwsShadowBackend:
        tls = self.broker.tls
        assert tls is not None
        return AwsShadowBackend(
            MqttConfig(
                host="localhost",
                port=self.broker.port,
                tls=True,
                ca_file=str(tls.ca_path),
                cert_file=str(tls.client_cert_path),
                key_file=str(tls.client_key_path),
                reconnect_max=1.0,
            ),
            command_timeout=options.pop("command_timeout", 15.0),
            **options,
        )


@pytest.fixture
async def aws(
    mosquitto_factory: Callable[..., MosquittoBroker], tmp_path: Path
) -> AsyncIterator[AwsWorld]:
    # The hub's listener demands a client certificate (as AWS IoT does); the firmware has no
    # client-certificate setting, so it and the shadow double use a second, plain listener.
    plain_port = free_port()
    broker = mosquitto_factory(
        tls=True, require_client_cert=True, extra_config=f"listener {plain_port} 127.0.0.1"
    )
    shadow = ShadowDouble("127.0.0.1", plain_port)
    for _attempt in range(100):  # the second listener may open a moment after the first
        try:
            await shadow.start()
            break
        except OSError:
            await asyncio.sleep(0.1)
    sim = make_simulator(tmp_path, 1, seed="backends-aws")
    configure(
        sim,
        lambda device_id: {
            "mqtt.enable": True,
            "mqtt.server": f"127.0.0.1:{plain_port}",
            "aws.enable": True,
        },
    )
    await sim.start()
    try:
        yield AwsWorld(broker, shadow, sim, plain_port)
    finally:
        await sim.stop()
        await shadow.stop()


async def test_shadow_round_trip_with_the_firmware(aws: AwsWorld) -> None:
    backend = aws.backend()
    async with backend:
        backend.add_light(aws.device_id)
        await backend.wait_connected(TIMEOUT)
        await wait_for(lambda: backend.availability(aws.device_id) is Availability.ONLINE)
        await wait_for(lambda: backend.twin(aws.device_id).reported is not None, what="full get")
        state = await backend.set_light(aws.device_id, on=True, brightness=55, rgb=(5, 6, 7))
        assert (state.on, state.brightness, state.rgb) == (True, 55, (5, 6, 7))
        assert state.source == "shadow"
        firmware = aws.sim.lights[0].app.light.status()
        assert firmware["brightness"] == 55 and firmware["rev"] == state.rev
        document = aws.shadow.documents[aws.device_id]
        assert document["state"]["desired"]["brightness"] == 55
        assert document["state"]["reported"]["brightness"] == 55
        assert not backend.twin(aws.device_id).pending
        # RPC pass-through still works in shadow mode.
        assert await backend.rpc(aws.device_id, "RPC.Ping") == "pong"


async def test_full_get_after_every_reconnect(aws: AwsWorld) -> None:
    backend = aws.backend()
    async with backend:
        backend.add_light(aws.device_id)
        await wait_for(lambda: backend.twin(aws.device_id).reported is not None)
        sent: list[str] = []
        original = backend._request_get

        def counting(slot: Any) -> None:
            sent.append(slot.device_id)
            original(slot)

        backend._request_get = counting  # type: ignore[method-assign]
        await aws.broker.arestart()
        await wait_for(
            lambda: backend.connection.kind is ConnectionKind.CONNECTED and sent,
            what="a full get after the reconnect",
        )
        # The light changes while the hub's get may still be in flight: the twin follows the
        # shadow's reported state after the reconnect.
        aws.sim.lights[0].app.light.apply({"brightness": 64}, "button")
        await wait_for(
            lambda: (
                backend.twin(aws.device_id).reported is not None
                and backend.twin(aws.device_id).reported.brightness == 64
            )
        )
    # A change made while the hub was away is read back in full by the next hub session.
    aws.sim.lights[0].app.light.apply({"brightness": 9}, "button")
    await wait_for(
        lambda: aws.shadow.documents[aws.device_id]["state"]["reported"]["brightness"] == 9
    )
    later = aws.backend()
    async with later:
        later.add_light(aws.device_id)
        await wait_for(
            lambda: (
                later.twin(aws.device_id).reported is not None
                and later.twin(aws.device_id).reported.brightness == 9
            )
        )


class ShadowLight:
    """A minimal shadow-mode light (no firmware): applies deltas, reports with a rising rev.

    The firmware also reports after every `get/accepted`, including the hub's, which bumps the
    shadow version at each hub `get`; to test the 409 path deterministically this light only
    reacts to deltas."""

    def __init__(self, thing: str, port: int) -> None:
        self.thing = thing
        self.state = {
            "on": False,
            "brightness": 10,
            "rgb": [1, 1, 1],
            "transition_ms": 0,
            "rev": 1,
            "source": "boot",
        }
        self.client = AsyncMqttClient("127.0.0.1", port, thing + "-light", on_message=self._on)

    async def start(self) -> None:
        await self.client.connect()
        await self.client.subscribe([(f"$aws/things/{self.thing}/shadow/update/delta", 1)])
        self._report()

    def _report(self) -> None:
        self.client.publish_nowait(
            f"$aws/things/{self.thing}/shadow/update",
            json.dumps({"state": {"reported": self.state}}),
            qos=1,
        )

    def _on(self, message: Publish) -> None:
        delta = json.loads(message.payload)["state"]
        changes = {k: v for k, v in delta.items() if k in ("on", "brightness", "rgb")}
        if changes:
            self.state.update(changes, rev=self.state["rev"] + 1, source="shadow")
            self._report()


@pytest.fixture
async def plain_shadow(
    mosquitto_factory: Callable[..., MosquittoBroker],
) -> AsyncIterator[tuple[MosquittoBroker, ShadowDouble, ShadowLight]]:
    broker = mosquitto_factory()
    shadow = await ShadowDouble(broker.host, broker.port).start()
    light = ShadowLight("lamp-thing", broker.port)
    await light.start()
    yield broker, shadow, light
    await light.client.disconnect()
    await shadow.stop()


def plain_backend(broker: MosquittoBroker, **options: Any) -> AwsShadowBackend:
    backend = AwsShadowBackend(MqttConfig(host=broker.host, port=broker.port), **options)
    backend.add_light("hublight-aa0001", thing_name="lamp-thing")
    return backend


async def test_stale_version_409_is_retried_after_a_get(
    plain_shadow: tuple[MosquittoBroker, ShadowDouble, ShadowLight],
) -> None:
    broker, shadow, light = plain_shadow
    backend = plain_backend(broker, versioned_updates=True)
    async with backend:
        await wait_for(lambda: backend.twin("hublight-aa0001").reported is not None)
        # Another AWS client changed the shadow and the hub missed it: its version is stale.
        shadow.update_from_elsewhere("lamp-thing", {"desired": {"note": "x"}}, silent=True)
        state = await backend.set_light("hublight-aa0001", brightness=21)
        assert state.brightness == 21 and light.state["brightness"] == 21
        assert backend.conflicts_seen == 1
        updates = [
            json.loads(p)
            for t, p in shadow.requests
            if t.endswith("/update") and backend.client_id.encode() in p
        ]
        assert len(updates) == 2 and updates[1]["version"] == updates[0]["version"] + 1


async def test_conflict_without_retries_is_rejected(
    plain_shadow: tuple[MosquittoBroker, ShadowDouble, ShadowLight],
) -> None:
    broker, shadow, light = plain_shadow
    backend = plain_backend(broker, versioned_updates=True, max_conflict_retries=0)
    async with backend:
        await wait_for(lambda: backend.twin("hublight-aa0001").reported is not None)
        shadow.update_from_elsewhere("lamp-thing", {"desired": {"note": "y"}}, silent=True)
        with pytest.raises(CommandError) as err:
            await backend.set_light("hublight-aa0001", on=True)
        assert err.value.reason == "rejected" and err.value.code == 409
        assert light.state["on"] is False


async def test_malformed_shadow_messages_are_dropped(
    plain_shadow: tuple[MosquittoBroker, ShadowDouble, ShadowLight],
) -> None:
    broker, _shadow, _light = plain_shadow
    backend = plain_backend(broker)
    async with backend:
        await wait_for(lambda: backend.twin("hublight-aa0001").reported is not None)
        garbage = AsyncMqttClient(broker.host, broker.port, "garbage")
        await garbage.connect()
        for topic in backend.subscribed_topics:
            for payload in (
                b"\xff",
                b"[]",
                b'{"current": 1}',
                b'{"state": {}, "version": "x"}',
                b'{"code": 409, "clientToken": 5}',
                b"{" * 5000,
            ):
                await garbage.publish(topic, payload, qos=1)
        await garbage.disconnect()
        await wait_for(lambda: backend.dropped_messages >= len(backend.subscribed_topics))
        assert (await backend.set_light("hublight-aa0001", rgb=(3, 4, 5))).rgb == (3, 4, 5)


async def test_client_certificate_is_required(aws: AwsWorld) -> None:
    tls = aws.broker.tls
    assert tls is not None
    anonymous = AwsShadowBackend(
        MqttConfig(
            host="localhost",
            port=aws.broker.port,
            tls=True,
            ca_file=str(tls.ca_path),
            reconnect_max=1.0,
        )
    )
    states: list[Any] = []
    anonymous.subscribe_connection(states.append)
    async with anonymous:
        await wait_for(
            lambda: sum(1 for s in states if s.kind == ConnectionKind.DISCONNECTED) >= 2,
            what="refused connection attempts",
        )
        assert anonymous.connection.kind is not ConnectionKind.CONNECTED
