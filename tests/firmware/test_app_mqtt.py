"""LightApp's MQTT link against a real Mosquitto broker (RPC, retained state, availability)."""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
from hublight_sim.runner import Simulator
from hublight_sim.world import WifiWorld
from test_app import LAN_SECRET, TIMEOUT, Caller, reboot_and_wait, wait_until

from hub_app.testing.mosquitto import MosquittoBroker

pytestmark = pytest.mark.mosquitto


class Watcher:
    """A paho client recording (topic, payload, retain); ``expect`` takes the first unconsumed
    match, so messages arriving in another order than awaited are not lost."""

    def __init__(self, broker: MosquittoBroker, topics: list[str]) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.consumed: set[int] = set()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                  client_id="watcher-" + secrets.token_hex(3))
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    async def expect(self, topic: str, match: Any = None) -> tuple[bytes, bool]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while loop.time() < deadline:
            for index, (got_topic, payload, retain) in enumerate(list(self.messages)):
                if index in self.consumed or got_topic != topic:
                    continue
                if match is None or match(payload):
                    self.consumed.add(index)
                    return payload, retain
            await asyncio.sleep(0.02)
        raise AssertionError(f"no message on {topic}: {self.messages[-10:]}")

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(TIMEOUT)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Simulator]:
    simulator = Simulator(WifiWorld(), count=1, flash_root=tmp_path / "flash",
                          seed=secrets.token_hex(4))
    await simulator.start()
    await simulator.wait_started(TIMEOUT)
    try:
        yield simulator
    finally:
        await simulator.stop()


async def test_rpc_state_and_availability_over_mqtt(sim: Simulator,
                                                    mosquitto: MosquittoBroker) -> None:
    light = sim.lights[0]
    dev = light.device_id
    watcher = Watcher(mosquitto, [f"{dev}/#", "hubtest/rpc"])
    try:
        async with aiohttp.ClientSession() as session:
            url = await wait_until(lambda: light.ap_url)
            caller = Caller(session, light.setup_code)
            # A retained command waiting on the broker must not be replayed when the light
            # subscribes ("ghost switching").
            watcher.publish(f"{dev}/rpc", json.dumps(
                {"id": 1, "src": "hubtest", "method": "Light.Set",
                 "params": {"on": True, "brightness": 10}}).encode(), retain=True)
            await reboot_and_wait(light, caller, url, "Config.Set", {
                "config": {"wifi": {"sta": {"enable": True, "ssid": "HomeNet",
                                            "pass": "correct horse battery"}},
                           "hub": {"secret": LAN_SECRET},
                           "mqtt": {"enable": True,
                                    "server": f"{mosquitto.host}:{mosquitto.port}"}},
                "save": True, "reboot": True})
            await watcher.expect(f"{dev}/online", lambda p: p == b"online")
            payload, _ = await watcher.expect(f"{dev}/state")
            assert json.loads(payload)["brightness"] == 100  # the retained command was ignored
            watcher.publish(f"{dev}/rpc", json.dumps(
                {"id": 2, "src": "hubtest", "method": "Light.Set",
                 "params": {"on": True, "brightness": 55, "transition_ms": 0}}).encode())
            reply, _ = await watcher.expect("hubtest/rpc")
            frame = json.loads(reply)
            assert frame["id"] == 2 and frame["result"]["brightness"] == 55
            assert frame["result"]["source"] == "mqtt"
            state, _ = await watcher.expect(
                f"{dev}/state", lambda p: json.loads(p)["brightness"] == 55)
            assert json.loads(state)["on"] is True
            late = Watcher(mosquitto, [f"{dev}/state"])
            try:
                retained, was_retained = await late.expect(f"{dev}/state")
                assert was_retained and json.loads(retained)["brightness"] == 55
            finally:
                late.close()

            watcher.publish(f"{dev}/rpc", b"{not json")
            watcher.publish(f"{dev}/rpc", json.dumps(
                {"id": 3, "src": "hubtest", "method": "No.Such"}).encode())
            reply, _ = await watcher.expect("hubtest/rpc")
            assert json.loads(reply)["error"]["code"] == 404
            replies = [json.loads(p) for t, p, _ in watcher.messages if t == "hubtest/rpc"]
            assert all(r.get("id") != 1 for r in replies), "the retained command was executed"
            # clear the retained request we left behind
            watcher.publish(f"{dev}/rpc", b"", retain=True)

            lan = await wait_until(lambda: light.lan_url)
            hub = Caller(session, LAN_SECRET)
            assert (await hub.call(lan, "Light.GetStatus"))["brightness"] == 55
            info = await hub.call(lan, "Sys.GetInfo")
            assert info["mqtt"]["connected"] is True
        await light.stop()
        await watcher.expect(f"{dev}/online", lambda p: p == b"offline")
    finally:
        watcher.close()
