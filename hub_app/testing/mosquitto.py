"""Run a real Mosquitto broker for tests: anonymous, passwords, TLS, ACL, persistence, restart.

Everything the broker needs (config, password file, certificates, data dir, log) is written into a
working directory at start; certificates and keys are generated at test time and never stored in
the repository.
"""

from __future__ import annotations

import asyncio
import base64
import datetime
import hashlib
import ipaddress
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

_MOSQUITTO_CANDIDATES = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto")


class MosquittoError(RuntimeError):
    """The broker could not be started (the message includes the broker's log)."""


def find_mosquitto() -> str | None:
    """Path of the mosquitto binary (PATH first, then the usual sbin locations), or None."""
    found = shutil.which("mosquitto")
    if found:
        return found
    for candidate in _MOSQUITTO_CANDIDATES:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def free_port(host: str = "127.0.0.1") -> int:
    """An ephemeral TCP port that is free right now on host."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def hash_password(password: str, salt: bytes | None = None) -> str:
    """A Mosquitto 2.x password-file hash (`$7$`: PBKDF2-SHA512, 101 iterations)."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, 101, 64)
    return f"$7$101${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


class BrokerTls:
    """A throw-away CA, a server certificate for localhost/127.0.0.1 and a client certificate."""

    def __init__(self, directory: Path, client_common_name: str = "test-client") -> None:
        self.directory = directory
        self.client_common_name = client_common_name
        self.ca_path = directory / "ca.crt"
        self.server_cert_path = directory / "server.crt"
        self.server_key_path = directory / "server.key"
        self.client_cert_path = directory / "client.crt"
        self.client_key_path = directory / "client.key"
        directory.mkdir(parents=True, exist_ok=True)
        _generate_certificates(self)

    @property
    def ca_pem(self) -> str:
        """The CA certificate as PEM text (what a light stores in `mqtt.ca`)."""
        return self.ca_path.read_text()

    def client_context(self, with_client_cert: bool = False) -> ssl.SSLContext:
        """An SSL context that trusts the CA (and presents the client certificate if asked)."""
        context = ssl.create_default_context(cafile=str(self.ca_path))
        if with_client_cert:
            context.load_cert_chain(str(self.client_cert_path), str(self.client_key_path))
        return context


