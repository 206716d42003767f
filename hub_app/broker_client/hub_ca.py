"""The hub's private CA and the embedded broker's server certificate (TLS for the lights).

On first start the hub creates a CA (EC P-256, ~10 years) and a server certificate signed by it
whose SubjectAltName lists every address / host name lights may use to reach the broker. The
lights get the CA certificate at pairing (`mqtt.ca`) and verify the broker against it, host name
or IP address included. The server certificate is re-issued when that set of names changes, when
it nears its end, or when it was not signed by the current CA; the CA itself stays, so lights
paired earlier keep trusting the broker.

Key files: `<dir>/ca.key` and `<dir>/server.key`, mode 0600 in a 0700 directory, written
atomically (temporary file, fsync, rename, fsync of the directory). A private key readable only
by the user is the usual practice for server keys (Mosquitto, nginx); the keyring is for secrets
people type or see. Key material is never logged (only names and fingerprints are).

Everything here blocks (key generation, file I/O): call it from a worker thread.
"""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import logging
import os
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub_app.atomicfile import write_file_atomically

_LOGGER = logging.getLogger(__name__)

CA_CERT = "ca.crt"
CA_KEY = "ca.key"
SERVER_CERT = "server.crt"
SERVER_KEY = "server.key"

CA_VALIDITY = datetime.timedelta(days=3652)  # ~10 years
SERVER_VALIDITY = datetime.timedelta(days=825)
RENEW_BEFORE = datetime.timedelta(days=90)  # re-issue the server certificate this long before
CLOCK_SKEW = datetime.timedelta(days=1)  # not_before in the past: lights' clocks differ


@dataclass(frozen=True)
class BrokerCertificates:
    """Paths of the files the broker's TLS listener uses, and the CA as PEM for the lights."""

    ca_path: Path
    cert_path: Path
    key_path: Path
    ca_pem: str
    names: tuple[str, ...]  # the server certificate's SubjectAltName entries
    issued: bool  # True when the server certificate was (re-)issued by this call

    def server_context(self) -> ssl.SSLContext:
        """The listener's SSL context: TLS 1.2 or newer, the server certificate and key."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert_path), str(self.key_path))
        return context

    def client_context(self) -> ssl.SSLContext:
        """An SSL context that trusts only the hub's CA (for the hub's own paho client, tests)."""
        return ssl.create_default_context(cadata=self.ca_pem)


def normalise_names(names: Iterable[str]) -> tuple[str, ...]:
    """Unique, sorted SAN entries: IP addresses in canonical form, host names lower case."""
    result: set[str] = set()
    for name in names:
        name = name.strip()
        if not name or name in ("0.0.0.0", "::"):
            continue
        try:
            result.add(str(ipaddress.ip_address(name.split("%")[0])))
        except ValueError:
            result.add(name.lower().rstrip("."))
    return tuple(sorted(result))


def ensure_certificates(directory: Path, names: Iterable[str]) -> BrokerCertificates:
    """Load the CA (create it on first start) and a server certificate valid for `names`."""
    wanted = normalise_names(names)
    if not wanted:
        raise ValueError("the server certificate needs at least one name")
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        directory.chmod(0o700)
    ca_cert_path, ca_key_path = directory / CA_CERT, directory / CA_KEY
    cert_path, key_path = directory / SERVER_CERT, directory / SERVER_KEY
    now = datetime.datetime.now(datetime.UTC)

    ca = _load_ca(ca_cert_path, ca_key_path, now)
    if ca is None:
        ca = _create_ca(now)
        write_file_atomically(ca_key_path, _key_pem(ca[1]))
        write_file_atomically(ca_cert_path, ca[0].public_bytes(serialization.Encoding.PEM))
        _LOGGER.info("created the hub's broker CA (SHA-256 %s)", _fingerprint(ca[0]))
    ca_cert, ca_key = ca

    issued = False
    reason = _server_reason(cert_path, key_path, ca_cert, wanted, now)
    if reason is not None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _issue_server(ca_cert, ca_key, key, wanted, now)
        write_file_atomically(key_path, _key_pem(key))
        write_file_atomically(cert_path, cert.public_bytes(serialization.Encoding.PEM))
        _LOGGER.info(
            "issued the broker's server certificate (%s) for %s", reason, ", ".join(wanted)
        )
        issued = True
    return BrokerCertificates(
        ca_path=ca_cert_path,
        cert_path=cert_path,
        key_path=key_path,
        ca_pem=ca_cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        names=wanted,
        issued=issued,
    )


# --- internals -------------------------------------------------------------------------------
def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Home Hub"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()[:16]


def _load_ca(
    cert_path: Path, key_path: Path, now: datetime.datetime
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None:
    if not cert_path.exists() and not key_path.exists():
        return None
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        # Never include the file's content: it is a private key.
        _LOGGER.error("the hub's CA is unreadable (%s): creating a new one", type(err).__name__)
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        _LOGGER.error("the hub's CA key does not match its certificate: creating a new one")
        return None
    if cert.not_valid_after_utc <= now:
        _LOGGER.warning("the hub's CA expired: creating a new one (lights must be paired again)")
        return None
    return cert, key


def _create_ca(now: datetime.datetime) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = _name(f"Home Hub broker CA {os.urandom(4).hex()}")
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _san_entries(names: tuple[str, ...]) -> list[x509.GeneralName]:
    entries: list[x509.GeneralName] = []
    for name in names:
        try:
            address = ipaddress.ip_address(name)
        except ValueError:
            entries.append(x509.DNSName(name))
            continue
        entries.append(x509.IPAddress(address))
        # Also as a dNSName: mbedTLS before 3.5 (some MicroPython builds) matches a host given
        # as an IP address only against dNSName entries. OpenSSL / CPython ignore this entry
        # for an IP address and use the iPAddress one.
        entries.append(x509.DNSName(name))
    return entries


def _cert_names(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    found = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    found += san.get_values_for_type(x509.DNSName)
    return normalise_names(found)


def _server_reason(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    wanted: tuple[str, ...],
    now: datetime.datetime,
) -> str | None:
    """Why the server certificate must be (re-)issued, or None when it is fine."""
    if not cert_path.exists() or not key_path.exists():
        return "first start"
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    except (OSError, ValueError) as err:
        return f"unreadable: {type(err).__name__}"
    if key.public_key() != cert.public_key():
        return "key does not match"
    if cert.issuer != ca_cert.subject:
        return "new CA"
    try:
        cert.verify_directly_issued_by(ca_cert)
    except Exception:  # InvalidSignature, or a key type that cannot have signed it
        return "not signed by the CA"
    if cert.not_valid_after_utc - now < RENEW_BEFORE:
        return "expires soon"
    if _cert_names(cert) != wanted:
        return "listen addresses changed"
    return None


def _issue_server(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    key: ec.EllipticCurvePrivateKey,
    names: tuple[str, ...],
    now: datetime.datetime,
) -> x509.Certificate:
    return (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(min(now + SERVER_VALIDITY, ca_cert.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(_san_entries(names)), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )

