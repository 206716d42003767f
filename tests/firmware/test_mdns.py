"""hublight.mdns responder on loopback, with python-zeroconf as the real peer.

Port 5353 is shared with other suites running in parallel: every test uses unique names.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from hublight import mdns
from zeroconf import IPVersion, ServiceStateChange, Zeroconf
from zeroconf.asyncio import AsyncServiceBrowser, AsyncServiceInfo, AsyncZeroconf

LOOPBACK = "127.0.0.1"
TIMEOUT = 30.0


class LoopbackUdp:
    """The board's udp_multicast contract on CPython: port 5353, group joined on loopback."""

    def __init__(self, group: str = mdns.MDNS_GROUP, port: int = mdns.MDNS_PORT) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("", port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                        struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton(LOOPBACK)))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
        sock.setblocking(False)
        self.sock = sock
        self.loop = asyncio.get_running_loop()

    async def recv(self) -> tuple[bytes, tuple[str, int]]:
        data, addr = await self.loop.sock_recvfrom(self.sock, 9000)
        return data, (addr[0], addr[1])

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        with contextlib.suppress(BlockingIOError):
            self.sock.sendto(data, addr)

    def close(self) -> None:
        self.sock.close()


def services_for(device_id: str, port: int, paired: str = "0") -> list[dict[str, Any]]:
    txt = {"id": device_id, "fw_id": "20261122-1", "arch": "sim", "model": "HL-S1",
           "fw_version": "1.0.0", "app": "HubLight", "paired": paired}
    return [{"type": "_hublight._tcp", "instance": device_id, "port": port, "txt": txt},
            {"type": "_http._tcp", "name": device_id, "port": port, "txt": txt}]


class Running:
    def __init__(self, responder: mdns.MdnsResponder, task: asyncio.Task[None]) -> None:
        self.responder = responder
        self.task = task

    async def stop(self) -> None:
        await self.responder.stop()
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@pytest.fixture
async def light() -> AsyncIterator[tuple[str, Running]]:
    device_id = "hublight-" + secrets.token_hex(3)
    udp = LoopbackUdp()
    responder = mdns.MdnsResponder(udp, device_id, LOOPBACK, services_for(device_id, 8081),
                                   announce_count=2, announce_interval_s=0.2)
    running = Running(responder, asyncio.create_task(responder.run()))
    yield device_id, running
    await running.stop()


@pytest.fixture
async def zc() -> AsyncIterator[AsyncZeroconf]:
    aiozc = AsyncZeroconf(interfaces=[LOOPBACK], ip_version=IPVersion.V4Only)
    yield aiozc
    await aiozc.async_close()


class Browser:
    """Collects AsyncServiceBrowser events for one instance name."""

    def __init__(self, aiozc: AsyncZeroconf, service_type: str, name: str) -> None:
        self.name = name
        self.events: asyncio.Queue[ServiceStateChange] = asyncio.Queue()
        self.browser = AsyncServiceBrowser(aiozc.zeroconf, [service_type],
                                           handlers=[self._on_change])

    def _on_change(self, zeroconf: Zeroconf, service_type: str, name: str,
                   state_change: ServiceStateChange) -> None:
        if name == self.name:
            self.events.put_nowait(state_change)

    async def wait_for(self, wanted: ServiceStateChange) -> None:
        while True:
            change = await asyncio.wait_for(self.events.get(), TIMEOUT)
            if change == wanted:
                return

    async def close(self) -> None:
        await self.browser.async_cancel()


async def resolve(aiozc: AsyncZeroconf, service_type: str, name: str) -> AsyncServiceInfo:
    info = AsyncServiceInfo(service_type, name)
    assert await info.async_request(aiozc.zeroconf, 10000)
    return info


async def test_browser_finds_both_services_with_txt_port_and_address(
        light: tuple[str, Running], zc: AsyncZeroconf) -> None:
    device_id, _ = light
    for service_type in ("_hublight._tcp.local.", "_http._tcp.local."):
        name = f"{device_id}.{service_type}"
        browser = Browser(zc, service_type, name)
        try:
            await browser.wait_for(ServiceStateChange.Added)
        finally:
            await browser.close()
        info = await resolve(zc, service_type, name)
        assert info.port == 8081
        assert info.server == f"{device_id}.local."
        assert info.parsed_addresses() == [LOOPBACK]
        assert info.properties[b"id"] == device_id.encode()
        assert info.properties[b"model"] == b"HL-S1"
        assert info.properties[b"paired"] == b"0"


