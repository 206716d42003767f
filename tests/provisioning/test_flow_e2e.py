"""The flow end to end against simulated lights running the real firmware: real HTTP, real mDNS
on loopback, the real registry and keyring code; only the PC's radio is simulated."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import Network, WifiWorld
from yarl import URL

from hub_app.device import AuthError, DeviceClient
from hub_app.discovery import LanDiscovery
from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter
from hub_app.provisioning import Done, Form, Progress, ProvisioningFlow
from hub_app.registry import Registry, SecretStore

from .conftest import HOME_PASS, HOME_SSID, TEST_TIMEOUTS
from .helpers import answer, expect_form, provision, settle

SimFactory = Callable[..., Awaitable[Simulator]]
FlowFactory = Callable[..., ProvisioningFlow]

SHORT_LAN = dataclasses.replace(TEST_TIMEOUTS, wait_lan=4.0)


def host_port(url: str | None) -> tuple[str, int]:
    assert url is not None
    parsed = URL(url)
    assert parsed.host is not None and parsed.port is not None
    return parsed.host, parsed.port


def address_of(url: str | None) -> str:
    host, port = host_port(url)
    return f"{host}:{port}"


async def lan_info(session: aiohttp.ClientSession, light: SimLight,
                   password: str) -> dict[str, Any]:
    host, port = host_port(light.lan_url)
    async with DeviceClient(session, host, port, password=password, transport="http",
                            reconnect=False) as client:
        return await client.get_info()


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polls state owned by other components
            await asyncio.sleep(0.05)


async def test_three_lights_provisioned_end_to_end(
    make_sim: SimFactory, make_flow: FlowFactory, registry: Registry, secret_store: SecretStore,
    session: aiohttp.ClientSession, world: WifiWorld, data_dir: Path,
) -> None:
    sim = await make_sim(3)
    rooms = ["Office", "Kitchen", "Office"]
    for index, light in enumerate(sim.lights):
        flow = make_flow()
        first = await settle(flow, await flow.step(None))
        form = expect_form(first, "pick_light")
        offered = {c.value for c in form.field("light").choices}
        # every light still on its AP is offered
        assert {x.ap_ssid for x in sim.lights[index:]} <= offered
        await flow.close()
        flow = make_flow()
        result = await provision(flow, light.ap_ssid, light.setup_code,
                                 name=f"Lamp {index}", room=rooms[index])
        assert isinstance(result, Done), result
        assert result.data["device_id"] == light.device_id
        assert result.data["addresses"] == [address_of(light.lan_url)]
        await flow.close()

    assert len(registry) == 3
    for index, light in enumerate(sim.lights):
        paired = registry.get(light.device_id)
        assert paired is not None
        assert (paired.name, paired.room, paired.model) == (f"Lamp {index}", rooms[index], "HL-S1")
        secret = await secret_store.get("light", light.device_id)
        assert secret is not None and len(secret) >= 16
        info = await lan_info(session, light, secret)
        assert info["id"] == light.device_id
        assert info["setup_state"] == "confirmed"
        assert info.get("paired") is True
        # the setup code no longer opens the light; its access point is closed
        with pytest.raises(AuthError):
            await lan_info(session, light, light.setup_code)
        await wait_until(lambda lt=light: world.access_point(lt.device_id) is None)

    reloaded = Registry(data_dir / "lights.json")
    await reloaded.load()
    assert sorted(x.device_id for x in reloaded.all()) == sorted(x.device_id for x in sim.lights)


async def test_name_form_defaults_from_model_and_registry(
    make_sim: SimFactory, make_flow: FlowFactory,
) -> None:
    sim = await make_sim(2)
    first, second = sim.lights
    flow = make_flow()
    assert isinstance(await provision(flow, first.ap_ssid, first.setup_code, name="Light strip 1",
                                      room="Living room"), Done)
    flow = make_flow(light=second.ap_ssid)
    expect_form(await settle(flow, await flow.step(None)), "verify")
    form = expect_form(await answer(flow, {"setup_code": second.setup_code}), "name")
    assert form.field("name").default == "Light strip 2"
    assert form.field("room").suggestions == ("Living room",)
    assert form.field("room").default == "Living room"
    form = expect_form(await answer(flow, {"name": "  ", "room": ""}), "name")
    assert form.errors == {"name": "name_required"}


async def test_setup_code_checked_with_or_without_dash_any_case(
    make_sim: SimFactory, make_flow: FlowFactory,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid)
    form = expect_form(await settle(flow, await flow.step(None)), "verify")
    assert form.description_placeholders["device_id"] == light.device_id
    assert form.description_placeholders["model"] == "HL-S1"
    form = expect_form(await answer(flow, {"setup_code": "12"}), "verify")
    assert form.errors == {"setup_code": "setup_code_format"}
    wrong = "".join("A" if ch != "A" else "B" for ch in light.setup_code)
    form = expect_form(await answer(flow, {"setup_code": wrong}), "verify")
    assert form.errors == {"setup_code": "setup_code_invalid"}
    code = light.setup_code
    expect_form(await answer(flow, {"setup_code": f" {code[:4].lower()}-{code[4:]} "}), "name")


async def test_wrong_password_then_corrected_same_light(
    make_sim: SimFactory, make_flow: FlowFactory, session: aiohttp.ClientSession,
    secret_store: SecretStore,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(timeouts=SHORT_LAN)
    result = await provision(flow, light.ap_ssid, light.setup_code, password="wrong password!")
    form = expect_form(result, "choose_network")
    assert form.errors == {"password": "wrong_password"}
    assert form.field("ssid").default == HOME_SSID
    assert form.can_go_back  # the light is back on its AP, unconfigured
    boots = light.boots
    result = await answer(flow, {"ssid": HOME_SSID, "password": HOME_PASS})
    assert isinstance(result, Done), result
    assert result.data["device_id"] == light.device_id
    secret = await secret_store.get("light", light.device_id)
    assert secret is not None
    info = await lan_info(session, light, secret)
    assert info["setup_state"] == "confirmed"
    assert light.boots == boots + 1  # one reboot to join; no factory reset


async def test_light_without_dhcp_reports_no_ip(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(timeouts=SHORT_LAN)
    result = await provision(flow, light.ap_ssid, light.setup_code, ssid="NoDHCP",
                             password="no-dhcp-pass")
    form = expect_form(result, "choose_network")
    assert form.errors == {"base": "no_ip"}
    assert form.field("ssid").default == "NoDHCP"
    # the PC is on the light's AP, ready to send corrected settings; cancel puts it back
    assert await adapter.current_ssid() == light.ap_ssid
    await flow.cancel()
    assert await adapter.current_ssid() == HOME_SSID


async def test_light_that_vanishes_is_not_found_on_lan(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(timeouts=SHORT_LAN)

    def on_progress(progress: Progress) -> None:
        if progress.progress_key == "light_restarting" and light.status != "off":
            light.power_cut()  # unplugged while restarting: neither on the LAN nor on its AP
            unsubscribe()

    unsubscribe = flow.subscribe(on_progress)
    result = await provision(flow, light.ap_ssid, light.setup_code)
    form = expect_form(result, "wait_lan")
    assert form.errors == {"base": "light_not_found_on_lan"}
    assert await adapter.current_ssid() == HOME_SSID
    # plugged in again, it joins with the settings it saved; "try again" finds and pairs it
    await light.power_on()
    await light.wait_event("lan_joined", timeout_s=30)
    result = await answer(flow, {"retry": True})
    assert isinstance(result, Done), result


async def test_paired_light_back_at_a_new_address_updates_registry(
    make_sim: SimFactory, make_flow: FlowFactory, registry: Registry, lan: LanDiscovery,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    registry.attach_discovery(lan)
    result = await provision(make_flow(), light.ap_ssid, light.setup_code)
    assert isinstance(result, Done)
    old = address_of(light.lan_url)
    assert registry.get(light.device_id).addresses == (old,)  # type: ignore[union-attr]
    light.board.new_lan_address()
    await light.reboot()
    await light.wait_event("lan_joined", timeout_s=30)
    new = address_of(light.lan_url)
    assert new != old

    def moved() -> bool:
        paired = registry.get(light.device_id)
        return paired is not None and paired.addresses[:1] == (new,)

    await wait_until(moved, 60)
    await registry.flush()
    reloaded = Registry(registry.path)
    await reloaded.load()
    assert reloaded.get(light.device_id).addresses[0] == new  # type: ignore[union-attr]


async def test_pc_drops_off_the_ap_and_the_flow_rejoins(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid)
    expect_form(await settle(flow, await flow.step(None)), "verify")
    adapter.drop_off_ap()
    assert await adapter.current_ssid() == HOME_SSID
    expect_form(await answer(flow, {"setup_code": light.setup_code}), "name")
    assert await adapter.current_ssid() == light.ap_ssid
    expect_form(await answer(flow, {"name": "Desk", "room": ""}), "choose_network")
    adapter.drop_off_ap()
    result = await answer(flow, {"ssid": HOME_SSID, "password": HOME_PASS})
    assert isinstance(result, Done), result
    names = [e["name"] for e in flow.recorder.events if e["kind"] == "event"]
    assert names.count("pc_off_ap") == 2


async def test_pc_fails_to_join_the_ap(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid)
    adapter.fail_next_connect()
    form = expect_form(await settle(flow, await flow.step(None)), "join_ap")
    assert form.errors == {"base": "ap_join_failed"}
    expect_form(await answer(flow, {}), "verify")  # try again


async def test_special_characters_reach_the_light_intact(
    make_sim: SimFactory, make_flow: FlowFactory,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow()
    result = await provision(flow, light.ap_ssid, light.setup_code,
                             name="Lampe d'été & co \"1\"",
                             ssid="Café & Bar's \"Wi-Fi\"", password="p@ss w=rd+&'\"")
    # the light joined: the world accepts only the exact SSID and password
    assert isinstance(result, Done), result
    assert result.data["name"] == "Lampe d'été & co \"1\""
    assert result.data["extra"]["ssid"] == "Café & Bar's \"Wi-Fi\""


async def test_network_checks_before_sending(
    make_sim: SimFactory, make_flow: FlowFactory, world: WifiWorld,
) -> None:
    world.add_network(Network("Weak-Far", "weak-network-pass", band="2.4", rssi=-88))
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid)
    expect_form(await settle(flow, await flow.step(None)), "verify")
    expect_form(await answer(flow, {"setup_code": light.setup_code}), "name")
    form = expect_form(await answer(flow, {"name": "Desk"}), "choose_network")
    ssid_field = form.field("ssid")
    assert ssid_field.default == HOME_SSID  # the PC's network, pre-selected
    choices = {c.value: c.info for c in ssid_field.choices}
    assert choices["FastLane-5G"]["seen_by_light"] is False
    assert not any(c.startswith("HubLight-") for c in choices)

    async def choose(ssid: str, password: str) -> Form:
        result = await answer(flow, {"ssid": ssid, "password": password})
        assert isinstance(result, Form)
        return result

    form = await choose("Secure3", "wpa3-only-pass")
    assert form.step_id == "choose_network" and form.errors == {"ssid": "ssid_wpa3_only"}
    form = await choose("Office-Enterprise", "whatever-pass")
    assert form.errors == {"ssid": "ssid_enterprise"}
    form = await choose(HOME_SSID, "pässwörd-with-umlauts")
    assert form.errors == {"password": "unsupported_characters"}
    form = await choose(HOME_SSID, "short")
    assert form.errors == {"password": "password_length"}
    form = await choose(HOME_SSID, "")
    assert form.errors == {"password": "password_required"}
    form = await choose("x" * 33, "long-enough-pass")
    assert form.errors == {"ssid": "ssid_too_long"}
    form = await choose("FastLane-5G", "fastlane-pass")
    assert form.step_id == "confirm_network" and form.warnings == {"ssid": "ssid_5ghz_only"}
    form = expect_form(flow.back(), "choose_network")
    form = await choose("Weak-Far", "weak-network-pass")
    assert form.warnings == {"ssid": "weak_signal"}
    form = expect_form(await answer(flow, {"confirm": False}), "choose_network")
    # hidden network typed by hand: a warning, then it works
    form = await choose("HiddenNet", "hidden-pass")
    assert form.step_id == "confirm_network" and form.warnings == {"ssid": "ssid_hidden"}
    # nothing was sent so far: the light is still unconfigured on its AP
    assert light.ap_url is not None and light.lan_url is None
    result = await answer(flow, {"confirm": True})
    assert isinstance(result, Done), result
    assert result.data["extra"]["ssid"] == "HiddenNet"
