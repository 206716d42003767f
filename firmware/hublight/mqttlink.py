"""RPC over MQTT, the retained state and availability topics, events, and AWS shadow mode.

Topics (prefix = ``mqtt.topic_prefix`` or the device id): ``<prefix>/rpc`` (requests; retained ones
are ignored), replies to ``<src>/rpc``, ``<prefix>/state`` (retained light status),
``<prefix>/online`` (retained online/offline, Last Will offline), ``<prefix>/events``
(notification frames). With ``aws.enable`` the state goes to the AWS IoT device shadow instead.
"""

import asyncio
import json

from hublight.config import split_server
from hublight.light import parse_set_args
from hublight.rpc import RpcError
from hublight.wifi import backoff_ms

try:
    from typing import TYPE_CHECKING, Any
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.app import LightApp

SHADOW_FIELDS = ("on", "brightness", "rgb", "transition_ms")


async def _maybe_await(result: Any) -> Any:
    if hasattr(result, "send"):
        return await result
    return result


def _text(payload: Any) -> str:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return bytes(payload).decode()
    return str(payload)


class MqttLink:
    """The light's MQTT side; ``run()`` keeps a connection up (capped backoff) until ``stop()``."""

    def __init__(self, app: "LightApp") -> None:
        self.app = app
        self.log = app.log
        cfg = app.config
        self.prefix = cfg.mqtt_topic_prefix()
        self.aws = bool(cfg["aws.enable"])
        self.thing = cfg.aws_thing_name()
        self.client: Any = None
        self.connected = False
        self.stopping = False
        self.outbox: list[Any] = []  # (topic, payload, retain, qos) waiting for the publisher
        self.shadow_version = -1  # version of the last shadow document applied
        self.wake = asyncio.Event()

    # --- topics ---------------------------------------------------------------------------
    def topic(self, leaf: str) -> str:
        return "%s/%s" % (self.prefix, leaf)

    def shadow_topic(self, leaf: str) -> str:
        return "$aws/things/%s/shadow/%s" % (self.thing, leaf)

    # --- connection -----------------------------------------------------------------------
    def _make_client(self) -> Any:
        from hublight.mqtt import MqttClient

        cfg = self.app.config
        tls_on = bool(cfg["mqtt.tls"])
        host, port = split_server(cfg["mqtt.server"], 8883 if tls_on else 1883)
        tls = None
        if tls_on:
            tls = {"ca": cfg["mqtt.ca"], "server_hostname": host}
            if cfg["mqtt.cert"] and cfg["mqtt.key"]:
                tls["cert"] = cfg["mqtt.cert"]  # a client certificate (AWS IoT needs one)
                tls["key"] = cfg["mqtt.key"]
        client = MqttClient(self.app.board, cfg.mqtt_client_id(), host, port,
                            user=cfg["mqtt.user"] or None, password=cfg["mqtt.pass"] or None,
                            keepalive=cfg["mqtt.keepalive"],
                            will={"topic": self.topic("online"), "payload": b"offline",
                                  "retain": True, "qos": 1},
                            tls=tls, log=self.log)
        client.on_message = self._on_message
        return client

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            unsubscribe = None
            publisher = None
            try:
                client = self._make_client()
                self.client = client
                await client.connect()
                self.connected = True
                attempt = 0
                self.log.info("mqtt: connected to %s" % self.app.config["mqtt.server"])
                await _maybe_await(client.subscribe(self.topic("rpc"), 1))
                if self.aws:
                    await _maybe_await(client.subscribe(self.shadow_topic("update/delta"), 1))
                    await _maybe_await(client.subscribe(self.shadow_topic("get/accepted"), 1))
                await _maybe_await(client.publish(self.topic("online"), b"online", True, 1))
                if self.aws:
                    # Deltas missed while offline: read the whole shadow after every connect.
                    await _maybe_await(client.publish(self.shadow_topic("get"), b"", False, 1))
                    self._queue_state(self.app.light.status())
                else:
                    self._queue_state(self.app.light.status())
                unsubscribe = self.app.notifier.subscribe(self._on_notify)
                publisher = asyncio.create_task(self._publisher(client))
                await client.run()
                if not self.stopping:
                    self.log.warn("mqtt: connection closed")
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not self.stopping:
                    self.log.warn("mqtt: %s: %s" % (type(exc).__name__, exc))
            finally:
                self.connected = False
                if unsubscribe is not None:
                    unsubscribe()
                if publisher is not None:
                    publisher.cancel()
            if self.stopping:
                break
            delay = backoff_ms(attempt)
            attempt += 1
            await asyncio.sleep(delay / 1000)

    async def stop(self) -> None:
        """Publish ``offline`` (retained) and disconnect cleanly."""
        self.stopping = True
        client = self.client
        if client is None or not self.connected:
            return
        try:
            await self._flush(client)
            await _maybe_await(client.publish(self.topic("online"), b"offline", True, 1))
            await _maybe_await(client.disconnect())
        except Exception as exc:
            self.log.warn("mqtt: clean disconnect failed: %s" % exc)
        self.connected = False

    # --- outgoing -------------------------------------------------------------------------
    def _queue(self, topic: str, payload: Any, retain: bool, qos: int) -> None:
        self.outbox.append((topic, payload, retain, qos))
        self.wake.set()

    def _queue_state(self, status: dict[str, Any]) -> None:
        if self.aws:
            doc = {"state": {"reported": status}}
            self._queue(self.shadow_topic("update"), json.dumps(doc).encode(), False, 1)
        else:
            self._queue(self.topic("state"), json.dumps(status).encode(), True, 1)

    async def _flush(self, client: Any) -> None:
        while self.outbox:
            topic, payload, retain, qos = self.outbox.pop(0)
            await _maybe_await(client.publish(topic, payload, retain, qos))

    async def _publisher(self, client: Any) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self._flush(client)
            except Exception as exc:
                self.log.warn("mqtt: publish failed: %s" % exc)

    def _on_notify(self, frame: dict[str, Any]) -> None:
        if frame.get("method") == "NotifyStatus":
            status = frame.get("params", {}).get("light:0")
            if isinstance(status, dict):
                self._queue_state(status)
        self._queue(self.topic("events"), json.dumps(frame).encode(), False, 0)

    # --- incoming -------------------------------------------------------------------------
    def _on_message(self, topic: Any, payload: Any, retain: bool = False) -> None:
        topic = _text(topic)
        if topic == self.topic("rpc"):
            if retain:
                self.log.warn("mqtt: ignoring a retained request on %s" % topic)
                return
            self.app.spawn(self._handle_rpc(payload))
        elif self.aws and topic == self.shadow_topic("update/delta"):
            self._apply_shadow(payload, "delta")
        elif self.aws and topic == self.shadow_topic("get/accepted"):
            self._apply_shadow(payload, "get")

    async def _handle_rpc(self, payload: Any) -> None:
        try:
            frame = json.loads(_text(payload))
        except (ValueError, UnicodeError):
            self.log.warn("mqtt: request is not JSON, dropped")
            return
        if not isinstance(frame, dict) or not isinstance(frame.get("src"), str) or \
                not frame["src"]:
            self.log.warn("mqtt: request without src cannot be answered, dropped")
            return
        ctx = {"transport": "mqtt", "iface": "lan", "peer": None, "http": None}
        reply = await self.app.rpc.dispatch(frame, ctx)
        if reply is None:
            return
        self._queue("%s/rpc" % frame["src"], json.dumps(reply).encode(), False, 1)

    def _apply_shadow(self, payload: Any, kind: str) -> None:
        """Apply a delta or the desired state of a get/accepted document. A delta older than the
        last document applied is ignored; reported state is sent after a delta (so reported
        catches up with desired) and after a get document only when it changed something (the
        state was reported on connect; every report bumps the shadow version)."""
        try:
            doc = json.loads(_text(payload))
        except (ValueError, UnicodeError):
            self.log.warn("mqtt: shadow %s is not JSON" % kind)
            return
        version = doc.get("version") if isinstance(doc, dict) else None
        if not isinstance(version, int) or version is True or version is False:
            version = None
        if version is not None:
            if kind == "delta" and version < self.shadow_version:
                self.log.info("mqtt: ignoring shadow delta version %d (applied %d)"
                              % (version, self.shadow_version))
                return
            # a get document is the whole current shadow: its version is the reference (also
            # after the shadow was deleted and made again)
            self.shadow_version = version
        state = doc.get("state") if isinstance(doc, dict) else None
        if kind == "get" and isinstance(state, dict):
            state = state.get("desired")
        if not isinstance(state, dict):
            if kind == "delta":
                self._queue_state(self.app.light.status())
            return
        wanted = {}
        for name in SHADOW_FIELDS:
            if name in state and state[name] is not None:
                wanted[name] = state[name]
        if wanted:
            try:
                changes = parse_set_args(wanted) if ("on" in wanted or "brightness" in wanted or
                                                     "rgb" in wanted) else {}
            except RpcError as err:
                self.log.warn("mqtt: shadow desired state refused: %s" % err.message)
                changes = {}
            if changes:
                before = self.app.light.rev
                self.app.light.apply(changes, "shadow")
                if self.app.light.rev != before:
                    return  # the change is reported by the NotifyStatus subscription
        if kind == "delta":
            # Report even when nothing changed, so reported catches up with desired.
            self._queue_state(self.app.light.status())
