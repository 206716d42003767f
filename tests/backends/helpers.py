"""Helpers for backend tests."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub_app.broker_client.base import Backend, LightEvent

TIMEOUT = 30.0  # generous: 2 cores shared by many test runs


async def wait_for(predicate: Callable[[], bool], timeout: float = TIMEOUT, what: str = "") -> None:  # noqa: ASYNC109
    """Poll `predicate` until true (AssertionError after `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("timed out waiting for %s" % (what or predicate))
        await asyncio.sleep(0.02)


class EventLog:
    """Collects a backend's light events."""

    def __init__(self, backend: Backend) -> None:
        self.events: list[LightEvent] = []
        self.unsubscribe = backend.subscribe_light(self.events.append)

    def kinds(self, device_id: str) -> list[str]:
        return [e.kind for e in self.events if e.device_id == device_id]


class PahoWatcher:
    """A fresh, independent paho subscriber (what any other MQTT client would see)."""

    def __init__(self, host: str, port: int, topics: list[str], **auth: Any) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"watcher-{id(self)}")
        if auth.get("username"):
            self.client.username_pw_set(auth["username"], auth.get("password"))
        if auth.get("tls_context") is not None:
            self.client.tls_set_context(auth["tls_context"])
        self.client.on_message = self._on_message
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_connect = lambda c, *a: c.subscribe([(t, 1) for t in topics])
        self.client.connect(host, port, 30)
        self.client.loop_start()
        if not self._subscribed.wait(TIMEOUT):
            raise AssertionError("watcher could not subscribe")

    def _on_message(self, client: Any, userdata: Any, message: paho.MQTTMessage) -> None:
        with self._lock:
            self.messages.append((message.topic, bytes(message.payload), bool(message.retain)))

    def snapshot(self) -> list[tuple[str, bytes, bool]]:
        with self._lock:
            return list(self.messages)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


async def watch(host: str, port: int, topics: list[str], **auth: Any) -> PahoWatcher:
    return await asyncio.to_thread(PahoWatcher, host, port, topics, **auth)


def state_payload(**fields: Any) -> bytes:
    state = {
        "on": False,
        "brightness": 50,
        "rgb": [1, 2, 3],
        "transition_ms": 0,
        "rev": 1,
        "source": "boot",
    }
    state.update(fields)
    return json.dumps(state).encode()
