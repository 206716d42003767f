"""mDNS self-test: tells the user in plain words when mDNS cannot work on this PC, and what to do.

``await run_mdns_selftest(interface=None)`` runs these checks (each a ``CheckResult``):

* ``port_5353``     - can we open UDP port 5353 the way mDNS needs (shared)? If another program
  holds it exclusively, say which one it likely is (Avahi, Bonjour, another hub);
* ``multicast_route`` - does the PC have a route / an interface for multicast (224.0.0.251)?
* ``loopback_round_trip`` - register a probe service with real python-zeroconf on 127.0.0.1 and
  browse it back within a time limit (and the same on ``interface`` when one is chosen);
* ``multicast_receive`` - we send an mDNS query; do we receive it (or any mDNS packet) back? If
  not, a firewall most likely drops incoming multicast.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import socket
import struct
import sys
from dataclasses import dataclass, field

from zeroconf import IPVersion, ServiceInfo, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncZeroconf

from .interfaces import list_interfaces, resolve_interfaces

_log = logging.getLogger(__name__)

MDNS_GROUP = "224.0.0.251"
MDNS_PORT = 5353
PROBE_TYPE = "_hubselftest._tcp.local."


@dataclass(frozen=True)
class CheckResult:
    """One check: ``ok``, what we found in plain words, and what to do next (empty when ok)."""

    name: str
    ok: bool
    message: str
    next_step: str = ""


@dataclass
class SelfTestReport:
    """All checks of one self-test run."""

    interface: str | None
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return all(check.ok for check in self.checks)

    def check(self, name: str) -> CheckResult | None:
        """The check called ``name``, or None."""
        return next((c for c in self.checks if c.name == name), None)

    def summary(self) -> str:
        """The report as text for people: one line per check, next steps indented."""
        lines = ["mDNS works on this PC." if self.ok else "mDNS may not work on this PC."]
        for check in self.checks:
            lines.append(f"[{'ok' if check.ok else 'problem'}] {check.message}")
            if check.next_step:
                lines.append(f"    What to do: {check.next_step}")
        return "\n".join(lines)


# --- port 5353 -----------------------------------------------------------------------------------
def likely_port_holder(platform: str, process_name: str | None = None) -> str:
    """In plain words, which program most likely holds UDP 5353 exclusively."""
    if process_name:
        lowered = process_name.lower()
        if "avahi" in lowered:
            return "Avahi (avahi-daemon, the Linux mDNS service)"
        if "mdnsresponder" in lowered or "bonjour" in lowered:
            return "Bonjour (mDNSResponder)"
        if "python" in lowered or "hub" in lowered:
            return f"another hub or Python program ({process_name})"
        return f"the program {process_name!r}"
    if platform.startswith("linux"):
        return "Avahi (avahi-daemon) configured without port sharing, or another hub"
    if platform == "darwin":
        return "a program other than Bonjour (mDNSResponder shares the port), e.g. another hub"
    if platform.startswith("win"):
        return "Bonjour (Apple's mDNSResponder service), or another copy of the hub"
    return "another mDNS program or another copy of the hub"


def classify_bind_error(error_number: int | None, platform: str = sys.platform,
                        process_name: str | None = None) -> CheckResult:
    """The ``port_5353`` result for a bind that failed with ``error_number`` (None: it worked)."""
    if error_number is None:
        return CheckResult("port_5353", True, "UDP port 5353 (mDNS) can be shared with us.")
    if error_number in (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", -1)):
        holder = likely_port_holder(platform, process_name)
        return CheckResult(
            "port_5353",
            False,
            f"Another program holds UDP port 5353 (mDNS) for itself: most likely {holder}.",
            "Close that program, or configure it to share the port (Avahi: keep "
            "'disallow-other-stacks=no' in avahi-daemon.conf; another hub: close it), then run "
            "the test again.",
        )
    if error_number in (errno.EACCES, errno.EPERM, getattr(errno, "WSAEACCES", -1)):
        return CheckResult(
            "port_5353",
            False,
            "This PC does not allow the hub to open UDP port 5353 (mDNS).",
            "Allow the hub in your security software, or run it as a user who may open "
            "network ports.",
        )
    return CheckResult(
        "port_5353",
        False,
        f"UDP port 5353 (mDNS) could not be opened ({os.strerror(error_number)}).",
        "Check the PC's network settings and security software, then run the test again.",
    )


def _mdns_socket(port: int, bind_address: str = "") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if hasattr(socket, "SO_REUSEPORT"):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((bind_address, port))
    except BaseException:
        sock.close()
        raise
    return sock


def _udp_port_process(port: int) -> str | None:
    """Linux only: the name of a process with a UDP socket on ``port`` (best effort)."""
    inodes: set[str] = set()
    for table in ("/proc/net/udp", "/proc/net/udp6"):
        try:
            with open(table, encoding="ascii") as handle:
                next(handle, None)
                for line in handle:
                    parts = line.split()
                    if len(parts) > 9 and parts[1].rsplit(":", 1)[-1] == f"{port:04X}":
                        inodes.add(parts[9])
        except OSError:
            continue
    if not inodes:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    with open(f"/proc/{pid}/comm", encoding="utf-8") as handle:
                        return handle.read().strip()
        except OSError:
            continue
    return None


def check_port(port: int = MDNS_PORT, platform: str = sys.platform) -> CheckResult:
    """Bind ``port`` the shared way mDNS stacks do (blocking: run it in a thread)."""
    try:
        sock = _mdns_socket(port)
    except OSError as exc:
        holder = _udp_port_process(port) if platform.startswith("linux") else None
        return classify_bind_error(exc.errno, platform, holder)
    sock.close()
    return classify_bind_error(None, platform)


# --- multicast route -----------------------------------------------------------------------------
def check_multicast_route(interface_address: str | None = None) -> CheckResult:
    """Whether the OS has a route for 224.0.0.251 (via ``interface_address`` when given)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        if interface_address:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                            socket.inet_aton(interface_address))
        sock.connect((MDNS_GROUP, MDNS_PORT))
        source = sock.getsockname()[0]
    except OSError as exc:
        return CheckResult(
            "multicast_route",
            False,
            f"This PC has no route for multicast (mDNS) traffic ({exc.strerror or exc}).",
            "Connect to a network (Wi-Fi or Ethernet); on a VPN, allow local network access; "
            "or choose another network interface for the hub.",
        )
    finally:
        sock.close()
    usable = [i for i in list_interfaces(include_loopback=False) if i.ipv4]
    if not usable and not interface_address:
        return CheckResult(
            "multicast_route",
            False,
            "This PC has no network interface with an IPv4 address besides loopback, so lights "
            "on the LAN cannot be found.",
            "Connect the PC to the same network as the lights.",
        )
    return CheckResult("multicast_route", True,
                       f"Multicast traffic can leave this PC (from {source}).")