def _generate_certificates(tls: BrokerTls) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    not_before = now - datetime.timedelta(days=1)
    not_after = now + datetime.timedelta(days=2)

    def name(common_name: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])

    def write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
        path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            )
        )
        path.chmod(0o600)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(name("Home Hub Test CA"))
        .issuer_name(name("Home Hub Test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    tls.ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))

    def leaf(common_name: str, server: bool) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder()
            .subject_name(name(common_name))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [
                        x509.DNSName("localhost"),
                        x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
        return builder.sign(ca_key, hashes.SHA256()), key

    server_cert, server_key = leaf("localhost", server=True)
    tls.server_cert_path.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    write_key(tls.server_key_path, server_key)
    client_cert, client_key = leaf(tls.client_common_name, server=False)
    tls.client_cert_path.write_bytes(client_cert.public_bytes(serialization.Encoding.PEM))
    write_key(tls.client_key_path, client_key)


class MosquittoBroker:
    """A real mosquitto process on a loopback port.

    Variants: `users` ({name: password}; anonymous access is then off unless `allow_anonymous`),
    `tls` (a generated CA and server certificate; `require_client_cert` asks for the client one),
    `acl` (text of a mosquitto ACL file), `persistence` (a data dir kept across `restart()`, so
    retained messages survive). Use as a context manager or call `start()` / `stop()`.
    """

    host = "127.0.0.1"

    def __init__(
        self,
        directory: Path | str | None = None,
        *,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        tls: bool = False,
        require_client_cert: bool = False,
        acl: str | None = None,
        persistence: bool = False,
        port: int | None = None,
        extra_config: str = "",
        start_timeout: float = 20.0,
    ) -> None:
        binary = find_mosquitto()
        if binary is None:
            raise MosquittoError("mosquitto binary not found (PATH, /usr/sbin)")
        self.binary = binary
        self._own_directory = directory is None
        self.directory = Path(directory or tempfile.mkdtemp(prefix="mosquitto-"))
        self.directory.mkdir(parents=True, exist_ok=True)
        self.users = dict(users or {})
        self.allow_anonymous = not self.users if allow_anonymous is None else allow_anonymous
        self.require_client_cert = require_client_cert
        self.acl = acl
        self.persistence = persistence
        self.extra_config = extra_config
        self.start_timeout = start_timeout
        self.port = port or free_port(self.host)
        self.tls: BrokerTls | None = BrokerTls(self.directory / "tls") if tls else None
        if self.tls is None and require_client_cert:
            raise ValueError("require_client_cert needs tls=True")
        self.config_path = self.directory / "mosquitto.conf"
        self.log_path = self.directory / "mosquitto.log"
        self.data_dir = self.directory / "data"
        self._process: subprocess.Popen[bytes] | None = None

    # --- configuration ------------------------------------------------------------------
    def _write_files(self) -> None:
        lines = [
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "allow_anonymous " + ("true" if self.allow_anonymous else "false"),
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp false",
        ]
        if os.name == "posix" and os.geteuid() == 0:
            # As root, mosquitto would switch to the `mosquitto` user, who cannot read our files.
            lines.append("user root")
        if self.users:
            password_file = self.directory / "passwords"
            password_file.write_text(
                "".join(f"{user}:{hash_password(pw)}\n" for user, pw in self.users.items())
            )
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.directory / "acl"
            acl_file.write_text(self.acl)
            acl_file.chmod(0o600)
            lines.append(f"acl_file {acl_file}")
        if self.tls is not None:
            lines += [
                f"cafile {self.tls.ca_path}",
                f"certfile {self.tls.server_cert_path}",
                f"keyfile {self.tls.server_key_path}",
                "require_certificate " + ("true" if self.require_client_cert else "false"),
            ]
        if self.persistence:
            self.data_dir.mkdir(exist_ok=True)
            lines += [
                "persistence true",
                f"persistence_location {self.data_dir}/",
                "autosave_interval 1",
            ]
        if self.extra_config:
            lines.append(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n")

    # --- process ------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while the broker process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def url(self) -> str:
        """`mqtt://host:port` or `mqtts://host:port`."""
        scheme = "mqtts" if self.tls else "mqtt"
        return f"{scheme}://{self.host}:{self.port}"

    def log_text(self) -> str:
        """Everything the broker logged so far (all runs)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def start(self) -> MosquittoBroker:
        """Start the broker and wait until it accepts TCP connections."""
        if self.running:
            return self
        self._write_files()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary, "-c", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self._process.poll() is not None:
                raise MosquittoError(
                    f"mosquitto exited with {self._process.returncode} on port {self.port}:\n"
                    + self.log_text()
                )
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0):
                    return self
            except OSError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise MosquittoError(
                        f"mosquitto did not accept connections on port {self.port}:\n"
                        + self.log_text()
                    ) from None
                time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the broker: SIGTERM (it saves persistence), then SIGKILL if it hangs."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGCONT)  # in case it was paused
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)

    def kill(self) -> None:
        """Kill the broker without letting it save anything (a crash)."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait(10)

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open but nothing answers."""
        if self._process is not None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo `pause()` (SIGCONT)."""
        if self._process is not None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self, crash: bool = False) -> MosquittoBroker:
        """Stop (or kill, with crash=True) and start again on the same port."""
        if crash:
            self.kill()
        else:
            self.stop()
        return self.start()

    async def arestart(self, crash: bool = False) -> MosquittoBroker:
        """`restart()` without blocking the running event loop."""
        return await asyncio.to_thread(self.restart, crash)

    def close(self) -> None:
        """Stop the broker and remove its working directory if this object created it."""
        self.stop()
        if self._own_directory:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> MosquittoBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"MosquittoBroker({self.url}, running={self.running})"
