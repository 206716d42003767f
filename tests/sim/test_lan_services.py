"""A paired light on the LAN: MQTT through a real Mosquitto and DNS-SD through real mDNS."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import SimLight

from hub_app.testing.mosquitto import MosquittoBroker

from .conftest import provision
from .helpers import LightRpc

paho = pytest.importorskip("paho.mqtt.client")


class Watcher:
    """A paho client that records every message of the topics it subscribed to."""

    def __init__(self, broker: MosquittoBroker, topics: list[str]) -> None:
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="test-watcher")
        self.client.on_message = lambda _c, _u, m: self.messages.put(
            (m.topic, m.payload, bool(m.retain)))
        self.client.connect(broker.host, broker.port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    async def wait(self, topic: str, predicate: Any = None, timeout_s: float = 30) -> bytes:
        """The first message on ``topic`` matching ``predicate``, including earlier ones: messages
        arrive in any order across topics (the state may come before the RPC reply)."""
        history: list[tuple[str, bytes, bool]] = self.__dict__.setdefault("history", [])
        deadline = time.monotonic() + timeout_s
        seen = 0
        while time.monotonic() < deadline:
            while True:
                try:
                    history.append(self.messages.get_nowait())
                except queue.Empty:
                    break
            for got_topic, payload, _retain in history[seen:]:
                if got_topic == topic and (predicate is None or predicate(payload)):
                    return payload
            seen = len(history)
            await asyncio.sleep(0.05)
        raise AssertionError(f"no message on {topic}")

    def publish(self, topic: str, payload: str) -> None:
        self.client.publish(topic, payload, qos=1).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.mark.mosquitto
async def test_mqtt_rpc_state_online_and_last_will(
    session: aiohttp.ClientSession, light: SimLight, ap_rpc: LightRpc,
    mosquitto: MosquittoBroker,
) -> None:
    device = light.device_id
    watcher = Watcher(mosquitto, [f"{device}/#", "tester/rpc"])
    try:
        extra = {"mqtt": {"enable": True, "server": f"{mosquitto.host}:{mosquitto.port}",
                          "keepalive": 5}}
        await provision(light, session, ap_rpc, extra=extra)
        await watcher.wait(f"{device}/online", lambda p: p == b"online")
        watcher.publish(f"{device}/rpc", json.dumps(
            {"id": 7, "src": "tester", "method": "Light.Set", "params": {"on": True,
                                                                       "brightness": 66}}))
        reply = json.loads(await watcher.wait("tester/rpc"))
        assert reply["id"] == 7 and reply["result"]["brightness"] == 66
        state = json.loads(await watcher.wait(
            f"{device}/state", lambda p: json.loads(p).get("brightness") == 66))
        assert state["on"] is True and state["source"] == "mqtt"
        # retained: a newcomer gets state and online at once
        late = Watcher.__new__(Watcher)
        late.messages = queue.Queue()
        late.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="late")
        late.client.on_message = lambda _c, _u, m: late.messages.put(
            (m.topic, m.payload, bool(m.retain)))
        late.client.connect(mosquitto.host, mosquitto.port)
        late.client.subscribe(f"{device}/+", qos=1)
        late.client.loop_start()
        assert json.loads(await late.wait(f"{device}/state"))["brightness"] == 66
        late.close()
        # the power cut: the broker publishes the Last Will "offline"
        light.power_cut()
        await watcher.wait(f"{device}/online", lambda p: p == b"offline", timeout_s=40)
    finally:
        watcher.close()


async def test_mdns_advertises_both_services(session: aiohttp.ClientSession, light: SimLight,
                                             ap_rpc: LightRpc) -> None:
    pytest.importorskip("hublight.mdns")
    from zeroconf import IPVersion
    from zeroconf.asyncio import AsyncZeroconf

    await provision(light, session, ap_rpc)
    zc = AsyncZeroconf(interfaces=["127.0.0.1"], ip_version=IPVersion.V4Only)
    try:
        for service_type in ("_hublight._tcp.local.", "_http._tcp.local."):
            name = f"{light.device_id}.{service_type}"
            info = None
            for _attempt in range(10):
                info = await zc.async_get_service_info(service_type, name, timeout=3000)
                if info is not None:
                    break
            assert info is not None, service_type
            props = {k.decode(): (v or b"").decode() for k, v in info.properties.items()}
            assert props["id"] == light.device_id
            assert props["arch"] == "sim" and props["model"] == "HL-S1" and props["fw_id"]
            assert info.port == light.board.lan_port
            assert light.board.lan_ip in info.parsed_addresses()
    finally:
        await zc.async_close()