# --- round trip through real zeroconf ------------------------------------------------------------
async def check_round_trip(address: str, timeout_s: float = 10.0,
                           name: str = "loopback_round_trip") -> CheckResult:
    """Register a probe service on ``address`` with one zeroconf and browse it back with another."""
    token = secrets.token_hex(4)
    instance = f"hub-selftest-{token}.{PROBE_TYPE}"
    info = ServiceInfo(
        PROBE_TYPE, instance, port=9, properties={"probe": token},
        server=f"hub-selftest-{token}.local.", parsed_addresses=[address],
    )
    where = "on this PC (loopback)" if name == "loopback_round_trip" else f"on {address}"
    announcer = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    listener = AsyncZeroconf(interfaces=[address], ip_version=IPVersion.V4Only)
    seen = asyncio.get_running_loop().create_future()

    def on_change(zeroconf: Zeroconf, service_type: str, name: str,
                  state_change: ServiceStateChange) -> None:
        if name == instance and state_change is ServiceStateChange.Added and not seen.done():
            seen.set_result(True)

    browser = AsyncServiceBrowser(listener.zeroconf, PROBE_TYPE, handlers=[on_change])
    try:
        await announcer.async_register_service(info)
        await asyncio.wait_for(seen, timeout_s)
    except TimeoutError:
        return CheckResult(
            name,
            False,
            f"An mDNS announcement {where} did not come back within {timeout_s:g} s.",
            "A firewall or security program probably blocks mDNS (UDP 5353): allow the hub "
            "through it (Windows: allow it on private networks), then run the test again.",
        )
    except Exception as exc:
        return CheckResult(name, False, f"mDNS could not run {where}: {exc}.",
                           "Run the test again; if it persists, send the log to support.")
    finally:
        await browser.async_cancel()
        with contextlib.suppress(Exception):
            await announcer.async_unregister_all_services()
        await announcer.async_close()
        await listener.async_close()
    return CheckResult(name, True, f"mDNS announcements {where} come back to the hub.")


