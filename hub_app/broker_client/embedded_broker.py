"""A small asyncio MQTT 3.1.1 broker that runs on the hub's own event loop.

Why our own and not amqtt: see docs/backends.md (measured: amqtt 0.12 adds ~40 ms per QoS 1
round trip; this broker stays well under a millisecond on loopback).

What it does: CONNECT with username/password (checked by a `BrokerAuth`), QoS 0 and 1 (QoS 2
is accepted and completed, delivered as QoS 1), retained messages (persisted atomically to a data
dir), Last Will (published when a client vanishes: socket error, protocol error, keepalive x 1.5
expired, or taken over by a new connection with the same client id), per-topic ACL on publish and
subscribe, wildcards. Sessions are always clean (no queued messages for offline clients): the hub
re-subscribes and re-reads retained state after every reconnect anyway.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from hub_app.atomicfile import write_file_atomically
from hub_app.broker_client import mqtt_codec as codec
from hub_app.broker_client.mqtt_codec import ProtocolError, Publish

_LOGGER = logging.getLogger(__name__)

RETAINED_FILE = "retained.json"
MAX_OUTPUT_BUFFER = 8 * 1024 * 1024  # a client that reads slower than this is disconnected


class BrokerAuth(Protocol):
    """Authentication and ACL for the broker (see `embedded.LightCredentials`)."""

    def authenticate(self, username: str | None, password: bytes | None) -> Any | None:
        """A principal for these credentials, or None to refuse the connection."""

    def may_publish(self, principal: Any, topic: str) -> bool: ...

    def may_subscribe(self, principal: Any, topic_filter: str) -> bool: ...


@dataclass
class _Retained:
    payload: bytes
    qos: int


class _Session:
    def __init__(self, broker: EmbeddedBroker, writer: asyncio.StreamWriter, peer: str) -> None:
        self.broker = broker
        self.writer = writer
        self.peer = peer
        self.client_id = ""
        self.principal: Any = None
        self.keepalive = 0
        self.will: Publish | None = None
        self.subscriptions: dict[str, int] = {}
        self.next_packet_id = 0
        self.closed = False
        self.out: list[bytes] = []

    def send(self, data: bytes) -> None:
        """Queue bytes; the broker writes each session's queue once per loop iteration, so
        a burst of PUBACKs and deliveries costs one system call, not one per packet."""
        if self.closed:
            return
        if not self.out:
            self.broker._want_flush(self)
        self.out.append(data)

    def flush(self) -> None:
        out, self.out = self.out, []
        if self.closed or not out:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_OUTPUT_BUFFER:
            _LOGGER.warning("client %r reads too slowly: disconnecting", self.client_id)
            transport.abort()
            return
        self.writer.write(b"".join(out))

    def abort(self) -> None:
        self.writer.transport.abort()

    def deliver(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        packet_id = None
        if qos:
            self.next_packet_id = self.next_packet_id % 65535 + 1
            packet_id = self.next_packet_id
        self.send(codec.encode_publish(Publish(topic, payload, min(qos, 1), retain, packet_id)))

    def __repr__(self) -> str:
        return f"_Session({self.client_id!r}, {self.peer})"


class _LocalSession(_Session):
    """An in-process client (the hub): deliveries are direct calls, not packets."""

    def __init__(
        self,
        broker: EmbeddedBroker,
        client_id: str,
        principal: Any,
        on_message: Callable[[str, bytes, bool], None],
    ) -> None:
        self.broker = broker
        self.peer = "local"
        self.client_id = client_id
        self.principal = principal
        self.keepalive = 0
        self.will = None
        self.subscriptions = {}
        self.next_packet_id = 0
        self.closed = False
        self._on_message = on_message

    def send(self, data: bytes) -> None:
        pass

    def abort(self) -> None:
        self.broker._end_session(self, publish_will=False)

    def deliver(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        if self.closed:
            return
        try:
            self._on_message(topic, payload, retain)
        except Exception:
            _LOGGER.exception("in-process client %r failed on %r", self.client_id, topic[:200])


class LocalClient:
    """Handle of an in-process client: subscribe / publish / close, all synchronous."""

    def __init__(self, broker: EmbeddedBroker, session: _LocalSession) -> None:
        self._broker = broker
        self._session = session

    @property
    def connected(self) -> bool:
        return not self._session.closed

    def subscribe(self, topic_filters: list[str], qos: int = 1) -> list[int]:
        """Subscribe; retained messages are delivered before this returns."""
        if self._session.closed:
            raise ConnectionError("in-process client closed")
        topics = [(topic_filter, qos) for topic_filter in topic_filters]
        codes = self._broker._subscribe(self._session, topics)
        self._broker._send_retained(self._session, topics)
        return codes

    def unsubscribe(self, topic_filters: list[str]) -> None:
        for topic_filter in topic_filters:
            self._broker._remove_subscription(self._session, topic_filter)

    def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> bool:
        if self._session.closed:
            return False
        self._broker._route(self._session, Publish(topic, payload, qos, retain))
        return True

    def close(self) -> None:
        self._broker._end_session(self._session, publish_will=False)


class EmbeddedBroker:
    """`await broker.start()` listens on host:port (port 0: an ephemeral one, see `.port`)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 1883,
        *,
        auth: BrokerAuth | None = None,
        data_dir: Path | str | None = None,
        ssl_context: ssl.SSLContext | None = None,
        plain_port: int | None = None,
        save_delay: float = 1.0,
    ) -> None:
        """`ssl_context`: the listener on `port` speaks TLS. `plain_port`: an extra listener
        without TLS on the same host (off by default; 0 = an ephemeral port)."""
        self.host = host
        self.port = port
        self.plain_port = plain_port
        self.auth = auth
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.ssl_context = ssl_context
        self.save_delay = save_delay
        self._server: asyncio.Server | None = None
        self._plain_server: asyncio.Server | None = None
        self._sessions: dict[str, _Session] = {}
        self._all: set[_Session] = set()
        self._exact: dict[str, dict[_Session, int]] = {}
        self._wild: dict[str, dict[_Session, int]] = {}
        self._retained: dict[str, _Retained] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._to_flush: list[_Session] = []
        self._save_handle: asyncio.TimerHandle | None = None
        self._save_task: asyncio.Task[None] | None = None
        self._dirty = False
        self.refused_publishes = 0
        self.on_refused: Callable[[str, str], None] | None = None  # (client id, topic), for tests

    def __repr__(self) -> str:
        return f"EmbeddedBroker({self.host}:{self.port}, clients={len(self._sessions)})"

    # --- lifecycle ----------------------------------------------------------------------
    async def start(self) -> EmbeddedBroker:
        if self.data_dir is not None:
            self._retained = await asyncio.to_thread(_load_retained, self.data_dir / RETAINED_FILE)
        self._server = await asyncio.start_server(
            self._handle,
            self.host,
            self.port,
            ssl=self.ssl_context,
            ssl_handshake_timeout=10.0 if self.ssl_context is not None else None,
            backlog=1024,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        kind = "TLS" if self.ssl_context is not None else "plain"
        _LOGGER.info("embedded broker listening on %s:%d (%s)", self.host, self.port, kind)
        if self.plain_port is not None and self.ssl_context is not None:
            try:
                self._plain_server = await asyncio.start_server(
                    self._handle, self.host, self.plain_port, backlog=1024
                )
            except OSError:
                self._server.close()
                self._server = None
                raise
            sockets = self._plain_server.sockets
            if sockets:
                self.plain_port = int(sockets[0].getsockname()[1])
            _LOGGER.warning(
                "embedded broker also listening WITHOUT TLS on %s:%d", self.host, self.plain_port
            )
        return self

    async def close(self) -> None:
        """Stop. Clients still connected lose their link, so their wills are published (and
        persisted): a light that does not come back must not stay retained `online`."""
        for server in (self._server, self._plain_server):
            if server is not None:
                server.close()
        for session in list(self._all):
            self._end_session(session, publish_will=True)
            session.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for server in (self._server, self._plain_server):
            if server is not None:
                with contextlib.suppress(Exception):
                    await server.wait_closed()
        self._server = self._plain_server = None
        if self._save_handle is not None:
            self._save_handle.cancel()
        await self.flush()

    async def flush(self) -> None:
        """Write retained messages to disk now if anything changed."""
        if self._save_task is not None:
            with contextlib.suppress(Exception):
                await self._save_task
        if self._dirty and self.data_dir is not None:
            await self._save()

    @property
    def client_count(self) -> int:
        return len(self._sessions)

    def retained(self) -> dict[str, bytes]:
        return {topic: message.payload for topic, message in self._retained.items()}

    def disconnect_client(self, client_id: str) -> bool:
        """Drop a client's connection as if it vanished (its Last Will is published)."""
        session = self._sessions.get(client_id)
        if session is None:
            return False
        session.abort()
        return True

    # --- one connection -----------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = str(writer.get_extra_info("peername"))
        session = _Session(self, writer, peer)
        clean = False
        try:
            clean = await self._serve(session, reader)
        except (ProtocolError, ValueError) as err:
            _LOGGER.warning("client %r (%s): protocol error: %s", session.client_id, peer, err)
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, ssl.SSLError):
            pass
        except asyncio.CancelledError:
            clean = True  # broker shutdown: no wills
        except Exception:
            _LOGGER.exception("client %r: broker failure", session.client_id)
        finally:
            with contextlib.suppress(Exception):
                session.flush()  # e.g. a refusing CONNACK still queued
            self._end_session(session, publish_will=not clean)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, session: _Session, reader: asyncio.StreamReader) -> bool:
        """Serve until a clean DISCONNECT (True) or the link ends (exception / False)."""
        packets = codec.PacketBuffer()
        first: tuple[int, int, bytes] | None = None
        async with asyncio.timeout(10):
            while first is None:
                data = await reader.read(65536)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
                packets.feed(data)
                first = packets.next_packet()
        kind, _flags, body = first
        if kind != codec.CONNECT:
            raise ProtocolError("first packet is not CONNECT")
        connect = codec.decode_connect(body)
        if connect.protocol_level not in (3, 4):
            session.send(codec.encode_connack(False, codec.REFUSED_PROTOCOL))
            return True
        if not connect.client_id:
            if not connect.clean_session:
                session.send(codec.encode_connack(False, codec.REFUSED_IDENTIFIER))
                return True
            connect.client_id = f"auto-{os.urandom(6).hex()}"
        if self.auth is not None:
            principal = self.auth.authenticate(connect.username, connect.password)
            if principal is None:
                _LOGGER.warning(
                    "refused client %r from %s: bad credentials", connect.client_id, session.peer
                )
                session.send(codec.encode_connack(False, codec.REFUSED_NOT_AUTHORIZED))
                return True
            session.principal = principal
        session.client_id = connect.client_id
        session.keepalive = connect.keepalive
        if connect.will_topic is not None:
            session.will = Publish(
                connect.will_topic, connect.will_payload, connect.will_qos, connect.will_retain
            )
        self._register(session)
        session.send(codec.encode_connack(False, codec.ACCEPTED))
        timeout = connect.keepalive * 1.5 if connect.keepalive else None
        while True:
            packet = packets.next_packet()
            if packet is None:
                async with asyncio.timeout(timeout):
                    data = await reader.read(65536)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
                packets.feed(data)
                if session.writer.transport.get_write_buffer_size() > MAX_OUTPUT_BUFFER // 2:
                    await session.writer.drain()
                continue
            if self._handle_packet(session, *packet):
                return True

    def _want_flush(self, session: _Session) -> None:
        if not self._to_flush:
            asyncio.get_running_loop().call_soon(self._flush)
        self._to_flush.append(session)

    def _flush(self) -> None:
        sessions, self._to_flush = self._to_flush, []
        for session in sessions:
            session.flush()

    def _register(self, session: _Session) -> None:
        previous = self._sessions.get(session.client_id)
        if previous is not None:
            _LOGGER.info("client %r reconnected: dropping the old connection", session.client_id)
            self._end_session(previous, publish_will=True)
            previous.abort()
        self._sessions[session.client_id] = session
        self._all.add(session)

    def _handle_packet(self, session: _Session, kind: int, flags: int, body: bytes) -> bool:
        """Handle one packet after CONNECT; True on DISCONNECT."""
        if kind == codec.PUBLISH:
            self._on_publish(session, codec.decode_publish(flags, body))
        elif kind == codec.PUBACK or kind == codec.PUBCOMP:
            pass
        elif kind == codec.PUBREC:
            session.send(codec.encode_ack(codec.PUBREL, codec.decode_packet_id(body)))
        elif kind == codec.PUBREL:
            session.send(codec.encode_ack(codec.PUBCOMP, codec.decode_packet_id(body)))
        elif kind == codec.SUBSCRIBE:
            packet_id, topics = codec.decode_subscribe(body)
            session.send(codec.encode_suback(packet_id, self._subscribe(session, topics)))
            self._send_retained(session, topics)
        elif kind == codec.UNSUBSCRIBE:
            packet_id, filters = codec.decode_unsubscribe(body)
            for topic_filter in filters:
                self._remove_subscription(session, topic_filter)
            session.send(codec.encode_unsuback(packet_id))
        elif kind == codec.PINGREQ:
            session.send(codec.PINGRESP_PACKET)
        elif kind == codec.DISCONNECT:
            session.will = None
            return True
        else:
            raise ProtocolError(f"unexpected packet type {kind}")
        return False

    def _end_session(self, session: _Session, publish_will: bool) -> None:
        if session.closed:
            return
        session.closed = True
        self._all.discard(session)
        if self._sessions.get(session.client_id) is session:
            del self._sessions[session.client_id]
        for topic_filter in list(session.subscriptions):
            self._remove_subscription(session, topic_filter)
        will, session.will = session.will, None
        if publish_will and will is not None:
            _LOGGER.debug("publishing the will of %r on %s", session.client_id, will.topic)
            self._route(session, will)

    # --- publish / subscribe ------------------------------------------------------------
    def _on_publish(self, session: _Session, message: Publish) -> None:
        if message.qos == 1 and message.packet_id is not None:
            session.send(codec.encode_ack(codec.PUBACK, message.packet_id))
        elif message.qos == 2 and message.packet_id is not None:
            session.send(codec.encode_ack(codec.PUBREC, message.packet_id))
        if not message.topic or "+" in message.topic or "#" in message.topic:
            raise ProtocolError("PUBLISH to an invalid topic")
        self._route(session, message)

    def _route(self, session: _Session, message: Publish) -> None:
        topic = message.topic
        if self.auth is not None and not self.auth.may_publish(session.principal, topic):
            self.refused_publishes += 1
            _LOGGER.warning("refused publish by %r on %r (ACL)", session.client_id, topic[:200])
            if self.on_refused is not None:
                with contextlib.suppress(Exception):
                    self.on_refused(session.client_id, topic)
            return
        if message.retain:
            if message.payload:
                self._retained[topic] = _Retained(message.payload, min(message.qos, 1))
            else:
                self._retained.pop(topic, None)
            self._mark_dirty()
        targets: dict[_Session, int] = dict(self._exact.get(topic, ()))
        if self._wild:
            for topic_filter, subscribers in self._wild.items():
                if codec.filter_matches(topic_filter, topic):
                    for target, qos in subscribers.items():
                        if qos > targets.get(target, -1):
                            targets[target] = qos
        for target, qos in targets.items():
            target.deliver(topic, message.payload, min(qos, message.qos), False)

    def _subscribe(self, session: _Session, topics: list[tuple[str, int]]) -> list[int]:
        """Add subscriptions; returns the SUBACK codes (0x80 = refused)."""
        codes = []
        for topic_filter, qos in topics:
            allowed = codec.valid_filter(topic_filter) and (
                self.auth is None or self.auth.may_subscribe(session.principal, topic_filter)
            )
            if not allowed:
                _LOGGER.warning(
                    "refused subscription of %r to %r", session.client_id, topic_filter[:200]
                )
                codes.append(0x80)
                continue
            granted = min(qos, 1)
            codes.append(granted)
            session.subscriptions[topic_filter] = granted
            table = self._wild if ("+" in topic_filter or "#" in topic_filter) else self._exact
            table.setdefault(topic_filter, {})[session] = granted
        return codes

    def _send_retained(self, session: _Session, topics: list[tuple[str, int]]) -> None:
        for topic_filter, _qos in topics:
            qos = session.subscriptions.get(topic_filter)
            if qos is None:
                continue
            if "+" in topic_filter or "#" in topic_filter:
                for topic, retained in list(self._retained.items()):
                    if codec.filter_matches(topic_filter, topic):
                        session.deliver(topic, retained.payload, min(qos, retained.qos), True)
            else:
                exact = self._retained.get(topic_filter)
                if exact is not None:
                    session.deliver(topic_filter, exact.payload, min(qos, exact.qos), True)

    # --- in-process clients -------------------------------------------------------------
    def attach_local(
        self, client_id: str, principal: Any, on_message: Callable[[str, bytes, bool], None]
    ) -> LocalClient:
        """A client inside this process: no socket, no encoding; messages arrive as calls."""
        session = _LocalSession(self, client_id, principal, on_message)
        self._register(session)
        return LocalClient(self, session)

    def _remove_subscription(self, session: _Session, topic_filter: str) -> None:
        session.subscriptions.pop(topic_filter, None)
        for table in (self._exact, self._wild):
            subscribers = table.get(topic_filter)
            if subscribers is not None:
                subscribers.pop(session, None)
                if not subscribers:
                    del table[topic_filter]

    # --- persistence --------------------------------------------------------------------
    def _mark_dirty(self) -> None:
        self._dirty = True
        if self.data_dir is None or self._save_handle is not None:
            return
        loop = asyncio.get_running_loop()
        self._save_handle = loop.call_later(self.save_delay, self._start_save)

    def _start_save(self) -> None:
        self._save_handle = None
        if self._save_task is not None and not self._save_task.done():
            self._save_handle = asyncio.get_running_loop().call_later(
                self.save_delay, self._start_save
            )
            return
        self._save_task = asyncio.create_task(self._save())

    async def _save(self) -> None:
        if self.data_dir is None:
            return
        self._dirty = False
        snapshot = {
            topic: {"payload": base64.b64encode(m.payload).decode("ascii"), "qos": m.qos}
            for topic, m in self._retained.items()
        }
        try:
            await asyncio.to_thread(
                _write_json, self.data_dir / RETAINED_FILE, {"version": 1, "retained": snapshot}
            )
        except OSError:
            self._dirty = True
            _LOGGER.exception("could not save retained messages")


def _write_json(path: Path, data: Any) -> None:
    """Write JSON to ``path`` atomically (blocking: call it in a worker thread)."""
    write_file_atomically(path, json.dumps(data, separators=(",", ":")).encode("utf-8"))


def _load_retained(path: Path) -> dict[str, _Retained]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = data["retained"]
        return {
            str(topic): _Retained(base64.b64decode(entry["payload"]), int(entry["qos"]))
            for topic, entry in entries.items()
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
        _LOGGER.error("retained messages in %s unreadable (%s): starting empty", path, err)
        return {}
