"""mDNS self-test: the real round trip on loopback, and a real port-in-use case."""

from __future__ import annotations

import errno
import socket

from hub_app.discovery import run_mdns_selftest
from hub_app.discovery.selftest import (
    check_port,
    check_round_trip,
    classify_bind_error,
    likely_port_holder,
)


async def test_selftest_on_loopback_passes_with_plain_words() -> None:
    report = await run_mdns_selftest("127.0.0.1", timeout_s=20)
    assert report.ok, report.summary()
    names = [c.name for c in report.checks]
    assert names == ["port_5353", "multicast_route", "loopback_round_trip", "multicast_receive"]
    assert "mDNS works on this PC." in report.summary()


async def test_round_trip_through_real_zeroconf() -> None:
    result = await check_round_trip("127.0.0.1", timeout_s=20)
    assert result.ok and result.next_step == ""


def test_port_held_exclusively_by_another_program_is_named() -> None:
    # we cannot take 5353 from other suites running here, so hold another port exclusively
    # (no SO_REUSEADDR / SO_REUSEPORT) and run the same check on it: a real EADDRINUSE
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        holder.bind(("", 0))
        port = holder.getsockname()[1]
        result = check_port(port, platform="linux")
    finally:
        holder.close()
    assert not result.ok
    assert "holds UDP port 5353" in result.message
    with open("/proc/self/comm", encoding="utf-8") as handle:
        this_process = handle.read().strip()
    assert this_process in result.message  # /proc names the holder: this very process
    assert result.next_step
    assert check_port(port, platform="linux").ok  # free again


def test_bind_error_classification_in_plain_words() -> None:
    windows = classify_bind_error(errno.EADDRINUSE, "win32")
    assert "Bonjour" in windows.message and not windows.ok
    assert "Avahi" in classify_bind_error(errno.EADDRINUSE, "linux", "avahi-daemon").message
    assert "Avahi" in likely_port_holder("linux")
    denied = classify_bind_error(errno.EACCES, "linux")
    assert "does not allow" in denied.message and denied.next_step
    assert classify_bind_error(None).ok


async def test_unknown_interface_is_reported_not_raised() -> None:
    report = await run_mdns_selftest("no-such-interface0")
    assert not report.ok
    assert report.checks[0].name == "interface"
    assert "no-such-interface0" in report.checks[0].message
