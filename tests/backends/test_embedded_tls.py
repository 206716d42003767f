"""TLS on the embedded broker: the hub's CA, the server certificate, and lights verifying it.

Real TLS sockets, the real firmware (simulated lights) and certificates generated in tmp dirs.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509

from hub_app.broker_client import Availability, EmbeddedBackend
from hub_app.broker_client.embedded import TLS_DIR, lan_addresses, reachable_address
from hub_app.broker_client.hub_ca import CA_KEY, SERVER_CERT, SERVER_KEY, ensure_certificates
from hub_app.testing.mqtt_light import AsyncMqttClient

from .helpers import TIMEOUT, wait_for
from .simlights import configure, make_simulator


def server(config: dict[str, object]) -> tuple[str, int]:
    host, port = str(config["mqtt.server"]).rsplit(":", 1)
    return host, int(port)


def light_context(config: dict[str, object]) -> ssl.SSLContext:
    """What the light does with its pairing config: trust only `mqtt.ca`."""
    return ssl.create_default_context(cadata=str(config["mqtt.ca"]))


def san_of(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}


def light_log(sim_light: object) -> str:
    app = sim_light.app  # type: ignore[attr-defined]
    if app is None:  # not booted yet
        return ""
    lines = app.log.get(200)["lines"]
    return "\n".join(str(line["msg"]) for line in lines)


@pytest.mark.slow
async def test_firmware_light_connects_over_tls_and_is_controlled(
    embedded: EmbeddedBackend, tmp_path: Path
) -> None:
    sim = make_simulator(tmp_path, 1, seed="backends-embedded-tls")
    device_id = sim.lights[0].device_id
    config = await embedded.pair_light(device_id)
    assert config["mqtt.tls"] is True
    assert str(config["mqtt.ca"]).startswith("-----BEGIN CERTIFICATE-----")
    assert "PRIVATE KEY" not in str(config["mqtt.ca"])
    assert server(config) == ("127.0.0.1", embedded.broker.port)
    configure(sim, lambda _device_id: config, keepalive=5)
    await sim.start()
    try:
        await wait_for(
            lambda: embedded.availability(device_id) is Availability.ONLINE,
            what="the light online over TLS",
        )
        # The light's connection to the broker really is TLS (1.2 or newer).
        session = embedded.broker._sessions[device_id]
        ssl_object = session.writer.get_extra_info("ssl_object")
        assert ssl_object is not None
        assert ssl_object.version() in ("TLSv1.2", "TLSv1.3")
        await wait_for(lambda: embedded.twin(device_id).reported is not None)
        before = embedded.twin(device_id).reported
        assert before is not None
        state = await embedded.set_light(device_id, on=True, brightness=37, rgb=(10, 20, 30))
        assert (state.on, state.brightness, state.rgb) == (True, 37, (10, 20, 30))
        assert state.rev > before.rev
        assert sim.light(device_id).app.light.status()["brightness"] == 37
        info = await embedded.rpc(device_id, "Sys.GetInfo")
        assert info["mqtt"]["connected"] is True
    finally:
        await sim.stop()


@pytest.mark.slow
async def test_firmware_light_with_another_ca_refuses_the_broker(
    embedded: EmbeddedBackend, tmp_path: Path
) -> None:
    """A light that was given a different CA must not connect (it verifies the broker)."""
    sim = make_simulator(tmp_path, 1, seed="backends-embedded-tls-wrong-ca")
    device_id = sim.lights[0].device_id
    config = await embedded.pair_light(device_id)
    other = await asyncio.to_thread(ensure_certificates, tmp_path / "other-ca", ["127.0.0.1"])
    config["mqtt.ca"] = other.ca_pem
    configure(sim, lambda _device_id: config, keepalive=5)
    await sim.start()
    try:
        light = sim.light(device_id)
        await wait_for(
            lambda: "CERTIFICATE_VERIFY_FAILED" in light_log(light),
            what="the light's certificate verification failure",
        )
        assert device_id not in embedded.broker._sessions
        assert embedded.availability(device_id) is not Availability.ONLINE
    finally:
        await sim.stop()


async def test_client_without_tls_is_refused_on_the_tls_port(embedded: EmbeddedBackend) -> None:
    config = await embedded.pair_light("hublight-00f001")
    host, port = server(config)
    user, password = "hublight-00f001", str(config["mqtt.pass"])
    # Valid credentials, but cleartext: no CONNACK, the connection is dropped.
    plain = AsyncMqttClient(host, port, user, username=user, password=password)
    with pytest.raises((asyncio.IncompleteReadError, ConnectionError, ssl.SSLError)):
        await plain.connect(timeout=TIMEOUT)
    plain.abort()
    assert user not in embedded.broker._sessions
    # The same credentials over TLS (trusting the CA from pairing) are accepted.
    secure = AsyncMqttClient(
        host, port, user, username=user, password=password, ssl_context=light_context(config)
    )
    await secure.connect(timeout=TIMEOUT)
    try:
        assert user in embedded.broker._sessions
    finally:
        await secure.disconnect()


async def test_client_trusting_another_ca_or_host_fails_verification(
    embedded: EmbeddedBackend, tmp_path: Path
) -> None:
    config = await embedded.pair_light("hublight-00f002")
    host, port = server(config)
    other = await asyncio.to_thread(ensure_certificates, tmp_path / "other-ca", ["127.0.0.1"])
    with pytest.raises(ssl.SSLCertVerificationError) as err:
        await asyncio.open_connection(host, port, ssl=other.client_context())
    assert "certificate verify failed" in str(err.value)
    # The right CA but a name the certificate does not carry: refused too.
    with pytest.raises(ssl.SSLCertVerificationError):
        await asyncio.open_connection(
            host, port, ssl=light_context(config), server_hostname="192.0.2.77"
        )
    # Control: the right CA and the advertised address verify.
    _reader, writer = await asyncio.open_connection(host, port, ssl=light_context(config))
    writer.close()


async def test_key_files_are_private_and_never_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    backend = EmbeddedBackend(tmp_path / "hub", host="127.0.0.1", port=0)
    await backend.start()
    try:
        await backend.wait_connected(TIMEOUT)
        config = await backend.pair_light("hublight-00f003")
        client = AsyncMqttClient(
            "127.0.0.1",
            backend.broker.port,
            "hublight-00f003",
            username="hublight-00f003",
            password=str(config["mqtt.pass"]),
            ssl_context=light_context(config),
        )
        await client.connect(timeout=TIMEOUT)
        await client.disconnect()
    finally:
        await backend.close()
    tls_dir = tmp_path / "hub" / TLS_DIR
    assert stat.S_IMODE(tls_dir.stat().st_mode) == 0o700
    for name in (CA_KEY, SERVER_KEY):
        path = tls_dir / name
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, name
        key_text = path.read_text()
        assert "PRIVATE KEY" in key_text
        body = [line for line in key_text.splitlines() if line and not line.startswith("-----")]
        assert body
        for line in body:
            assert line not in caplog.text
    assert "PRIVATE KEY" not in caplog.text
    assert "issued the broker's server certificate" in caplog.text  # the logs were captured
    assert not list(tls_dir.glob("*.tmp"))


async def test_certificate_reused_across_restarts_and_reissued_on_new_addresses(
    tmp_path: Path,
) -> None:
    data = tmp_path / "hub"
    tls_dir = data / TLS_DIR

    first = EmbeddedBackend(data, host="127.0.0.1", port=0)
    await first.start()
    try:
        assert first.certificates is not None and first.certificates.issued
        paired = await first.pair_light("hublight-00f004")
    finally:
        await first.close()
    cert_1 = (tls_dir / SERVER_CERT).read_bytes()
    ca_key_1 = (tls_dir / CA_KEY).read_bytes()
    assert "127.0.0.2" not in san_of(tls_dir / SERVER_CERT)

    second = EmbeddedBackend(data, host="127.0.0.1", port=0)
    await second.start()
    try:
        assert second.certificates is not None and not second.certificates.issued
        assert (tls_dir / SERVER_CERT).read_bytes() == cert_1
        # The certificate does not name 127.0.0.2 yet: a light told to use it would refuse.
        with pytest.raises(ssl.SSLCertVerificationError):
            await asyncio.open_connection(
                "127.0.0.1",
                second.broker.port,
                ssl=light_context(paired),
                server_hostname="127.0.0.2",
            )
    finally:
        await second.close()

    third = EmbeddedBackend(data, host="127.0.0.1", port=0, advertise_host="127.0.0.2")
    await third.start()
    try:
        assert third.certificates is not None and third.certificates.issued
        assert (tls_dir / SERVER_CERT).read_bytes() != cert_1
        assert (tls_dir / CA_KEY).read_bytes() == ca_key_1  # same CA: paired lights keep trust
        assert "127.0.0.2" in san_of(tls_dir / SERVER_CERT)
        config = await third.pair_light("hublight-00f005")
        assert config["mqtt.server"] == f"127.0.0.2:{third.broker.port}"
        assert config["mqtt.ca"] == paired["mqtt.ca"]
        # A light paired before the change (old CA PEM) verifies the new certificate.
        _reader, writer = await asyncio.open_connection(
            "127.0.0.1",
            third.broker.port,
            ssl=light_context(paired),
            server_hostname="127.0.0.2",
        )
        writer.close()
    finally:
        await third.close()


async def test_listening_on_all_interfaces_names_the_lan_addresses(tmp_path: Path) -> None:
    backend = EmbeddedBackend(tmp_path / "hub", host="0.0.0.0", port=0)
    names = backend.certificate_names()
    assert reachable_address() in names
    assert set(lan_addresses()) <= set(names)
    assert "127.0.0.1" in names and "0.0.0.0" not in san_of_names(tmp_path, names)


def san_of_names(tmp_path: Path, names: list[str]) -> set[str]:
    certificates = ensure_certificates(tmp_path / "names", names)
    return san_of(certificates.cert_path)


async def test_plain_listener_is_off_by_default_and_optional(tmp_path: Path) -> None:
    default = EmbeddedBackend(tmp_path / "a", host="127.0.0.1", port=0)
    assert default.broker.plain_port is None

    backend = EmbeddedBackend(tmp_path / "b", host="127.0.0.1", port=0, plain_port=0)
    await backend.start()
    try:
        assert backend.broker.plain_port not in (None, 0, backend.broker.port)
        config = await backend.pair_light("hublight-00f006")
        assert config["mqtt.tls"] is True  # pairing always points at the TLS listener
        assert server(config)[1] == backend.broker.port
        old_device = AsyncMqttClient(
            "127.0.0.1",
            int(backend.broker.plain_port or 0),
            "hublight-00f006",
            username="hublight-00f006",
            password=str(config["mqtt.pass"]),
        )
        await old_device.connect(timeout=TIMEOUT)
        try:
            session = backend.broker._sessions["hublight-00f006"]
            assert session.writer.get_extra_info("ssl_object") is None
        finally:
            await old_device.disconnect()
    finally:
        await backend.close()

    plain = EmbeddedBackend(tmp_path / "c", host="127.0.0.1", port=0, tls=False)
    await plain.start()
    try:
        config = await plain.pair_light("hublight-00f007")
        assert config["mqtt.tls"] is False and "mqtt.ca" not in config
        assert not (tmp_path / "c" / TLS_DIR).exists()
    finally:
        await plain.close()


def test_settings_tls_default_and_migration_of_older_settings() -> None:
    from hub_app.hub.settings import HubSettings

    fresh = HubSettings()
    assert fresh.embedded.tls and not fresh.embedded.plain_listener
    assert fresh.embedded.port == 8883
    assert HubSettings.from_json(fresh.to_json()).embedded == fresh.embedded
    # A settings file from before TLS: its lights were paired for a plain listener.
    old = HubSettings.from_json({"backend": "embedded", "embedded": {"port": 1883}})
    assert old.embedded.tls is False and old.embedded.port == 1883
    names = HubSettings.from_json({"embedded": {"tls": True, "tls_names": "hub.lan, 10.0.0.5"}})
    assert names.embedded.tls_name_list() == ["hub.lan", "10.0.0.5"]
