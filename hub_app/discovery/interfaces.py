"""The PC's network interfaces with their addresses, so the user can choose where mDNS runs."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass

import ifaddr

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class NetworkInterface:
    """One interface: ``name`` (``eth0``, or a GUID on Windows), ``nice_name`` for people,
    its IPv4 and IPv6 addresses, and whether it is the loopback."""

    name: str
    nice_name: str
    ipv4: tuple[str, ...]
    ipv6: tuple[str, ...]
    is_loopback: bool

    @property
    def label(self) -> str:
        """``"Wi-Fi (192.168.1.23)"``: what to show in a chooser."""
        addresses = ", ".join(self.ipv4 or self.ipv6) or "no address"
        return f"{self.nice_name} ({addresses})"


def list_interfaces(include_loopback: bool = True) -> list[NetworkInterface]:
    """The PC's interfaces that have an address (IPv4 ones first, then by name)."""
    result: list[NetworkInterface] = []
    for adapter in ifaddr.get_adapters():
        ipv4: list[str] = []
        ipv6: list[str] = []
        for ip in adapter.ips:
            if isinstance(ip.ip, str):
                ipv4.append(ip.ip)
            else:
                address, _flowinfo, scope_id = ip.ip
                ipv6.append(f"{address}%{scope_id}" if scope_id else address)
        if not ipv4 and not ipv6:
            continue
        loopback = any(ipaddress.ip_address(a.split("%")[0]).is_loopback for a in ipv4 + ipv6)
        if loopback and not include_loopback:
            continue
        result.append(
            NetworkInterface(
                name=adapter.name if isinstance(adapter.name, str) else adapter.name.decode(),
                nice_name=adapter.nice_name,
                ipv4=tuple(ipv4),
                ipv6=tuple(ipv6),
                is_loopback=loopback,
            )
        )
    result.sort(key=lambda i: (not i.ipv4, i.is_loopback, i.name))
    return result


def resolve_interfaces(choices: list[str]) -> list[str]:
    """Turn interface names or addresses into the IPv4 addresses python-zeroconf binds to.

    An address is kept as is; a name (``eth0``, ``Wi-Fi``) becomes its IPv4 addresses. Raises
    ValueError naming an unknown interface or one without an IPv4 address.
    """
    known = list_interfaces()
    addresses: list[str] = []
    for choice in choices:
        try:
            ipaddress.ip_address(choice.split("%")[0])
        except ValueError:
            pass
        else:
            addresses.append(choice)
            continue
        match = [i for i in known if choice in (i.name, i.nice_name)]
        if not match:
            names = ", ".join(i.name for i in known)
            raise ValueError(f"no network interface named {choice!r} (this PC has: {names})")
        if not match[0].ipv4:
            raise ValueError(f"interface {choice!r} has no IPv4 address")
        addresses.extend(match[0].ipv4)
    return addresses
