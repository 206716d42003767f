"""The default backend: an MQTT broker inside the hub, per-light credentials and ACL.

`EmbeddedBackend` starts `EmbeddedBroker` on the hub's event loop and joins it as an in-process
client (no socket, no paho thread: messages are direct calls on the loop), reusing all of
`MqttBackend`'s topic, command and reconciliation logic; only the transport differs. With
`in_process=False` it connects over loopback with paho instead, exactly like an external broker.

Credentials: at pairing, `pair_light(device_id)` makes a random 128-bit password for the light,
stores only a salted hash in `<data_dir>/broker_users.json` (written atomically) and returns the
plaintext once, inside the `mqtt.*` config keys to send to the light (the provisioning flow keeps
it in the keyring). A random password of that strength needs no slow hash: a salted SHA-256 makes
the file useless to an attacker and keeps connection storms (thousands of lights after a power
cut) cheap. The hub's own account gets a fresh random password at every start (memory only).

ACL (per light, prefix = its topic prefix, the device id by default):
- publish: `<prefix>/state`, `<prefix>/online`, `<prefix>/events`, and the hub's reply topic;
- subscribe: `<prefix>/rpc` only.
The hub may do anything (it still subscribes only to its lights' topics).

TLS (the default): the listener lights use speaks TLS 1.2+ with a server certificate from the
hub's own CA (`hub_ca`, files under `<data_dir>/tls/`); `pair_light` gives the light that CA
(`mqtt.ca`) so it verifies the broker, address included. `plain_port` adds a listener without TLS
(off by default: for a user's old devices); `tls=False` makes the main listener plain. The hub's
own in-process connection has no socket, so TLS does not concern it.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import logging
import secrets
import socket
import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from hub_app.broker_client.base import ConfigurationError
from hub_app.broker_client.embedded_broker import EmbeddedBroker, LocalClient, _write_json
from hub_app.broker_client.hub_ca import BrokerCertificates, ensure_certificates
from hub_app.broker_client.mqtt import MqttBackend, MqttConfig, new_client_id

_LOGGER = logging.getLogger(__name__)

USERS_FILE = "broker_users.json"
TLS_DIR = "tls"
HUB_USER = "hub"
ANY_ADDRESS = ("0.0.0.0", "", "::")


@dataclass(frozen=True)
class Principal:
    role: str  # "hub" | "light"
    name: str
    prefix: str = ""


def hash_password(password: str, salt: bytes | None = None) -> str:
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.sha256(salt + password.encode()).digest()
    return f"sha256${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def verify_password(password: bytes, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
        if scheme != "sha256":
            return False
        salt = base64.b64decode(salt_b64)
        expected = base64.b64decode(digest_b64)
    except ValueError:
        return False
    return hmac.compare_digest(hashlib.sha256(salt + password).digest(), expected)


class LightCredentials:
    """Users of the embedded broker (hashed at rest) and the ACL. Implements `BrokerAuth`."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._lights: dict[str, dict[str, str]] = {}  # user -> {"hash", "prefix"}
        self._hub_hash: str | None = None
        self._lock = threading.Lock()  # saves happen in a worker thread
        self.reply_topics: set[str] = set()
        if path is not None and path.exists():
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
                self._lights = {
                    str(user): {"hash": str(entry["hash"]), "prefix": str(entry["prefix"])}
                    for user, entry in data["lights"].items()
                }
            except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
                _LOGGER.error("broker users in %s unreadable (%s): no light can log in", path, err)

    def __repr__(self) -> str:
        return f"LightCredentials({len(self._lights)} lights)"

    def set_hub_password(self, password: str) -> None:
        self._hub_hash = hash_password(password)

    def add_light(self, device_id: str, topic_prefix: str | None = None) -> str:
        """Create (or replace) the light's credentials; returns the plaintext password once."""
        prefix = topic_prefix or device_id
        if not device_id or device_id == HUB_USER or any(c in prefix for c in "+#/"):
            raise ValueError("unusable device id / topic prefix")
        password = secrets.token_urlsafe(16)
        with self._lock:
            self._lights[device_id] = {"hash": hash_password(password), "prefix": prefix}
        return password

    def remove_light(self, device_id: str) -> None:
        with self._lock:
            self._lights.pop(device_id, None)

    def has_light(self, device_id: str) -> bool:
        return device_id in self._lights

    def save(self) -> None:
        """Write the users file atomically (blocking: call from a worker thread)."""
        if self.path is None:
            return
        with self._lock:
            data = {"version": 1, "lights": {u: dict(e) for u, e in self._lights.items()}}
        _write_json(self.path, data)

    # --- BrokerAuth -------------------------------------------------------------------------
    def authenticate(self, username: str | None, password: bytes | None) -> Principal | None:
        if username is None or password is None:
            return None
        if username == HUB_USER:
            if self._hub_hash is not None and verify_password(password, self._hub_hash):
                return Principal("hub", HUB_USER)
            return None
        entry = self._lights.get(username)
        if entry is not None and verify_password(password, entry["hash"]):
            return Principal("light", username, entry["prefix"])
        return None

    def may_publish(self, principal: Any, topic: str) -> bool:
        if not isinstance(principal, Principal):
            return False
        if principal.role == "hub":
            return True
        prefix = principal.prefix
        return topic in (prefix + "/state", prefix + "/online", prefix + "/events") or (
            topic in self.reply_topics
        )

    def may_subscribe(self, principal: Any, topic_filter: str) -> bool:
        if not isinstance(principal, Principal):
            return False
        if principal.role == "hub":
            return True
        return topic_filter == principal.prefix + "/rpc"


