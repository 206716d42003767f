"""Flow paths where the light cannot be reached: the PC on another network than the light, a
light that joined but that the PC cannot reach (it returns to its access point with
``not_confirmed``), and time limits that pass outside ``wait_lan``. Simulated lights running the
real firmware; the Wi-Fi world decides who reaches whom (``WifiWorld.pc_reaches``)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld

from hub_app.device import DeviceClient
from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter
from hub_app.provisioning import Abort, Done, FlowResult, ProvisioningFlow
from hub_app.provisioning.messages import render
from hub_app.registry import SecretStore

from .conftest import HOME_PASS, HOME_SSID, TEST_TIMEOUTS
from .helpers import answer, expect_form, provision, settle

SimFactory = Callable[..., Awaitable[Simulator]]
FlowFactory = Callable[..., ProvisioningFlow]

SHORT_LAN = dataclasses.replace(TEST_TIMEOUTS, wait_lan=4.0)
DEFAULT_CONFIRM_MS = 300_000


def flow_tasks() -> list[asyncio.Task[object]]:
    """The flow's tasks still alive (steps and helpers are all named ``provisioning:*``)."""
    return [t for t in asyncio.all_tasks()
            if t.get_name().startswith("provisioning:") and not t.done()]


def recorded(flow: ProvisioningFlow, name: str) -> list[dict[str, object]]:
    return [e for e in flow.recorder.events if e["kind"] == "event" and e["name"] == name]


async def ap_call(session: aiohttp.ClientSession, light: SimLight, method: str,
                  params: dict[str, object] | None = None) -> object:
    """Call the light on its access point with the setup code (as a support tool would)."""
    assert light.board.ap_port is not None
    async with DeviceClient(session, light.board.ap_ip, light.board.ap_port,
                            password=light.setup_code, transport="http",
                            reconnect=False) as client:
        return await client.call(method, params)


async def test_pc_not_on_home_network_then_try_again(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
    world: WifiWorld, session: aiohttp.ClientSession, secret_store: SecretStore,
) -> None:
    world.model_pc_network = True  # the PC reaches a light only on the network it is on
    sim = await make_sim(1)
    light = sim.lights[0]
    await adapter.connect("GuestOpen")  # the PC sits on the guest network
    flow = make_flow(timeouts=SHORT_LAN)
    result = await provision(flow, light.ap_ssid, light.setup_code)
    form = expect_form(result, "wait_lan")
    assert form.errors == {"base": "pc_not_on_home_network"}
    text = render("pc_not_on_home_network", form.description_placeholders)
    assert f"Connect this PC to {HOME_SSID}, then try again." in text
    assert await adapter.current_ssid() == "GuestOpen"  # back where the user had it
    diagnosis = recorded(flow, "diagnose")
    assert diagnosis and diagnosis[-1]["pc_on_home"] is False
    status = await ap_call(session, light, "Wifi.GetStatus")
    assert isinstance(status, dict)
    assert status["setup_state"] == "awaiting_confirm"  # it joined: it waits for the hub
    assert light.lan_url is not None

    await adapter.connect(HOME_SSID, HOME_PASS)  # the user follows the advice
    result = await answer(flow, {"retry": True})
    assert isinstance(result, Done), result
    found = recorded(flow, "found_on_lan")
    # its announcements never reached the PC: mDNS found it by asking (or a browse query)
    assert found and found[-1]["how"] in ("mdns_query", "mdns")
    assert (found[-1]["host"], found[-1]["port"]) == (light.board.lan_ip, light.board.lan_port)
    secret = await secret_store.get("light", light.device_id)
    assert secret is not None
    assert light.lan_url is not None
    async with DeviceClient(session, light.board.lan_ip or "", light.board.lan_port or 0,
                            password=secret, transport="http", reconnect=False) as client:
        assert (await client.get_info())["setup_state"] == "confirmed"


