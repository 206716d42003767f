"""LanDiscovery against services registered by a separate python-zeroconf instance on loopback."""

from __future__ import annotations

import asyncio

from zeroconf.asyncio import AsyncZeroconf

from hub_app.discovery import DiscoveryEvent, LanDiscovery
from hub_app.discovery.lan import MalformedServiceError, parse_service

from .conftest import LOOPBACK, EventLog, light_info, unique_device_id

HUBLIGHT = "_hublight._tcp.local."
HTTP = "_http._tcp.local."
SHELLY = "_shelly._tcp.local."


def is_event(kind: str, device_id: str):  # type: ignore[no-untyped-def]
    return lambda e: e.kind == kind and e.light.device_id == device_id


async def test_added_with_txt_parsed(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    lan, log = discovery
    device_id = unique_device_id()
    await announcer.async_register_service(light_info(device_id, port=8123))
    event = await log.wait(is_event("added", device_id))
    light = event.light
    assert light.kind == "hublight"
    assert light.model == "HL-S1"
    assert light.fw_version == "1.0.0"
    assert light.fw_id == "20261122-120000"
    assert light.arch == "sim"
    assert light.paired is False
    assert light.addresses == (LOOPBACK,)
    assert light.port == 8123
    assert light.rpc_url == f"http://{LOOPBACK}:8123/rpc"
    assert light.service_types == (HUBLIGHT,)
    assert light.txt["app"] == "HubLight"
    assert lan.lights[device_id] == light
    assert await lan.wait_for(device_id, timeout=1) == light


async def test_one_light_on_hublight_and_http_is_one_light_until_both_are_gone(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    lan, log = discovery
    device_id = unique_device_id()
    await announcer.async_register_service(light_info(device_id, HUBLIGHT))
    await log.wait(is_event("added", device_id))
    await announcer.async_register_service(light_info(device_id, HTTP))
    await log.wait(lambda e: e.light.device_id == device_id
                   and e.light.service_types == (HUBLIGHT, HTTP))
    assert [e.kind for e in log.of(device_id)].count("added") == 1
    assert list(lan.lights).count(device_id) == 1

    await announcer.async_unregister_service(light_info(device_id, HUBLIGHT))
    await log.wait(lambda e: e.light.device_id == device_id
                   and e.light.service_types == (HTTP,))
    assert device_id in lan.lights  # still there on _http
    assert "removed" not in [e.kind for e in log.of(device_id)]

    await announcer.async_unregister_service(light_info(device_id, HTTP))
    removed = await log.wait(is_event("removed", device_id))
    assert removed.light.device_id == device_id
    assert device_id not in lan.lights


async def test_address_change_is_an_update_with_the_new_address(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    lan, log = discovery
    device_id = unique_device_id()
    await announcer.async_register_service(light_info(device_id, addresses=["127.0.0.1"]))
    await log.wait(is_event("added", device_id))
    # mDNS keeps records younger than one second on a cache flush (RFC 6762 10.2); a real light
    # moves much later than that, so let its first records age before it moves
    await asyncio.sleep(1.2)
    # the light comes back with another address (loopback: any 127.x reaches this host)
    await announcer.async_update_service(light_info(device_id, addresses=["127.0.0.77"]))

    def moved(event: DiscoveryEvent) -> bool:
        return (event.kind == "updated" and event.light.device_id == device_id
                and event.light.addresses == ("127.0.0.77",))

    event = await log.wait(moved)
    assert event.address_changed
    assert event.previous is not None and "127.0.0.1" in event.previous.addresses
    assert lan.lights[device_id].address == "127.0.0.77"
    assert [e.kind for e in log.of(device_id)].count("added") == 1


async def test_txt_change_is_an_update_without_address_change(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    _lan, log = discovery
    device_id = unique_device_id()
    await announcer.async_register_service(light_info(device_id))
    await log.wait(is_event("added", device_id))
    paired_props: dict[str | bytes, str | bytes | None] = {
        "id": device_id, "fw_id": "b", "arch": "sim", "app": "HubLight", "paired": "1",
    }
    await announcer.async_update_service(light_info(device_id, properties=paired_props))
    event = await log.wait(lambda e: e.kind == "updated" and e.light.device_id == device_id
                           and e.light.paired is True)
    assert not event.address_changed


async def test_shelly_and_mongoose_detected_and_ordinary_http_ignored(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    lan, log = discovery
    shelly_id = unique_device_id("shellyplus1-")
    mongoose_id = unique_device_id("esp32_")
    printer = unique_device_id("printer-")
    await announcer.async_register_service(light_info(
        shelly_id, SHELLY, properties={"gen": "2", "app": "Plus1", "ver": "1.4.2"}))
    await announcer.async_register_service(light_info(
        mongoose_id, HTTP, properties={"id": mongoose_id, "fw_id": "20190101-000000", "arch":
                                       "esp32"}))
    await announcer.async_register_service(light_info(
        printer, HTTP, properties={"path": "/", "note": "office printer"}))
    # a sentinel registered last: once it is in, the others have been processed too
    sentinel = unique_device_id()
    await announcer.async_register_service(light_info(sentinel))

    shelly = (await log.wait(is_event("added", shelly_id))).light
    assert shelly.kind == "shelly"
    assert shelly.model == "Plus1"
    assert shelly.fw_version == "1.4.2"
    mongoose = (await log.wait(is_event("added", mongoose_id))).light
    assert mongoose.kind == "mongoose"
    assert mongoose.arch == "esp32"
    assert mongoose.service_types == (HTTP,)
    await log.wait(is_event("added", sentinel))
    assert not log.of(printer)
    assert printer not in lan.lights


async def test_malformed_txt_is_skipped_and_discovery_goes_on(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    lan, log = discovery
    bad_utf8 = unique_device_id()
    bad_id = unique_device_id()
    await announcer.async_register_service(light_info(
        bad_utf8, HTTP, properties={b"id": b"\xff\xfe\xfa", b"arch": b"esp32", b"fw_id": b"x"},
        instance=bad_utf8))
    await announcer.async_register_service(light_info(
        bad_id, HUBLIGHT, properties={"id": "../../etc passwd; rm", "app": "HubLight"},
        instance=bad_id))
    sentinel = unique_device_id()
    await announcer.async_register_service(light_info(sentinel))
    await log.wait(is_event("added", sentinel))
    ids = {e.light.device_id for e in log.events}
    assert bad_utf8 not in ids and bad_id not in ids
    assert all("passwd" not in i for i in lan.lights)
    assert lan.running


async def test_wait_for_returns_when_the_light_appears(
    announcer: AsyncZeroconf, discovery: tuple[LanDiscovery, EventLog]
) -> None:
    lan, _log = discovery
    device_id = unique_device_id()
    waiter = asyncio.create_task(lan.wait_for(device_id.upper(), timeout=30))
    await asyncio.sleep(0)
    assert not waiter.done()
    await announcer.async_register_service(light_info(device_id))
    light = await waiter
    assert light.device_id == device_id


async def test_wait_for_times_out_for_a_light_that_never_shows() -> None:
    import pytest

    lan = LanDiscovery(interfaces=[LOOPBACK])
    await lan.start()
    try:
        with pytest.raises(TimeoutError):
            await lan.wait_for(unique_device_id(), timeout=0.5)
    finally:
        await lan.stop()


def test_parse_service_rejects_odd_input_with_a_reason() -> None:
    import pytest

    with pytest.raises(MalformedServiceError, match="device id"):
        parse_service(HUBLIGHT, "x y z._hublight._tcp.local.", {}, ["10.0.0.2"], 80)
    with pytest.raises(MalformedServiceError, match="port"):
        parse_service(HUBLIGHT, "hublight-abcdef._hublight._tcp.local.", {}, ["10.0.0.2"], 0)
    with pytest.raises(MalformedServiceError, match="address"):
        parse_service(HUBLIGHT, "hublight-abcdef._hublight._tcp.local.", {}, [], 80)
    # not a light at all: no error, just None
    assert parse_service(HTTP, "printer._http._tcp.local.", {b"path": b"/"}, ["10.0.0.2"],
                         80) is None
    record = parse_service(
        HUBLIGHT, "hublight-abcdef._hublight._tcp.local.",
        {b"ID": b"HubLight-ABCDEF", b"paired": b"maybe", b"\xff": b"x"},
        ["fe80::1%2", "10.0.0.9", "10.0.0.2"], 80,
    )
    assert record is not None
    assert record.device_id == "hublight-abcdef"
    assert record.paired is None
    assert record.addresses == ("10.0.0.2", "10.0.0.9", "fe80::1%2")
