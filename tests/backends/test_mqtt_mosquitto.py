"""MqttBackend against a real Mosquitto and protocol-level test lights (testing.mqtt_light)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from hub_app.broker_client import (
    Availability,
    CommandError,
    ConnectionKind,
    MqttBackend,
    MqttConfig,
    RpcError,
)
from hub_app.testing.mosquitto import MosquittoBroker
from hub_app.testing.mqtt_light import MqttLight

from .helpers import TIMEOUT, EventLog, wait_for, watch

pytestmark = pytest.mark.mosquitto

Factory = Callable[..., MosquittoBroker]


def backend_for(broker: MosquittoBroker, **options: Any) -> MqttBackend:
    timeout = options.pop("command_timeout", 15.0)
    return MqttBackend(
        MqttConfig(host=broker.host, port=broker.port, reconnect_max=1.0, **options),
        command_timeout=timeout,
    )


@pytest.fixture
async def hub(mosquitto: MosquittoBroker) -> AsyncIterator[MqttBackend]:
    backend = backend_for(mosquitto)
    await backend.start()
    await backend.wait_connected(TIMEOUT)
    yield backend
    await backend.close()


@pytest.fixture
async def light(mosquitto: MosquittoBroker) -> AsyncIterator[MqttLight]:
    lamp = MqttLight("hublight-0000a1", mosquitto.host, mosquitto.port, keepalive=2)
    await lamp.start()
    yield lamp
    await lamp.stop()


async def test_round_trip_is_confirmed_by_the_light(hub: MqttBackend, light: MqttLight) -> None:
    log = EventLog(hub)
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.availability(light.device_id) is Availability.ONLINE, what="online")
    await wait_for(lambda: hub.twin(light.device_id).reported is not None, what="state")
    before = hub.twin(light.device_id).reported
    assert before is not None and before.on is False

    state = await hub.set_light(light.device_id, on=True, brightness=80, rgb=(10, 20, 30))

    assert (state.on, state.brightness, state.rgb) == (True, 80, (10, 20, 30))
    assert state.rev > before.rev
    assert state.source == "mqtt"
    # The light really holds it, and the hub's twin is no longer pending.
    assert light.state["on"] is True and light.state["brightness"] == 80
    twin = hub.twin(light.device_id)
    assert twin.reported == state and not twin.pending
    assert twin.desired == {"on": True, "brightness": 80, "rgb": (10, 20, 30)}
    assert set(twin.confirmed_at) == {"on", "brightness", "rgb"}
    kinds = log.kinds(light.device_id)
    assert "desired" in kinds and "state" in kinds and "availability" in kinds
    # While waiting the twin was pending (a DESIRED event with pending=True came first).
    desired_events = [e for e in log.events if e.kind == "desired"]
    assert desired_events[0].twin.pending


async def test_rpc_pass_through_and_errors(hub: MqttBackend, light: MqttLight) -> None:
    hub.add_light(light.device_id)
    await hub.wait_connected(TIMEOUT)
    assert await hub.rpc(light.device_id, "RPC.Ping") == "pong"
    status = await hub.rpc(light.device_id, "Light.GetStatus")
    assert status["rev"] == light.state["rev"]
    with pytest.raises(RpcError) as err:
        await hub.rpc(light.device_id, "Light.Set", {"brightness": 101})
    assert err.value.code == 400
    with pytest.raises(RpcError) as err:
        await hub.rpc(light.device_id, "No.Such")
    assert err.value.code == 404


async def test_rejected_command_reports_the_reason(hub: MqttBackend, light: MqttLight) -> None:
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.twin(light.device_id).reported is not None)
    light.reject_with = (403, "locked by installer")
    with pytest.raises(CommandError) as err:
        await hub.set_light(light.device_id, on=True)
    assert err.value.reason == "rejected" and err.value.code == 403
    assert "locked by installer" in str(err.value)
    # desired falls back to what the light reports: not stuck pending
    assert not hub.twin(light.device_id).pending


async def test_unanswered_command_times_out(mosquitto: MosquittoBroker, light: MqttLight) -> None:
    backend = backend_for(mosquitto, command_timeout=1.0)
    async with backend:
        backend.add_light(light.device_id)
        await wait_for(lambda: backend.twin(light.device_id).reported is not None)
        light.mute = True
        with pytest.raises(CommandError) as err:
            await backend.set_light(light.device_id, on=True)
        assert err.value.reason == "timeout"
        assert light.requests, "the request did reach the light"
        assert not backend.twin(light.device_id).pending


async def test_rapid_commands_coalesce_to_the_latest(hub: MqttBackend, light: MqttLight) -> None:
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.twin(light.device_id).reported is not None)
    results = await asyncio.gather(
        *(hub.set_light(light.device_id, brightness=b) for b in range(1, 41))
    )
    # Every caller got a light-confirmed state; the last one holds the latest value.
    assert results[-1].brightness == 40
    assert light.state["brightness"] == 40
    assert all(r.brightness in (1, 40) for r in results)
    sets = [r for r in light.requests if r.get("method") == "Light.Set"]
    assert len(sets) <= 3, f"40 slider steps must not become 40 commands ({len(sets)} sent)"


async def test_light_power_cut_goes_offline_via_last_will(
    hub: MqttBackend, light: MqttLight
) -> None:
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.availability(light.device_id) is Availability.ONLINE)
    started = time.monotonic()
    await light.power_cut()
    await wait_for(
        lambda: hub.availability(light.device_id) is Availability.OFFLINE, what="offline"
    )
    logging.getLogger(__name__).info(
        "offline after %.2f s (keepalive 2 s)", time.monotonic() - started
    )
    with pytest.raises(CommandError) as err:
        await hub.set_light(light.device_id, on=True)
    assert err.value.reason == "offline"
    await light.start()
    await wait_for(lambda: hub.availability(light.device_id) is Availability.ONLINE, what="back")
    state = await hub.set_light(light.device_id, on=True)
    assert state.on


async def test_commands_are_never_retained(
    mosquitto: MosquittoBroker, hub: MqttBackend, light: MqttLight
) -> None:
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.twin(light.device_id).reported is not None)
    await hub.set_light(light.device_id, on=True)
    await hub.rpc(light.device_id, "RPC.Ping")
    watcher = await watch(
        mosquitto.host,
        mosquitto.port,
        [
            f"{light.device_id}/rpc",
            f"{light.device_id}/state",
            f"{light.device_id}/online",
        ],
    )
    try:
        await asyncio.sleep(0.5)
        topics = {t: retain for t, _p, retain in watcher.snapshot()}
        assert f"{light.device_id}/rpc" not in topics, "a command was retained"
        assert topics.get(f"{light.device_id}/state") is True
        assert topics.get(f"{light.device_id}/online") is True
    finally:
        await asyncio.to_thread(watcher.close)
    assert light.ignored_retained == 0


GARBAGE = [
    b"",
    b"\x00\xff\xfe garbage",
    b"not json",
    b"[]",
    b"null",
    b'"string"',
    b"{}",
    b'{"on": "yes", "brightness": 50, "rgb": [1,2,3], "rev": 9}',
    b'{"on": true, "brightness": 500, "rgb": [1,2,3], "rev": 9}',
    b'{"on": true, "brightness": 5, "rgb": [1,2], "rev": 9}',
    b'{"on": true, "brightness": 5, "rgb": [1,2,3], "rev": -1}',
    b"[" * 100000,
    b"x" * 200000,
    b'{"id": "nope"}',
    b'{"id": 999999, "result": {}}',
    b"maybe",
    "онлайн".encode(),
]


async def test_malformed_payloads_are_dropped(
    mosquitto: MosquittoBroker, hub: MqttBackend, light: MqttLight, caplog: pytest.LogCaptureFixture
) -> None:
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.availability(light.device_id) is Availability.ONLINE)
    await wait_for(lambda: hub.twin(light.device_id).reported is not None)
    good = hub.twin(light.device_id).reported
    watcher = await watch(mosquitto.host, mosquitto.port, ["probe/done"])
    try:
        for topic in hub.subscribed_topics:
            for payload in GARBAGE:
                watcher.client.publish(topic, payload, qos=1)
        watcher.client.publish("probe/done", b"1", qos=1)
        await wait_for(lambda: any(t == "probe/done" for t, *_ in watcher.snapshot()))
        await asyncio.sleep(0.5)
        # Clear the retained garbage we left so the light's own retained state stands again.
        for topic in hub.subscribed_topics:
            watcher.client.publish(topic, b"", qos=1, retain=True)
    finally:
        await asyncio.to_thread(watcher.close)
    assert hub.dropped_messages >= len(GARBAGE) * 2
    assert hub.twin(light.device_id).reported == good
    assert hub.connection.kind is ConnectionKind.CONNECTED
    assert hub._thread is not None and hub._thread.is_alive()
    assert "dropped message" in caplog.text
    # Still fully working.
    state = await hub.set_light(light.device_id, brightness=33)
    assert state.brightness == 33


async def test_subscribes_only_to_its_lights(hub: MqttBackend) -> None:
    for n in range(5):
        hub.add_light(f"hublight-00000{n}")
    other = MqttBackend(MqttConfig(host=hub.config.host, port=hub.config.port))
    assert other.client_id != hub.client_id
    assert all("#" not in t and "+" not in t for t in hub.subscribed_topics)
    assert len(hub.subscribed_topics) == 1 + 5 * 2


async def test_broker_restart_with_a_stream_of_commands(mosquitto_factory: Factory) -> None:
    broker = mosquitto_factory(persistence=True)
    lamp = MqttLight("hublight-0000b2", broker.host, broker.port, keepalive=5)
    await lamp.start(auto_reconnect=True)
    backend = backend_for(broker, command_timeout=20.0)
    states: list[str] = []
    backend.subscribe_connection(lambda s: states.append(s.kind))
    async with backend:
        backend.add_light(lamp.device_id)
        await backend.wait_connected(TIMEOUT)
        await wait_for(lambda: backend.twin(lamp.device_id).reported is not None)
        outcomes: list[tuple[int, Any]] = []

        async def command(n: int) -> None:
            try:
                state = await backend.set_light(lamp.device_id, brightness=n, on=n % 2 == 0)
                outcomes.append((n, state))
            except CommandError as err:
                outcomes.append((n, err))

        tasks = []
        for n in range(1, 61):
            tasks.append(asyncio.create_task(command(n)))
            if n == 20:
                await broker.arestart()
            await asyncio.sleep(0.05)
        await asyncio.gather(*tasks)
        await wait_for(lambda: backend.connection.kind is ConnectionKind.CONNECTED)

        # Every command has an outcome: a confirmed state or a reason; none silently lost.
        assert sorted(n for n, _ in outcomes) == list(range(1, 61))
        failures = [o for _, o in outcomes if isinstance(o, CommandError)]
        assert all(f.reason in ("disconnected", "timeout", "offline") for f in failures), failures
        assert "disconnected" in states and states[-1] == ConnectionKind.CONNECTED
        # The last command won and the hub's twin agrees with the light (reconciled).
        last = dict(outcomes)[60]
        assert not isinstance(last, CommandError), last
        assert last.brightness == 60 and lamp.state["brightness"] == 60
        await wait_for(
            lambda: (
                backend.twin(lamp.device_id).reported is not None
                and backend.twin(lamp.device_id).reported.rev == lamp.state["rev"]
            )
        )
        assert not backend.twin(lamp.device_id).pending
        # After the restart the hub re-read retained state: a button press shows up.
        lamp.set_state(brightness=7)
        await wait_for(lambda: backend.twin(lamp.device_id).reported.brightness == 7)
    await lamp.stop()


async def test_in_flight_command_is_resent_after_reconnect(mosquitto_factory: Factory) -> None:
    broker = mosquitto_factory()
    lamp = MqttLight("hublight-0000b3", broker.host, broker.port, keepalive=5)
    await lamp.start(auto_reconnect=True)
    backend = backend_for(broker, command_timeout=30.0)
    async with backend:
        backend.add_light(lamp.device_id)
        await wait_for(lambda: backend.twin(lamp.device_id).reported is not None)
        lamp.mute = True  # the first copy of the command is swallowed
        task = asyncio.create_task(backend.set_light(lamp.device_id, rgb=(9, 8, 7)))
        await wait_for(lambda: len(lamp.requests) == 1)
        lamp.mute = False
        await broker.arestart()
        state = await task
        assert state.rgb == (9, 8, 7)
        assert len([r for r in lamp.requests if r.get("method") == "Light.Set"]) == 2
    await lamp.stop()


async def test_password_auth(mosquitto_factory: Factory) -> None:
    broker = mosquitto_factory(users={"hub": "s3cret-hub-pass", "hublight-0000c4": "lamp-pass"})
    bad = backend_for(broker, username="hub", password="wrong-password")
    states: list[Any] = []
    bad.subscribe_connection(states.append)
    async with bad:
        await wait_for(lambda: any(s.reason and "refused" in s.reason for s in states))
        assert bad.connection.kind is not ConnectionKind.CONNECTED
        assert "wrong-password" not in repr(bad) and "wrong-password" not in repr(bad.config)
        assert all("wrong-password" not in (s.reason or "") for s in states)
    lamp = MqttLight(
        "hublight-0000c4",
        broker.host,
        broker.port,
        username="hublight-0000c4",
        password="lamp-pass",
    )
    await lamp.start()
    good = backend_for(broker, username="hub", password="s3cret-hub-pass")
    async with good:
        good.add_light(lamp.device_id)
        await good.wait_connected(TIMEOUT)
        assert (await good.set_light(lamp.device_id, on=True)).on
    await lamp.stop()


@pytest.mark.parametrize("client_cert", [False, True])
async def test_tls(mosquitto_factory: Factory, client_cert: bool) -> None:
    broker = mosquitto_factory(tls=True, require_client_cert=client_cert)
    assert broker.tls is not None
    lamp = MqttLight(
        "hublight-0000d5",
        broker.host,
        broker.port,
        ssl_context=broker.tls.client_context(with_client_cert=client_cert),
    )
    await lamp.start()
    cert = {
        "cert_file": str(broker.tls.client_cert_path),
        "key_file": str(broker.tls.client_key_path),
    }
    backend = backend_for(
        broker, tls=True, ca_file=str(broker.tls.ca_path), **(cert if client_cert else {})
    )
    async with backend:
        backend.add_light(lamp.device_id)
        await backend.wait_connected(TIMEOUT)
        assert (await backend.set_light(lamp.device_id, brightness=12)).brightness == 12
    # Verification is on by default: without our CA the broker's certificate is refused.
    untrusting = backend_for(broker, tls=True)
    states: list[Any] = []
    untrusting.subscribe_connection(states.append)
    async with untrusting:
        await wait_for(
            lambda: any(s.reason and "CERTIFICATE_VERIFY_FAILED" in s.reason for s in states),
            what="a verification failure",
        )
        assert untrusting.connection.kind is not ConnectionKind.CONNECTED
    await lamp.stop()


async def test_mqtt5(mosquitto: MosquittoBroker, light: MqttLight) -> None:
    backend = backend_for(mosquitto, protocol="5")
    async with backend:
        backend.add_light(light.device_id)
        await wait_for(lambda: backend.availability(light.device_id) is Availability.ONLINE)
        assert (await backend.set_light(light.device_id, on=True, rgb=[1, 2, 3])).rgb == (1, 2, 3)
        assert await backend.rpc(light.device_id, "RPC.Ping") == "pong"


async def test_state_reported_by_the_light_itself(hub: MqttBackend, light: MqttLight) -> None:
    hub.add_light(light.device_id)
    await wait_for(lambda: hub.twin(light.device_id).reported is not None)
    light.set_state(on=True, brightness=3)
    await wait_for(lambda: hub.twin(light.device_id).reported.brightness == 3)
    twin = hub.twin(light.device_id)
    assert twin.reported is not None and twin.reported.source == "button"
    assert json.loads(json.dumps(twin.reported.to_json()))["brightness"] == 3


MOSQUITTO_ACL = """\
# the hub (fixed client id "hub-home" so that its reply topic is known)
user hub
topic readwrite #

