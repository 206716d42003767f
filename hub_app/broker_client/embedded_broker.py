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
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

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

    def send(self, data: bytes) -> None:
        if self.closed:
            return
        transport = self.writer.transport
        if transport.is_closing():
            return
        if transport.get_write_buffer_size() > MAX_OUTPUT_BUFFER:
            _LOGGER.warning("client %r reads too slowly: disconnecting", self.client_id)
            transport.abort()
            return
        self.writer.write(data)

    def deliver(self, topic: str, payload: bytes, qos: int, retain: bool) -> None:
        packet_id = None
        if qos:
            self.next_packet_id = self.next_packet_id % 65535 + 1
            packet_id = self.next_packet_id
        self.send(codec.encode_publish(Publish(topic, payload, min(qos, 1), retain, packet_id)))

    def __repr__(self) -> str:
        return f"_Session({self.client_id!r}, {self.peer})"


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
        save_delay: float = 0.2,
    ) -> None:
        self.host = host
        self.port = port
        self.auth = auth
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.ssl_context = ssl_context
        self.save_delay = save_delay
        self._server: asyncio.Server | None = None
        self._sessions: dict[str, _Session] = {}
        self._all: set[_Session] = set()
        self._exact: dict[str, dict[_Session, int]] = {}
        self._wild: dict[str, dict[_Session, int]] = {}
        self._retained: dict[str, _Retained] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
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
            backlog=1024,
        )
        sockets = self._server.sockets
        if sockets:
            self.port = int(sockets[0].getsockname()[1])
        _LOGGER.info("embedded broker listening on %s:%d", self.host, self.port)
        return self

    async def close(self) -> None:
        """Stop. Clients still connected lose their link, so their wills are published (and
        persisted): a light that does not come back must not stay retained `online`."""
        if self._server is not None:
            self._server.close()
        for session in list(self._all):
            self._end_session(session, publish_will=True)
            session.writer.transport.abort()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
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
        session.writer.transport.abort()
        return True

    # --- one connection -----------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        peer = str(writer.get_extra_info("peername"))
        session = _Session(self, writer, peer)
        self._all.add(session)
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
            self._end_session(session, publish_will=not clean)
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    async def _serve(self, session: _Session, reader: asyncio.StreamReader) -> bool:
        """Serve until a clean DISCONNECT (True) or the link ends (exception / False)."""
        async with asyncio.timeout(10):
            kind, _flags, body = await codec.read_packet(reader)
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
                await session.writer.drain()
                return True
            session.principal = principal
        session.client_id = connect.client_id
        session.keepalive = connect.keepalive
        if connect.will_topic is not None:
            session.will = Publish(
                connect.will_topic, connect.will_payload, connect.will_qos, connect.will_retain
            )
        previous = self._sessions.get(connect.client_id)
        if previous is not None:
            _LOGGER.info("client %r reconnected: dropping the old connection", connect.client_id)
            self._end_session(previous, publish_will=True)
            previous.writer.transport.abort()
        self._sessions[connect.client_id] = session
        session.send(codec.encode_connack(False, codec.ACCEPTED))
        timeout = connect.keepalive * 1.5 if connect.keepalive else None
        while True:
            async with asyncio.timeout(timeout):
                kind, flags, body = await codec.read_packet(reader)
            if kind == codec.PUBLISH:
                self._on_publish(session, codec.decode_publish(flags, body))
            elif kind == codec.PUBACK or kind == codec.PUBCOMP:
                pass
            elif kind == codec.PUBREC:
                session.send(codec.encode_ack(codec.PUBREL, codec.decode_packet_id(body)))
            elif kind == codec.PUBREL:
                session.send(codec.encode_ack(codec.PUBCOMP, codec.decode_packet_id(body)))
            elif kind == codec.SUBSCRIBE:
                self._on_subscribe(session, *codec.decode_subscribe(body))
            elif kind == codec.UNSUBSCRIBE:
                packet_id, topics = codec.decode_unsubscribe(body)
                for topic in topics:
                    self._remove_subscription(session, topic)
                session.send(codec.encode_unsuback(packet_id))
            elif kind == codec.PINGREQ:
                session.send(codec.PINGRESP_PACKET)
            elif kind == codec.DISCONNECT:
                session.will = None
                return True
            else:
                raise ProtocolError(f"unexpected packet type {kind}")
            if session.writer.transport.get_write_buffer_size() > MAX_OUTPUT_BUFFER // 2:
                await session.writer.drain()

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

    def _on_subscribe(
        self, session: _Session, packet_id: int, topics: list[tuple[str, int]]
    ) -> None:
        codes = []
        granted: list[tuple[str, int]] = []
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
            qos = min(qos, 1)
            codes.append(qos)
            session.subscriptions[topic_filter] = qos
            table = self._wild if ("+" in topic_filter or "#" in topic_filter) else self._exact
            table.setdefault(topic_filter, {})[session] = qos
            granted.append((topic_filter, qos))
        session.send(codec.encode_suback(packet_id, codes))
        for topic_filter, qos in granted:
            if "+" in topic_filter or "#" in topic_filter:
                for topic, retained in list(self._retained.items()):
                    if codec.filter_matches(topic_filter, topic):
                        session.deliver(topic, retained.payload, min(qos, retained.qos), True)
            else:
                exact = self._retained.get(topic_filter)
                if exact is not None:
                    session.deliver(topic_filter, exact.payload, min(qos, exact.qos), True)

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
                _write_atomic, self.data_dir / RETAINED_FILE, {"version": 1, "retained": snapshot}
            )
        except OSError:
            self._dirty = True
            _LOGGER.exception("could not save retained messages")


def _write_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` so that a crash leaves either the old or the new file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle, separators=(",", ":"))
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    with contextlib.suppress(OSError):
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)


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
