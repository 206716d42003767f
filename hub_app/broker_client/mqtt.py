"""External MQTT broker backend (paho-mqtt 2.x): MQTT 3.1.1 or 5, TLS, passwords, reconnect.

Threading: paho runs in one network thread owned by this backend (`_network_main`); that thread
never touches backend state. It only copies what arrived into `_inbox` and wakes the event loop
with `loop.call_soon_threadsafe`; parsing and everything else happens on the loop. Publishing
from the loop is thread-safe in paho (it queues the packet and writes or wakes the thread).

Reconnect is ours, not paho's: the network thread connects, runs `client.loop()` until the link
drops, then waits `Backoff.next_delay()` and tries again. After every CONNACK the loop side
re-subscribes to every light's topics (the broker replays retained state and availability), and
the command pipeline in `base.Backend` re-sends whatever was on the wire.

The hub subscribes only to its lights' topics and to its own reply topic, never to `#`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import logging
import socket
import ssl
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion

from hub_app.broker_client.base import (
    Availability,
    Backend,
    CommandError,
    ConfigurationError,
    ConnectionKind,
    ConnectionState,
    LightCommand,
    LightState,
    RpcError,
    _Slot,
)
from hub_app.broker_client.reconnect import Backoff

_LOGGER = logging.getLogger(__name__)

MAX_PAYLOAD = 64 * 1024  # larger messages on our topics are dropped
_SUBSCRIBE_BATCH = 200


@dataclass(frozen=True)
class MqttConfig:
    """How to reach the broker. `password` never appears in reprs or logs."""

    host: str
    port: int = 1883
    protocol: Literal["3.1.1", "5"] = "3.1.1"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    ca_file: str | None = None  # None with tls=True: the system trust store
    cert_file: str | None = None  # client certificate (PEM), optional
    key_file: str | None = None
    keepalive: int = 30
    client_id: str | None = None  # default: "hub-" + random hex, unique per hub instance
    reconnect_initial: float = 0.1
    reconnect_max: float = 30.0
    connect_timeout: float = 10.0

    def ssl_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context (hostname and chain), or None without TLS. Blocking."""
        if not self.tls:
            return None
        try:
            context = ssl.create_default_context(cafile=self.ca_file)
            if self.cert_file:
                context.load_cert_chain(self.cert_file, self.key_file)
        except (OSError, ssl.SSLError) as err:
            raise ConfigurationError(f"TLS files unusable: {err}") from None
        return context


def new_client_id(prefix: str = "hub") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class _Rpc:
    __slots__ = ("callback", "device_id")

    def __init__(self, device_id: str, callback: Callable[[Mapping[str, Any]], None]) -> None:
        self.device_id = device_id
        self.callback = callback


