"""MQTT settings at run time (no reboot), against a real Mosquitto broker."""

from __future__ import annotations

import asyncio
import glob
import json
import os
import secrets
import ssl
import tempfile
from typing import Any

import aiohttp
import paho.mqtt.client as paho
import pytest
from hublight_sim.runner import SimLight

from hub_app.testing.mosquitto import MosquittoBroker

from .conftest import provision
from .helpers import LightRpc, RpcFailure, eventually

pytestmark = pytest.mark.mosquitto
TIMEOUT = 20.0


class Watcher:
    """A paho client recording (topic, payload, retain) of what it subscribed."""

    def __init__(self, broker: MosquittoBroker, topics: list[str],
                 context: ssl.SSLContext | None = None) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2,
                                  client_id="watcher-" + secrets.token_hex(3))
        if context is not None:
            self.client.tls_set_context(context)
        self.client.on_message = self._on_message
        self.client.connect(broker.host, broker.port)
        for topic in topics:
            self.client.subscribe(topic, qos=1)
        self.client.loop_start()

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        self.messages.append((msg.topic, bytes(msg.payload), bool(msg.retain)))

    async def expect(self, topic: str, payload: bytes, after: int = 0) -> int:
        """Wait for ``payload`` on ``topic`` among the messages from index ``after`` on.
        -> the index just after it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + TIMEOUT
        while loop.time() < deadline:
            for index in range(after, len(self.messages)):
                if self.messages[index][:2] == (topic, payload):
                    return index + 1
            await asyncio.sleep(0.02)
        raise AssertionError(f"no {payload!r} on {topic}: {self.messages[-10:]}")

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def test_mqtt_settings_apply_without_a_reboot(
        light: SimLight, ap_rpc: LightRpc, session: aiohttp.ClientSession,
        mosquitto: MosquittoBroker) -> None:
    dev = light.device_id
    watcher = Watcher(mosquitto, [f"{dev}/online", "lamps/#"])
    try:
        lan = await provision(light, session, ap_rpc)  # paired without MQTT
        boots = light.boots
        result = await lan.call("Config.Set", {"config": {"mqtt": {
            "enable": True, "server": f"{mosquitto.host}:{mosquitto.port}"}}, "save": True})
        assert result == {"saved": True, "restart_required": False}
        seen = await watcher.expect(f"{dev}/online", b"online")
        info = await lan.call("Sys.GetInfo")
        assert info["mqtt"]["connected"] is True
        # another prefix: offline under the old one, online under the new one
        await lan.call("Config.Set", {"config": {"mqtt": {"topic_prefix": "lamps/desk"}}})
        seen = await watcher.expect(f"{dev}/online", b"offline", seen)
        await watcher.expect("lamps/desk/online", b"online")
        # disabling stops it cleanly
        await lan.call("Config.Set", {"config": {"mqtt": {"enable": False}}})
        await watcher.expect("lamps/desk/online", b"offline")
        assert (await lan.call("Sys.GetInfo"))["mqtt"]["connected"] is False
        assert light.boots == boots  # never rebooted
    finally:
        watcher.close()


async def test_client_certificate_for_a_broker_that_requires_one(
        light: SimLight, ap_rpc: LightRpc, session: aiohttp.ClientSession,
        mosquitto_factory: Any) -> None:
    broker: MosquittoBroker = mosquitto_factory(tls=True, require_client_cert=True)
    assert broker.tls is not None
    dev = light.device_id
    watcher = Watcher(broker, [f"{dev}/online"], broker.tls.client_context(with_client_cert=True))
    try:
        lan = await provision(light, session, ap_rpc)
        mqtt = {"enable": True, "server": f"{broker.host}:{broker.port}", "tls": True,
                "ca": broker.tls.ca_pem}
        await lan.call("Config.Set", {"config": {"mqtt": mqtt}})
        # without a client certificate the broker refuses the handshake
        async def refused() -> bool:
            lines = (await lan.call("Sys.GetLog", {"lines": 200}))["lines"]
            return any(line["level"] == "warn" and line["msg"].startswith("mqtt: ")
                       for line in lines)

        await eventually(refused)
        assert (await lan.call("Sys.GetInfo"))["mqtt"]["connected"] is False
        assert not [m for m in watcher.messages if m[1] == b"online"]
        cert = broker.tls.client_cert_path.read_text()
        key = broker.tls.client_key_path.read_text()
        with pytest.raises(RpcFailure) as failure:  # both or neither
            await lan.call("Config.Set", {"config": {"mqtt": {"cert": cert}}})
        assert failure.value.code == 400 and "mqtt.key" in failure.value.message
        with pytest.raises(RpcFailure) as failure:
            await lan.call("Config.Set", {"config": {"mqtt": {"cert": "hello", "key": key}}})
        assert failure.value.code == 400 and "mqtt.cert" in failure.value.message
        await lan.call("Config.Set", {"config": {"mqtt": {"cert": cert, "key": key}},
                                      "save": True})
        await watcher.expect(f"{dev}/online", b"online")
        assert (await lan.call("Sys.GetInfo"))["mqtt"]["connected"] is True
        # write-only: never returned, never logged, no key file left behind
        tree = await lan.call("Config.Get", {"key": "mqtt"})
        assert tree["cert_set"] is True and tree["key_set"] is True
        assert "cert" not in tree and "key" not in tree
        for name in ("mqtt.cert", "mqtt.key"):
            with pytest.raises(RpcFailure) as failure:
                await lan.call("Config.Get", {"key": name})
            assert failure.value.code == 403
        log = json.dumps(await lan.call("Sys.GetLog", {"lines": 200}))
        assert "-----BEGIN" not in log
        assert key.splitlines()[1][:20] not in log and cert.splitlines()[1][:20] not in log
        assert not glob.glob(os.path.join(tempfile.gettempdir(), "hublight-tls-*"))
    finally:
        watcher.close()