def reachable_address() -> str:
    """This machine's address on the network with the default route (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed anywhere for real
            return str(probe.getsockname()[0])
        except OSError:
            return "127.0.0.1"


def lan_addresses() -> list[str]:
    """This PC's IPv4 and global IPv6 addresses (not loopback, not link-local)."""
    from hub_app.discovery.interfaces import list_interfaces

    result: list[str] = []
    try:
        interfaces = list_interfaces(include_loopback=False)
    except Exception:  # ifaddr failing must not stop the broker
        _LOGGER.exception("could not list the network interfaces")
        return result
    for interface in interfaces:
        result.extend(interface.ipv4)
        for address in interface.ipv6:
            plain = address.split("%")[0]
            if not ipaddress.ip_address(plain).is_link_local:
                result.append(plain)
    return result


class EmbeddedBackend(MqttBackend):
    """The hub's own broker plus the MQTT backend connected to it over loopback.

    `host`/`port`: where the broker listens for lights (default all interfaces; port 8883 with
    TLS, 1883 without; 0 = ephemeral). `tls` (default on): that listener speaks TLS with the
    hub CA's server certificate. `plain_port`: an extra listener without TLS (default off).
    `advertise_host`: the address lights are told to use (default: `host` if specific, else
    this machine's address on the default route). `tls_names`: more host names / addresses for
    the server certificate (the advertised and listening addresses are always in it, and the
    PC's LAN addresses when listening on all interfaces). `data_dir` keeps retained messages,
    users and the CA.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        tls: bool = True,
        plain_port: int | None = None,
        tls_names: Iterable[str] = (),
        advertise_host: str | None = None,
        command_timeout: float = 10.0,
        keepalive: int = 30,
        in_process: bool = True,
    ) -> None:
        if port is None:
            port = 8883 if tls else 1883
        client_id = new_client_id()
        super().__init__(
            MqttConfig(
                host="127.0.0.1",
                port=port,
                username=HUB_USER,
                client_id=client_id,
                keepalive=keepalive,
            ),
            command_timeout=command_timeout,
        )
        self.data_dir = Path(data_dir)
        self.credentials = LightCredentials(self.data_dir / USERS_FILE)
        self.credentials.reply_topics.add(self.reply_topic)
        self.advertise_host = advertise_host
        self.in_process = in_process
        self.tls = tls
        self.tls_names = tuple(tls_names)
        self.certificates: BrokerCertificates | None = None
        self.broker = EmbeddedBroker(
            host,
            port,
            auth=self.credentials,
            data_dir=self.data_dir,
            plain_port=plain_port if tls else None,
        )
        self._local: LocalClient | None = None

    def __repr__(self) -> str:
        b = self.broker
        tls = "TLS" if self.tls else "plain"
        return f"EmbeddedBackend({b.host}:{b.port} {tls}, {self.connection.kind})"

    def certificate_names(self) -> list[str]:
        """What the server certificate must name: every address lights may use."""
        names = ["127.0.0.1", "localhost", *self.tls_names]
        if self.advertise_host:
            names.append(self.advertise_host)
        if self.broker.host in ANY_ADDRESS:
            names.append(reachable_address())
            names.extend(lan_addresses())
        else:
            names.append(self.broker.host)
        return names

    async def ensure_certificates(self) -> BrokerCertificates:
        """Create the CA on first use; (re-)issue the server certificate when needed."""
        names = await asyncio.to_thread(self.certificate_names)
        certificates = await asyncio.to_thread(
            ensure_certificates, self.data_dir / TLS_DIR, names
        )
        self.certificates = certificates
        return certificates

    async def _connect(self) -> None:
        if self.tls:
            try:
                certificates = await self.ensure_certificates()
                context = await asyncio.to_thread(certificates.server_context)
            except (OSError, ValueError) as err:
                raise ConfigurationError(
                    f"the embedded broker's TLS certificate cannot be set up: {err}"
                ) from err
            self.broker.ssl_context = context
        try:
            await self.broker.start()
        except OSError as err:
            where = f"{self.broker.host}:{self.broker.port}"
            raise ConfigurationError(
                f"the embedded broker cannot listen on {where}: {err}"
            ) from err
        hub_password = secrets.token_urlsafe(24)
        self.credentials.set_hub_password(hub_password)
        local = "127.0.0.1" if self.broker.host in ANY_ADDRESS else self.broker.host
        self.config = replace(self.config, host=local, port=self.broker.port, password=hub_password)
        if self.tls and self.certificates is not None:
            self.config = replace(self.config, tls=True, ca_file=str(self.certificates.ca_path))
        if not self.in_process:
            await super()._connect()
            return
        self._local = self.broker.attach_local(
            self.client_id, Principal("hub", HUB_USER), self._on_message
        )
        self._on_connack()

    async def _disconnect(self) -> None:
        if self._local is not None:
            self._local.close()
            self._local = None
            self._link_up = False
            self._fail_rpcs("backend closed")
        else:
            await super()._disconnect()
        await self.broker.close()

    # --- the in-process transport ---------------------------------------------------------
    def _transport_publish(self, topic: str, payload: bytes | str, qos: int) -> bool:
        if self._local is None:
            return super()._transport_publish(topic, payload, qos)
        data = payload.encode() if isinstance(payload, str) else payload
        return self._local.publish(topic, data, qos, retain=False)

    def _transport_unsubscribe(self, topics: list[str]) -> None:
        if self._local is None:
            super()._transport_unsubscribe(topics)
        else:
            self._local.unsubscribe(topics)

    def _subscribe(self, topics: Iterable[str]) -> None:
        if self._local is None:
            super()._subscribe(topics)
            return
        wanted = list(topics)
        codes = self._local.subscribe(wanted)
        refused = [t for t, code in zip(wanted, codes, strict=True) if code == 0x80]
        if refused:
            _LOGGER.warning("embedded broker refused %d subscription(s)", len(refused))

    @property
    def server_address(self) -> str:
        """`host:port` for the lights."""
        host = self.advertise_host
        if host is None:
            host = self.broker.host
            if host in ANY_ADDRESS:
                host = reachable_address()
        return f"{host}:{self.broker.port}"

    async def pair_light(self, device_id: str, topic_prefix: str | None = None) -> dict[str, Any]:
        """Pairing glue: register credentials for the light and return its `mqtt.*` config.

        The dict (protocol.md keys) goes into the light's `Config.Set`; `mqtt.pass` is the only
        copy of the plaintext password: keep it in the keyring, never log it.
        """
        ca_pem = ""
        if self.tls:
            certificates = self.certificates or await self.ensure_certificates()
            ca_pem = certificates.ca_pem
        password = self.credentials.add_light(device_id, topic_prefix)
        await asyncio.to_thread(self.credentials.save)
        options = {"topic_prefix": topic_prefix} if topic_prefix else {}
        self.add_light(device_id, **options)
        config: dict[str, Any] = {
            "mqtt.enable": True,
            "mqtt.server": self.server_address,
            "mqtt.user": device_id,
            "mqtt.pass": password,
            "mqtt.tls": self.tls,
            "mqtt.client_id": device_id,
        }
        if self.tls:
            config["mqtt.ca"] = ca_pem
        if topic_prefix:
            config["mqtt.topic_prefix"] = topic_prefix
        return config

    async def unpair_light(self, device_id: str) -> None:
        self.credentials.remove_light(device_id)
        await asyncio.to_thread(self.credentials.save)
        self.remove_light(device_id)