class MqttBackend(Backend):
    """Lights on an MQTT broker, following protocol.md's topics."""

    def __init__(self, config: MqttConfig, *, command_timeout: float = 10.0) -> None:
        super().__init__(command_timeout=command_timeout)
        self.config = config
        self.client_id = config.client_id or new_client_id()
        self.reply_topic = f"{self.client_id}/rpc"
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: paho.Client | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._backoff = Backoff(config.reconnect_initial, config.reconnect_max)
        self._inbox: collections.deque[tuple[str, Any]] = collections.deque()
        self._inbox_lock = threading.Lock()
        self._drain_scheduled = False
        self._topics: dict[str, tuple[str, str]] = {}  # topic -> (device_id, "state"|"online")
        self._rpcs: dict[int, _Rpc] = {}
        self._ids = itertools.count(1)
        self._unacked_subs: set[int] = set()
        self._link_up = False  # CONNACK accepted and not yet lost (loop side)
        self._refusal: str | None = None  # why the broker refused the last CONNECT (thread side)
        self.dropped_messages = 0  # malformed or unexpected messages seen (diagnostics)

    def __repr__(self) -> str:
        c = self.config
        return f"MqttBackend({c.host}:{c.port}, client_id={self.client_id}, {self.connection.kind})"

    # --- topics -------------------------------------------------------------------------
    @staticmethod
    def _prefix(slot: _Slot) -> str:
        prefix = slot.options.get("topic_prefix") or slot.device_id
        return str(prefix)

    def _light_topic_map(self, slot: _Slot) -> dict[str, str]:
        """The light's topics this backend subscribes to -> what arrives there."""
        prefix = self._prefix(slot)
        if any(c in prefix for c in "+#") or not prefix:
            raise ValueError("topic prefix must not contain wildcards")
        return {f"{prefix}/state": "state", f"{prefix}/online": "online"}

    def _watch_light(self, slot: _Slot) -> None:
        topics = self._light_topic_map(slot)
        for topic, kind in topics.items():
            self._topics[topic] = (slot.device_id, kind)
        if self._link_up:
            self._subscribe(list(topics))

    def _unwatch_light(self, slot: _Slot) -> None:
        topics = list(self._light_topic_map(slot))
        for topic in topics:
            self._topics.pop(topic, None)
        if self._link_up:
            self._transport_unsubscribe(topics)

    @property
    def subscribed_topics(self) -> list[str]:
        """Every topic filter this backend subscribes to (no wildcards, ever)."""
        return [self.reply_topic, *self._topics]

    # --- the transport (paho here; the embedded backend overrides these three) ----------
    def _transport_publish(self, topic: str, payload: bytes | str, qos: int) -> bool:
        """Publish (never retained); False if it could not be queued."""
        client = self._client
        if client is None:
            return False
        info = client.publish(topic, payload, qos=qos, retain=False)
        return bool(info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS)

    def _transport_unsubscribe(self, topics: list[str]) -> None:
        if self._client is not None:
            self._client.unsubscribe(topics)

    def _subscribe(self, topics: Iterable[str]) -> None:
        """Subscribe (QoS 1); `_on_suback` follows for each batch."""
        client = self._client
        if client is None:
            return
        wanted = list(topics)
        for start in range(0, len(wanted), _SUBSCRIBE_BATCH):
            batch = [(topic, 1) for topic in wanted[start : start + _SUBSCRIBE_BATCH]]
            result, mid = client.subscribe(batch)
            if result == MQTTErrorCode.MQTT_ERR_SUCCESS and mid is not None:
                self._unacked_subs.add(mid)

    # --- lifecycle ----------------------------------------------------------------------
    async def _connect(self) -> None:
        self._loop = asyncio.get_running_loop()
        context = await asyncio.to_thread(self.config.ssl_context)
        client = self._make_client(context)
        self._client = client
        self._thread = threading.Thread(
            target=self._network_main, name=f"mqtt-{self.client_id}", daemon=True
        )
        self._thread.start()

    async def _disconnect(self) -> None:
        self._stop.set()
        client, thread = self._client, self._thread
        if client is not None and self._link_up:
            with contextlib.suppress(Exception):
                client.disconnect()
        if thread is not None:
            await asyncio.to_thread(thread.join, 15.0)
        self._link_up = False
        self._fail_rpcs("backend closed")

    def _make_client(self, context: ssl.SSLContext | None) -> paho.Client:
        config = self.config
        if config.protocol == "5":
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                protocol=MQTTProtocolVersion.MQTTv5,
            )
        else:
            client = paho.Client(
                CallbackAPIVersion.VERSION2,
                client_id=self.client_id,
                clean_session=True,
                protocol=MQTTProtocolVersion.MQTTv311,
            )
        client.enable_logger(logging.getLogger(__name__ + ".paho"))
        if config.username is not None:
            client.username_pw_set(config.username, config.password)
        if context is not None:
            client.tls_set_context(context)
        client.connect_timeout = config.connect_timeout
        client.max_inflight_messages_set(1000)
        client.max_queued_messages_set(0)
        client.on_socket_open = _no_delay
        # Only the network thread may touch the socket: without this, paho writes a publish
        # straight from the calling (event loop) thread, concurrently with the network
        # thread's reads; on TLS that corrupts the OpenSSL state ("bad record mac"). With a
        # register-write callback set, paho queues the packet and wakes the network thread.
        client.on_socket_register_write = _ignore
        client.on_connect = self._paho_on_connect
        client.on_disconnect = self._paho_on_disconnect
        client.on_message = self._paho_on_message
        client.on_subscribe = self._paho_on_subscribe
        return client

    # --- the network thread (no backend state touched here) -----------------------------
    def _network_main(self) -> None:
        client = self._client
        assert client is not None
        while not self._stop.is_set():
            self._post("connection", (ConnectionKind.CONNECTING, None))
            try:
                if self.config.protocol == "5":
                    client.connect(
                        self.config.host, self.config.port, self.config.keepalive, clean_start=True
                    )
                else:
                    client.connect(self.config.host, self.config.port, self.config.keepalive)
            except Exception as err:  # OSError, ssl errors, DNS...: retry with backoff
                self._post("connection", (ConnectionKind.DISCONNECTED, _describe(err)))
                self._stop.wait(self._backoff.next_delay())
                continue
            while not self._stop.is_set():
                try:
                    result = client.loop(timeout=0.5)
                except Exception as err:  # never let the thread die
                    _LOGGER.exception("paho loop failed")
                    result = MQTTErrorCode.MQTT_ERR_UNKNOWN
                    self._post("connection", (ConnectionKind.DISCONNECTED, _describe(err)))
                if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
                    break
            with contextlib.suppress(Exception):
                # Drop the socket so that the next connect starts clean (no DISCONNECT sent,
                # or one sent on an already dead link: either way harmless).
                client._sock_close()
            reason, self._refusal = self._refusal or "connection lost", None
            self._post("connection", (ConnectionKind.DISCONNECTED, reason))
            if not self._stop.is_set():
                self._stop.wait(self._backoff.next_delay())
        with contextlib.suppress(Exception):
            client._sock_close()

    def _paho_on_connect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        try:
            if reason.is_failure:
                self._refusal = f"refused: {reason}"
            else:
                self._backoff.reset()
                self._post("connack", None)
        except Exception:
            _LOGGER.exception("on_connect failed")

    def _paho_on_disconnect(
        self, client: paho.Client, userdata: Any, flags: Any, reason: Any, properties: Any
    ) -> None:
        pass  # the network thread reports the loss itself once `loop()` returns

    def _paho_on_subscribe(
        self, client: paho.Client, userdata: Any, mid: int, reasons: Any, properties: Any
    ) -> None:
        try:
            failed = [str(r) for r in reasons if r.is_failure]
            self._post("suback", (mid, failed))
        except Exception:
            _LOGGER.exception("on_subscribe failed")

    def _paho_on_message(
        self, client: paho.Client, userdata: Any, message: paho.MQTTMessage
    ) -> None:
        try:
            self._post("message", (message.topic, bytes(message.payload), bool(message.retain)))
        except Exception:
            _LOGGER.exception("on_message failed")  # e.g. a topic that is not UTF-8

    def _post(self, kind: str, item: Any) -> None:
        """Hand an item to the event loop (called from the network thread)."""
        loop = self._loop
        if loop is None:
            return
        with self._inbox_lock:
            self._inbox.append((kind, item))
            if self._drain_scheduled:
                return
            self._drain_scheduled = True
        # RuntimeError: the loop is closed, nobody is listening any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._drain)

    # --- the loop side ------------------------------------------------------------------
    def _drain(self) -> None:
        with self._inbox_lock:
            items = list(self._inbox)
            self._inbox.clear()
            self._drain_scheduled = False
        for kind, item in items:
            try:
                if kind == "message":
                    self._on_message(*item)
                elif kind == "connection":
                    self._on_link_change(*item)
                elif kind == "connack":
                    self._on_connack()
                elif kind == "suback":
                    self._on_suback(*item)
            except Exception:
                _LOGGER.exception("handling %s failed", kind)

    def _on_link_change(self, kind: ConnectionKind, reason: str | None) -> None:
        if self._closed and kind is not ConnectionKind.DISCONNECTED:
            return
        if kind is ConnectionKind.DISCONNECTED:
            self._link_up = False
            self._unacked_subs.clear()
            self._fail_rpcs("connection lost")
        if (
            kind is ConnectionKind.CONNECTING
            and self._connection.kind is ConnectionKind.DISCONNECTED
        ):
            reason = self._connection.reason  # keep saying why we are reconnecting
        self._set_connection(ConnectionState(kind, reason))

    def _on_connack(self) -> None:
        self._link_up = True
        self._unacked_subs.clear()
        self._subscribe(self.subscribed_topics)
        if not self._unacked_subs:
            self._after_subscribed()
            self._set_connection(ConnectionState(ConnectionKind.CONNECTED))

    def _after_subscribed(self) -> None:
        """Every subscription is acknowledged (after each connect): subclasses re-read here."""

    def _on_suback(self, mid: int, failed: list[str]) -> None:
        if failed:
            _LOGGER.warning("broker refused %d subscription(s): %s", len(failed), failed[0])
        if mid in self._unacked_subs:
            self._unacked_subs.discard(mid)
            if not self._unacked_subs and self._link_up:
                self._after_subscribed()
                self._set_connection(ConnectionState(ConnectionKind.CONNECTED))

    def _on_message(self, topic: str, payload: bytes, retained: bool) -> None:
        if len(payload) > MAX_PAYLOAD:
            self._drop(topic, f"payload too large ({len(payload)} bytes)")
            return
        if topic == self.reply_topic:
            self._on_reply(payload)
            return
        target = self._topics.get(topic)
        if target is None:
            self._drop(topic, "not one of our topics")
            return
        device_id, kind = target
        if kind == "online":
            text = payload.decode("utf-8", "replace").strip()
            if text == "online":
                self._report_availability(device_id, Availability.ONLINE)
            elif text == "offline":
                self._report_availability(device_id, Availability.OFFLINE)
            elif text == "" and retained:
                self._report_availability(device_id, Availability.UNKNOWN)
            else:
                self._drop(topic, "availability must be online/offline")
            return
        try:
            self._on_light_message(device_id, kind, payload)
        except (ValueError, TypeError, KeyError, UnicodeDecodeError, RecursionError) as err:
            self._drop(topic, str(err) or type(err).__name__)

    def _on_light_message(self, device_id: str, kind: str, payload: bytes) -> None:
        """A message on one of the light's topics (not availability); raise ValueError (or
        TypeError / KeyError) for anything malformed: it is logged and dropped."""
        self._report_state(device_id, LightState.from_json(json.loads(payload)))

    def _on_reply(self, payload: bytes) -> None:
        try:
            frame = json.loads(payload)
            if not isinstance(frame, dict):
                raise ValueError("not an object")
            frame_id = frame.get("id")
            if not isinstance(frame_id, int) or isinstance(frame_id, bool):
                raise ValueError("reply without a numeric id")
        except (ValueError, UnicodeDecodeError, RecursionError) as err:
            self._drop(self.reply_topic, str(err))
            return
        rpc = self._rpcs.get(frame_id)
        if rpc is None:
            _LOGGER.debug("reply %d matches no request (late or duplicate)", frame_id)
            return
        if frame.get("src") != rpc.device_id:
            # Every light may publish on our reply topic: only the light we asked may answer.
            self._drop(self.reply_topic, f"reply {frame_id} not from {rpc.device_id}")
            return
        del self._rpcs[frame_id]
        try:
            rpc.callback(frame)
        except Exception:
            _LOGGER.exception("%s: handling the reply failed", rpc.device_id)

    def _drop(self, topic: str, why: str) -> None:
        self.dropped_messages += 1
        _LOGGER.warning("dropped message on %r: %s", topic[:200], why[:200])

    def _fail_rpcs(self, why: str) -> None:
        rpcs, self._rpcs = self._rpcs, {}
        for rpc in rpcs.values():
            with contextlib.suppress(Exception):
                rpc.callback({"_lost": why})

    # --- requests -----------------------------------------------------------------------
    def _publish_request(
        self,
        slot: _Slot,
        method: str,
        params: Mapping[str, Any] | None,
        callback: Callable[[Mapping[str, Any]], None],
    ) -> int:
        if not self._link_up:
            raise CommandError("disconnected", device_id=slot.device_id)
        frame_id = next(self._ids)
        frame: dict[str, Any] = {"id": frame_id, "src": self.client_id, "method": method}
        if params is not None:
            frame["params"] = dict(params)
        self._rpcs[frame_id] = _Rpc(slot.device_id, callback)
        if not self._transport_publish(f"{self._prefix(slot)}/rpc", json.dumps(frame), 1):
            self._rpcs.pop(frame_id, None)
            raise CommandError("disconnected", "publish failed", device_id=slot.device_id)
        return frame_id

    def _send_set(self, slot: _Slot, command: LightCommand, token: object) -> None:
        device_id = slot.device_id

        def on_reply(frame: Mapping[str, Any]) -> None:
            if "_lost" in frame:
                return  # the pipeline re-sends after the reconnect
            error = _frame_error(frame)
            if error is not None:
                code, message = error
                self._report_reply(
                    device_id,
                    token,
                    None,
                    CommandError("rejected", message, code=code, device_id=device_id),
                )
                return
            rev = None
            result = frame.get("result")
            if isinstance(result, dict):
                try:
                    state = LightState.from_json(result)
                except ValueError:
                    _LOGGER.warning("%s: Light.Set result is not a light status", device_id)
                else:
                    rev = state.rev
            self._report_reply(device_id, token, rev, None)

        # CommandError = not connected: the pipeline re-sends once we are.
        with contextlib.suppress(CommandError):
            self._publish_request(slot, "Light.Set", command.params(), on_reply)

    async def rpc(
        self,
        device_id: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        """Call a method on the light over `<id>/rpc`; RpcError / CommandError on failure."""
        slot = self._slot(device_id)
        future: asyncio.Future[Mapping[str, Any]] = asyncio.get_running_loop().create_future()

        def on_reply(frame: Mapping[str, Any]) -> None:
            if not future.done():
                future.set_result(frame)

        frame_id = self._publish_request(slot, method, params, on_reply)
        try:
            async with asyncio.timeout(timeout or self.command_timeout):
                frame = await future
        except TimeoutError:
            raise CommandError("timeout", method, device_id=device_id) from None
        finally:
            self._rpcs.pop(frame_id, None)
        if "_lost" in frame:
            raise CommandError("disconnected", str(frame["_lost"]), device_id=device_id)
        error = _frame_error(frame)
        if error is not None:
            raise RpcError(*error)
        return frame.get("result")

    # --- diagnostics --------------------------------------------------------------------
    def publish_raw(self, topic: str, payload: bytes | str, qos: int = 0) -> None:
        """Publish anything (never retained), e.g. from a support console."""
        if not self._transport_publish(topic, payload, qos):
            raise CommandError("disconnected")


def _ignore(*args: Any) -> None:
    pass


def _no_delay(client: paho.Client, userdata: Any, sock: Any) -> None:
    """Turn Nagle off on paho's socket. paho leaves it on; then every small packet written
    while the previous one is unacknowledged waits for the broker's delayed ACK (~40 ms on
    Linux): measured 88 ms per command instead of ~1 ms (bench/control_rtt.py)."""
    with contextlib.suppress(OSError, AttributeError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _frame_error(frame: Mapping[str, Any]) -> tuple[int, str] | None:
    error = frame.get("error")
    if error is None:
        return None
    if isinstance(error, dict):
        code = error.get("code", 500)
        if code == 0:  # some Mongoose OS handlers signal success like this
            return None
        return (code if isinstance(code, int) else 500, str(error.get("message", "")))
    return (500, str(error))


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return f"{type(err).__name__}: {text}" if str(err) else text