async def test_joined_but_unreachable_light_returns_to_its_ap_then_retry_works(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
    world: WifiWorld, session: aiohttp.ClientSession,
) -> None:
    home = world.network(HOME_SSID)
    assert home is not None
    home.client_isolation = True  # the router keeps devices apart: the PC never reaches it
    sim = await make_sim(1)
    light = sim.lights[0]
    # a short confirmation limit so the light gives up quickly (the default is 5 minutes)
    await ap_call(session, light, "Config.Set",
                  {"config": {"wifi": {"confirm_timeout_ms": 300}}, "save": True})
    gave_up = asyncio.ensure_future(light.wait_event(
        "lan_failed", lambda f: f.get("reason") == "not_confirmed", timeout_s=90))
    try:
        flow = make_flow(timeouts=SHORT_LAN)
        result = await provision(flow, light.ap_ssid, light.setup_code)
        form = expect_form(result, "wait_lan")
        assert form.errors == {"base": "not_confirmed"}
        assert "AP/client isolation" in render("not_confirmed", form.description_placeholders)
        await gave_up
    finally:
        gave_up.cancel()
        with contextlib.suppress(BaseException):
            await gave_up
    status = await ap_call(session, light, "Wifi.GetStatus")
    assert isinstance(status, dict)
    assert (status["status"], status["reason"]) == ("failed", "not_confirmed")
    assert status["setup_state"] == "unconfigured" and status["ap_enabled"] is True
    assert light.lan_url is None

    home.client_isolation = False  # isolation turned off in the router
    await ap_call(session, light, "Config.Set",
                  {"config": {"wifi": {"confirm_timeout_ms": DEFAULT_CONFIRM_MS}},
                   "save": True})
    result = await answer(flow, {"retry": True})  # resends the same settings from the AP
    assert isinstance(result, Done), result
    assert result.data["addresses"] == [f"{light.board.lan_ip}:{light.board.lan_port}"]
    assert await adapter.current_ssid() == HOME_SSID


async def test_join_ap_that_never_completes_times_out_then_retry_and_cancel(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid,
                     timeouts=dataclasses.replace(TEST_TIMEOUTS, join_ap=1.5))
    adapter.hang_next_connect()
    form = expect_form(await settle(flow, await flow.step(None)), "join_ap")
    assert form.errors == {"base": "timeout"}
    assert light.ap_ssid in render("timeout", form.description_placeholders)
    assert [e["step_id"] for e in recorded(flow, "step_timeout")] == ["join_ap"]
    assert adapter.hanging_connects == 0  # the hanging join was cancelled
    assert flow_tasks() == []
    assert await adapter.current_ssid() == HOME_SSID
    expect_form(await answer(flow, {}), "verify")  # try again: joins and finds the light
    assert await adapter.current_ssid() == light.ap_ssid
    result = await flow.cancel()
    assert isinstance(result, Abort) and result.reason_key == "cancelled"
    assert await adapter.current_ssid() == HOME_SSID
    assert flow_tasks() == []


@pytest.fixture
async def silent_listener() -> AsyncIterator[tuple[str, int]]:
    """A TCP server that accepts and reads but never answers (a hung light)."""
    writers: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        with contextlib.suppress(Exception):
            while await reader.read(4096):
                pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    port = int(server.sockets[0].getsockname()[1])
    yield "127.0.0.1", port
    server.close()
    for writer in writers:
        writer.transport.abort()
    await server.wait_closed()


async def test_verify_against_a_light_that_never_answers_times_out_then_retry(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
    world: WifiWorld, silent_listener: tuple[str, int],
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid,
                     timeouts=dataclasses.replace(TEST_TIMEOUTS, verify=2.5, rpc=1.0))
    expect_form(await settle(flow, await flow.step(None)), "verify")
    real_ap = world.access_point(light.device_id)
    assert real_ap is not None
    # the light's RPC server hangs: its access point now leads to a listener that never answers
    host, port = silent_listener
    world.open_access_point(dataclasses.replace(real_ap, host=host, port=port))
    result: FlowResult = await answer(flow, {"setup_code": light.setup_code})
    form = expect_form(result, "verify")
    assert form.errors == {"base": "timeout"}
    assert "try again" in render("timeout", form.description_placeholders)
    assert [e["step_id"] for e in recorded(flow, "step_timeout")] == ["verify"]
    assert flow_tasks() == []

    world.open_access_point(real_ap)  # it answers again
    expect_form(await answer(flow, {"setup_code": light.setup_code}), "name")
    result = await flow.cancel()
    assert isinstance(result, Abort) and result.reason_key == "cancelled"
    assert await adapter.current_ssid() == HOME_SSID
    assert flow_tasks() == []
