"""The Wi-Fi adapter interface, its data types, its errors and the command-runner seam.

A ``WifiAdapter`` is how the hub moves the PC onto a light's access point and back. Real adapters
drive the operating system's own tool (nmcli, netsh, networksetup) through a ``CommandRunner``;
``SubprocessRunner`` is the real one, tests record commands with a fake runner because the PC's
Wi-Fi radio cannot run in a test.

Secrets (Wi-Fi passwords) never appear in logs, in exception messages or, where the platform allows
it, in command lines (see each adapter for its trade-off).
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

_log = logging.getLogger(__name__)

#: where a HubLight / Mongoose OS light answers on its own access point (protocol.md)
DEFAULT_AP_ENDPOINT = ("192.168.4.1", 80)
#: where a Shelly answers on its own access point (device-protocol-facts.md)
SHELLY_AP_ENDPOINT = ("192.168.33.1", 80)

# Wifi.Scan auth codes (protocol.md)
AUTH_OPEN = 0
AUTH_WEP = 1
AUTH_WPA_PSK = 2
AUTH_WPA2_PSK = 3
AUTH_WPA_WPA2_PSK = 4
AUTH_WPA2_ENTERPRISE = 5
AUTH_WPA3_PSK = 6
AUTH_WPA2_WPA3_PSK = 7

Band = Literal["2.4", "5", "6"]


@dataclass(frozen=True)
class WifiNetwork:
    """One network (one BSSID) seen by the PC's radio.

    ``signal_dbm`` and ``signal_percent`` are filled in as far as the platform tells them;
    ``auth_code`` is the protocol.md ``Wifi.Scan`` code when the security is known, else None;
    ``hidden`` networks have an empty ``ssid``.
    """

    ssid: str
    bssid: str | None = None
    signal_dbm: int | None = None
    signal_percent: int | None = None
    band: Band | None = None
    channel: int | None = None
    security: str = ""
    auth_code: int | None = None
    hidden: bool = False


@dataclass(frozen=True)
class WifiEvent:
    """Something the adapter tells the user or the flow.

    kind: "join_requested" (manual mode: the user must join ``ssid`` by hand, ``message`` says how),
    "return_requested" (manual mode: go back to your network), "connected", "disconnected"
    (the PC's network changed; ``ssid`` is the new one or None).
    """

    kind: Literal["join_requested", "return_requested", "connected", "disconnected"]
    ssid: str | None
    message: str = ""


WifiEventCallback = Callable[[WifiEvent], None]


# --- errors --------------------------------------------------------------------------------------
class WifiAdapterError(Exception):
    """A Wi-Fi operation failed. ``message`` is for the user, ``next_step`` says what to do.

    Never contains a password.
    """

    key = "wifi_error"

    def __init__(self, message: str, next_step: str = "", *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.next_step = next_step
        #: tool output for support staff (already free of secrets)
        self.detail = detail

    def __str__(self) -> str:
        return f"{self.message} {self.next_step}".strip()


class NetworkNotFound(WifiAdapterError):
    """The network is not in range (or not visible to this PC's radio)."""

    key = "network_not_found"


class WrongPassword(WifiAdapterError):
    """The network refused the password."""

    key = "wrong_password"


class AdapterUnavailable(WifiAdapterError):
    """No Wi-Fi adapter, Wi-Fi switched off, or the OS service is not running."""

    key = "adapter_unavailable"


class PermissionDenied(WifiAdapterError):
    """The OS did not allow this program to change or read the Wi-Fi."""

    key = "permission_denied"


class JoinTimedOut(WifiAdapterError):
    """The PC did not get onto the network in time."""

    key = "join_timed_out"


# --- running commands ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CommandResult:
    """What a finished command produced."""

    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str = ""

    @property
    def output(self) -> str:
        """stdout and stderr together (tools print errors on either)."""
        return (self.stdout + "\n" + self.stderr).strip()


class CommandNotFoundError(OSError):
    """The program does not exist on this PC."""


class CommandTimeoutError(TimeoutError):
    """The program did not finish in time (it has been killed)."""


class CommandRunner(Protocol):
    """Runs one program (never through a shell)."""

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 60.0,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ``argv``; raise CommandNotFoundError / CommandTimeoutError."""
        ...


@dataclass
class SubprocessRunner:
    """The real ``CommandRunner``: asyncio subprocess, no shell, a timeout, C locale by default
    (so tools print the English messages the adapters classify)."""

    env_overrides: Mapping[str, str] = field(default_factory=lambda: {"LC_ALL": "C", "LANG": "C"})

    async def run(
        self,
        argv: Sequence[str],
        *,
        timeout_s: float = 60.0,
        stdin: bytes | None = None,
    ) -> CommandResult:
        """Run ``argv`` and collect its output; kill it after ``timeout_s`` seconds."""
        env = dict(os.environ)
        env.update(self.env_overrides)
        try:
            process = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
            )
        except FileNotFoundError as exc:
            raise CommandNotFoundError(f"program not found: {argv[0]}") from exc
        try:
            out, err = await asyncio.wait_for(process.communicate(stdin), timeout_s)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            with contextlib.suppress(Exception):
                await process.wait()
            raise CommandTimeoutError(f"{argv[0]} did not finish within {timeout_s:g} s") from None
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            raise
        return CommandResult(
            argv=tuple(argv),
            returncode=process.returncode if process.returncode is not None else -1,
            stdout=out.decode("utf-8", errors="replace"),
            stderr=err.decode("utf-8", errors="replace"),
        )


# --- the adapter ---------------------------------------------------------------------------------
def ap_endpoint_for_ssid(ssid: str) -> tuple[str, int]:
    """Where a light answers on its own access point, by the SSID's family."""
    if ssid.lower().startswith("shelly"):
        return SHELLY_AP_ENDPOINT
    return DEFAULT_AP_ENDPOINT


class WifiAdapter(abc.ABC):
    """Moves the PC onto a light's access point and back.

    ``is_automatic`` is False when the user joins networks by hand (``ManualAdapter``).
    Events (``WifiEvent``) go to ``subscribe(cb)`` subscribers.
    """

    is_automatic: bool = True

    def __init__(self) -> None:
        self._subscribers: list[WifiEventCallback] = []

    @abc.abstractmethod
    async def scan(self) -> list[WifiNetwork]:
        """The networks the PC sees now (one entry per BSSID where the platform tells BSSIDs)."""

    @abc.abstractmethod
    async def connect(self, ssid: str, password: str | None = None) -> None:
        """Join ``ssid``; remembers the current network for ``restore_previous()``.

        Raises a ``WifiAdapterError`` subclass.
        """

    @abc.abstractmethod
    async def current_ssid(self) -> str | None:
        """The network the PC is on now, or None."""

    @abc.abstractmethod
    async def restore_previous(self) -> None:
        """Go back to the network the PC was on before ``connect()`` (no-op if none)."""

    def ap_endpoint(self, ssid: str) -> tuple[str, int]:
        """(host, port) of the light's RPC server while the PC is on its access point."""
        return ap_endpoint_for_ssid(ssid)

    def subscribe(self, callback: WifiEventCallback) -> Callable[[], None]:
        """Call ``callback(WifiEvent)`` on every event. -> unsubscribe function."""
        self._subscribers.append(callback)

        def unsubscribe() -> None:
            with contextlib.suppress(ValueError):
                self._subscribers.remove(callback)

        return unsubscribe

    def _emit(self, event: WifiEvent) -> None:
        for callback in list(self._subscribers):
            try:
                callback(event)
            except Exception:
                _log.exception("Wi-Fi event subscriber failed")


# --- helpers shared by adapters ------------------------------------------------------------------
def band_for_channel(channel: int | None) -> Band | None:
    """The band of a channel number when it is unambiguous (1-14: 2.4 GHz, 32-177: 5 GHz)."""
    if channel is None:
        return None
    if 1 <= channel <= 14:
        return "2.4"
    if 32 <= channel <= 177:
        return "5"
    return None


def band_for_frequency(mhz: int | None) -> Band | None:
    """The band of a frequency in MHz."""
    if mhz is None:
        return None
    if 2400 <= mhz < 2500:
        return "2.4"
    if 5150 <= mhz < 5925:
        return "5"
    if 5925 <= mhz <= 7125:
        return "6"
    return None


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


@contextlib.contextmanager
def private_temp_file(content: str, suffix: str = "") -> Iterator[str]:
    """A temporary file only this user can read, holding ``content``; deleted on exit."""
    fd, path = tempfile.mkstemp(prefix="hubwifi-", suffix=suffix)  # mkstemp: mode 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        yield path
    finally:
        with contextlib.suppress(OSError):
            os.unlink(path)


async def tcp_reachable(host: str, port: int, timeout_s: float = 3.0) -> bool:
    """Whether a TCP connection to host:port is accepted within ``timeout_s`` seconds."""
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout_s)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True
