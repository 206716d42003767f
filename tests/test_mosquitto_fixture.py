"""The Mosquitto test helper against the real broker, using paho-mqtt as the client."""

from __future__ import annotations

import queue
import socket
import ssl
from typing import Any

import paho.mqtt.client as paho
import pytest

from hub_app.testing import MosquittoBroker

pytestmark = pytest.mark.mosquitto

TIMEOUT = 20.0


class PahoProbe:
    """A paho client on its own thread; records connect results and received messages."""

    def __init__(
        self,
        broker: MosquittoBroker,
        client_id: str,
        *,
        username: str | None = None,
        password: str | None = None,
        context: ssl.SSLContext | None = None,
    ) -> None:
        self.connects: queue.Queue[Any] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes, bool]] = queue.Queue()
        self.subacks: queue.Queue[list[Any]] = queue.Queue()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        if username is not None:
            self.client.username_pw_set(username, password)
        if context is not None:
            self.client.tls_set_context(context)
        self.client.on_connect = lambda c, u, f, rc, p: self.connects.put(rc)
        self.client.on_message = lambda c, u, m: self.messages.put(
            (m.topic, m.payload, bool(m.retain))
        )
        self.client.on_subscribe = lambda c, u, mid, rcs, p: self.subacks.put(list(rcs))
        self.broker = broker

    def connect(self) -> Any:
        self.client.connect(self.broker.host, self.broker.port, keepalive=30)
        self.client.loop_start()
        return self.connects.get(timeout=TIMEOUT)

    def subscribe(self, topic: str) -> list[Any]:
        self.client.subscribe(topic, qos=1)
        return self.subacks.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        info = self.client.publish(topic, payload, qos=1, retain=retain)
        info.wait_for_publish(TIMEOUT)
        assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def round_trip(broker: MosquittoBroker, **options: Any) -> None:
    probe = PahoProbe(broker, "probe", **options)
    try:
        assert probe.connect() == 0
        assert not probe.subscribe("t/#")[0].is_failure
        probe.publish("t/1", b"hello")
        assert probe.messages.get(timeout=TIMEOUT) == ("t/1", b"hello", False)
    finally:
        probe.close()


def test_anonymous_broker_round_trip(mosquitto: MosquittoBroker) -> None:
    assert mosquitto.running
    round_trip(mosquitto)


def test_password_broker_accepts_right_and_refuses_wrong_password(
    mosquitto_factory: Any,
) -> None:
    broker = mosquitto_factory(users={"light": "s3cret & = +'"})
    round_trip(broker, username="light", password="s3cret & = +'")
    wrong = PahoProbe(broker, "wrong", username="light", password="nope")
    try:
        assert wrong.connect() != 0
    finally:
        wrong.close()
    anonymous = PahoProbe(broker, "anon")
    try:
        assert anonymous.connect() != 0
    finally:
        anonymous.close()


def test_tls_broker_with_generated_ca(mosquitto_factory: Any) -> None:
    broker = mosquitto_factory(tls=True)
    assert broker.tls is not None
    assert broker.url.startswith("mqtts://")
    assert "BEGIN CERTIFICATE" in broker.tls.ca_pem
    round_trip(broker, context=broker.tls.client_context())


def test_tls_broker_requiring_client_certificate(mosquitto_factory: Any) -> None:
    broker = mosquitto_factory(tls=True, require_client_cert=True)
    assert broker.tls is not None
    round_trip(broker, context=broker.tls.client_context(with_client_cert=True))
    # Without a client certificate the broker refuses: at the handshake or (TLS 1.3) right after.
    connect_packet = bytes([0x10, 16, 0, 4]) + b"MQTT" + bytes([4, 2, 0, 30, 0, 4]) + b"anon"
    context = broker.tls.client_context()
    with (
        socket.create_connection((broker.host, broker.port), timeout=TIMEOUT) as raw,
        pytest.raises((ssl.SSLError, ConnectionError)),
        context.wrap_socket(raw, server_hostname="localhost") as tls_socket,
    ):
        tls_socket.sendall(connect_packet)
        if tls_socket.recv(4) == b"":
            raise ConnectionError("closed without CONNACK")


def test_acl_limits_topics(mosquitto_factory: Any) -> None:
    acl = "user light\ntopic readwrite light/#\n"
    broker = mosquitto_factory(users={"light": "pw"}, acl=acl)
    probe = PahoProbe(broker, "acl", username="light", password="pw")
    try:
        assert probe.connect() == 0
        assert not probe.subscribe("#")[0].is_failure
        probe.publish("other/state", b"denied")
        probe.publish("light/state", b"ok")
        # The ACL drops the write to other/: the first message delivered is the allowed one.
        assert probe.messages.get(timeout=TIMEOUT) == ("light/state", b"ok", False)
    finally:
        probe.close()


def test_persistence_keeps_retained_messages_across_restart(mosquitto_factory: Any) -> None:
    broker = mosquitto_factory(persistence=True)
    port = broker.port
    publisher = PahoProbe(broker, "pub")
    try:
        assert publisher.connect() == 0
        publisher.publish("light/online", b"online", retain=True)
    finally:
        publisher.close()
    broker.restart()
    assert broker.port == port and broker.running
    reader = PahoProbe(broker, "reader")
    try:
        assert reader.connect() == 0
        reader.subscribe("light/online")
        assert reader.messages.get(timeout=TIMEOUT) == ("light/online", b"online", True)
    finally:
        reader.close()


def test_without_persistence_restart_forgets_retained(mosquitto: MosquittoBroker) -> None:
    publisher = PahoProbe(mosquitto, "pub")
    try:
        assert publisher.connect() == 0
        publisher.publish("light/online", b"online", retain=True)
    finally:
        publisher.close()
    mosquitto.restart()
    reader = PahoProbe(mosquitto, "reader")
    try:
        assert reader.connect() == 0
        reader.subscribe("light/#")
        reader.publish("light/marker", b"m")
        # The first message is our marker: nothing retained came before it.
        assert reader.messages.get(timeout=TIMEOUT) == ("light/marker", b"m", False)
    finally:
        reader.close()


def test_start_failure_reports_broker_log(tmp_path: Any) -> None:
    broker = MosquittoBroker(tmp_path, extra_config="this_is_not_an_option 1")
    with pytest.raises(Exception, match="exited"):
        broker.start()
    assert not broker.running