async def test_update_txt_is_seen_and_goodbye_removes(zc: AsyncZeroconf) -> None:
    device_id = "hublight-" + secrets.token_hex(3)
    responder = mdns.MdnsResponder(LoopbackUdp(), device_id, LOOPBACK,
                                   services_for(device_id, 8082),
                                   announce_count=2, announce_interval_s=0.2)
    running = Running(responder, asyncio.create_task(responder.run()))
    service_type = "_hublight._tcp.local."
    name = f"{device_id}.{service_type}"
    browser = Browser(zc, service_type, name)
    try:
        await browser.wait_for(ServiceStateChange.Added)
        responder.update(services=services_for(device_id, 8082, paired="1"))
        await browser.wait_for(ServiceStateChange.Updated)
        info = await resolve(zc, service_type, name)
        assert info.properties[b"paired"] == b"1"
        responder.update(ip="127.0.0.1", txt={"id": device_id, "paired": "1", "extra": "yes"})
        await browser.wait_for(ServiceStateChange.Updated)
        await running.stop()
        await browser.wait_for(ServiceStateChange.Removed)
    finally:
        await browser.close()
        await running.stop()


async def test_garbage_packets_do_not_kill_the_responder(light: tuple[str, Running],
                                                         zc: AsyncZeroconf) -> None:
    device_id, running = light
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
    garbage = [
        b"", b"\x00", b"\xff" * 12, b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00",
        # a question whose name is a compression pointer loop
        b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x0c\x00\x01",
        # a label longer than the packet
        b"\x00\x00\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x3f" + b"a" * 5,
        # an answer with rdata running past the end
        b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00\x01a\x00\x00\x01\x00\x01"
        b"\x00\x00\x00\x10\x00\x04\x01",
        bytes(range(256)) * 4,
    ]
    try:
        before = running.responder.packets_ignored
        for packet in garbage:
            sender.sendto(packet, (mdns.MDNS_GROUP, mdns.MDNS_PORT))
        for _ in range(200):
            if running.responder.packets_ignored - before >= 5:
                break
            await asyncio.sleep(0.05)
        assert running.responder.packets_ignored - before >= 5
    finally:
        sender.close()
    assert not running.task.done()
    service_type = "_hublight._tcp.local."
    info = await resolve(zc, service_type, f"{device_id}.{service_type}")
    assert info.port == 8081


async def test_legacy_unicast_query_gets_direct_answer(light: tuple[str, Running]) -> None:
    device_id, _ = light
    query = mdns.encode_message([], [(f"{device_id}.local", mdns.TYPE_A)], message_id=0x1234,
                                flags=0)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
    client.bind((LOOPBACK, 0))
    client.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        client.sendto(query, (mdns.MDNS_GROUP, mdns.MDNS_PORT))
        while True:
            data = await asyncio.wait_for(loop.sock_recv(client, 9000), TIMEOUT)
            reply = mdns.decode_message(data)
            if reply["id"] == 0x1234:
                break
        assert reply["is_response"]
        assert reply["questions"][0]["name"] == f"{device_id}.local"
        (answer,) = reply["answers"]
        assert answer["ip"] == LOOPBACK and answer["ttl"] <= 10 and not answer["cache_flush"]
    finally:
        client.close()


async def test_services_enumeration(light: tuple[str, Running]) -> None:
    _, running = light
    query = mdns.decode_message(mdns.encode_message(
        [], [(mdns.SERVICES_ENUMERATION, mdns.TYPE_PTR, True)], flags=0))
    assert query["questions"][0]["unicast"]
    answers, _ = running.responder.answer(query)
    targets = sorted(rr["rdata"] for rr in answers)
    assert targets == sorted([mdns.encode_name("_hublight._tcp.local"),
                              mdns.encode_name("_http._tcp.local")])