# every light (patterns apply to every user; a `topic` line would belong to `user hub` above):
# its own topics, and replies to the hub
pattern write %u/state
pattern write %u/online
pattern write %u/events
pattern read %u/rpc
pattern write hub-home/rpc
"""


async def test_mosquitto_acl_from_the_docs(mosquitto_factory: Factory) -> None:
    """The ACL in docs/backends.md: a light cannot act as another light."""
    broker = mosquitto_factory(
        users={"hub": "hub-pass-123", "hublight-0000e1": "pass-e1", "hublight-0000e2": "pass-e2"},
        acl=MOSQUITTO_ACL,
    )
    victim = MqttLight(
        "hublight-0000e1", broker.host, broker.port, username="hublight-0000e1", password="pass-e1"
    )
    await victim.start()
    backend = backend_for(broker, username="hub", password="hub-pass-123", client_id="hub-home")
    async with backend:
        backend.add_light(victim.device_id)
        await wait_for(lambda: backend.twin(victim.device_id).reported is not None)
        before = backend.twin(victim.device_id).reported
        attacker = MqttLight(
            "hublight-0000e2",
            broker.host,
            broker.port,
            username="hublight-0000e2",
            password="pass-e2",
        )
        await attacker.start()
        forged = json.dumps({"on": True, "brightness": 1, "rgb": [0, 0, 0], "rev": 10**6})
        await attacker.client.publish("hublight-0000e1/state", forged, qos=1, retain=True)
        await attacker.client.publish("hublight-0000e1/online", "offline", qos=1, retain=True)
        await attacker.client.publish(
            "hublight-0000e1/rpc",
            json.dumps(
                {"id": 1, "src": "hublight-0000e2", "method": "Light.Set", "params": {"on": True}}
            ),
            qos=1,
        )
        # A forged reply on the hub's topic is ignored too (wrong src).
        task = asyncio.create_task(backend.rpc(victim.device_id, "Light.GetStatus"))
        await asyncio.sleep(0)
        await attacker.client.publish(
            "hub-home/rpc",
            json.dumps(
                {"id": next(iter(backend._rpcs)), "src": "hublight-0000e2", "result": "forged"}
            ),
            qos=1,
        )
        assert (await task)["rev"] == victim.state["rev"]
        assert (await backend.set_light(victim.device_id, on=True)).on
        await attacker.stop()
        assert backend.twin(victim.device_id).reported.rev > before.rev
        assert backend.twin(victim.device_id).reported.rev < 10**6
        assert backend.availability(victim.device_id) is Availability.ONLINE
        assert not any(r.get("src") == "hublight-0000e2" for r in victim.requests)
    await victim.stop()