# --- multicast receive (firewall) ----------------------------------------------------------------
def _query_packet() -> bytes:
    header = struct.pack("!HHHHHH", 0, 0, 1, 0, 0, 0)
    qname = b"".join(bytes([len(p)]) + p for p in PROBE_TYPE.rstrip(".").encode().split(b"."))
    return header + qname + b"\x00" + struct.pack("!HH", 12, 1)


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = asyncio.Event()

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        self.received.set()


async def check_multicast_receive(interface_address: str | None = None,
                                  timeout_s: float = 5.0) -> CheckResult:
    """Send an mDNS query to 224.0.0.251 and wait for it (or any mDNS packet) to arrive."""
    loop = asyncio.get_running_loop()
    local = interface_address or "0.0.0.0"
    try:
        sock = _mdns_socket(MDNS_PORT)
        membership = socket.inet_aton(MDNS_GROUP) + socket.inet_aton(local)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
    except OSError as exc:
        return CheckResult(
            "multicast_receive", False,
            f"The hub could not listen for mDNS packets ({exc.strerror or exc}).",
            "See the port 5353 check above.",
        )
    transport, protocol = await loop.create_datagram_endpoint(_Receiver, sock=sock)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        if interface_address:
            sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                              socket.inet_aton(interface_address))
        sender.setblocking(False)
        packet = _query_packet()
        deadline = loop.time() + timeout_s
        while not protocol.received.is_set() and loop.time() < deadline:
            with contextlib.suppress(OSError):
                sender.sendto(packet, (MDNS_GROUP, MDNS_PORT))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(protocol.received.wait(), 1.0)
    finally:
        sender.close()
        transport.close()
    if protocol.received.is_set():
        return CheckResult("multicast_receive", True, "mDNS packets reach the hub.")
    return CheckResult(
        "multicast_receive",
        False,
        "The hub sent mDNS queries but never received any mDNS packet, not even its own: a "
        "firewall most likely blocks incoming multicast.",
        "Allow the hub (UDP port 5353) in the firewall; on Windows mark this network as "
        "Private; in VPN software allow local network access.",
    )


async def run_mdns_selftest(interface: str | None = None,
                            timeout_s: float = 10.0) -> SelfTestReport:
    """Run every check; ``interface`` is a name or IPv4 address (None: the default route)."""
    report = SelfTestReport(interface)
    address: str | None = None
    if interface:
        try:
            address = resolve_interfaces([interface])[0]
        except (ValueError, IndexError) as exc:
            report.checks.append(CheckResult("interface", False, str(exc),
                                             "Choose one of the PC's interfaces."))
            return report
    report.checks.append(await asyncio.to_thread(check_port))
    report.checks.append(await asyncio.to_thread(check_multicast_route, address))
    report.checks.append(await check_round_trip("127.0.0.1", timeout_s))
    if address and address != "127.0.0.1":
        report.checks.append(await check_round_trip(address, timeout_s, "interface_round_trip"))
    report.checks.append(await check_multicast_receive(address, min(timeout_s, 5.0)))
    for check in report.checks:
        if not check.ok:
            _log.warning("mDNS self-test: %s: %s", check.name, check.message)
    return report
