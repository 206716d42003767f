"""Cancel, Back, progress events, secrets: against simulated lights running the real firmware."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from hublight_sim.runner import Simulator
from hublight_sim.world import WifiWorld

from hub_app.device import DeviceClient
from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter
from hub_app.provisioning import (
    Abort,
    Done,
    FlowResult,
    Form,
    Progress,
    ProvisioningFlow,
    format_setup_code,
)
from hub_app.registry import SecretStore

from .conftest import HOME_PASS, HOME_SSID, TEST_TIMEOUTS
from .helpers import answer, expect_form, settle

SimFactory = Callable[..., Awaitable[Simulator]]
FlowFactory = Callable[..., ProvisioningFlow]


async def to_step(flow: ProvisioningFlow, code: str, step_id: str, *,
                  password: str = HOME_PASS) -> Form:
    """Walk the flow (light given) to the form ``step_id``."""
    result = await settle(flow, await flow.step(None))
    if step_id == "verify":
        return expect_form(result, "verify")
    result = await answer(flow, {"setup_code": code})
    if step_id == "name":
        return expect_form(result, "name")
    result = await answer(flow, {"name": "Desk", "room": "Office"})
    if step_id == "choose_network":
        return expect_form(result, "choose_network")
    result = await answer(flow, {"ssid": "FastLane-5G", "password": "fastlane-pass"})
    return expect_form(result, step_id)


@pytest.mark.parametrize("step_id", ["pick_light", "verify", "name", "choose_network",
                                     "confirm_network"])
async def test_cancel_at_a_form_restores_the_pc_and_leaves_the_light_alone(
    step_id: str, make_sim: SimFactory, make_flow: FlowFactory,
    adapter: SimulatedWifiAdapter, world: WifiWorld, session: aiohttp.ClientSession,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    if step_id == "pick_light":
        flow = make_flow()
        expect_form(await settle(flow, await flow.step(None)), "pick_light")
    else:
        flow = make_flow(light=light.ap_ssid)
        await to_step(flow, light.setup_code, step_id)
        assert await adapter.current_ssid() == light.ap_ssid
    result = await flow.cancel()
    assert result == Abort("cancelled")
    assert flow.current == Abort("cancelled")
    assert await flow.step({"anything": 1}) == Abort("cancelled")
    assert await adapter.current_ssid() == HOME_SSID
    # the light is untouched: unconfigured, still on its access point
    assert world.access_point(light.device_id) is not None
    assert light.ap_url is not None
    ap = world.access_point(light.device_id)
    assert ap is not None
    async with DeviceClient(session, ap.host, ap.port, password=light.setup_code,
                            transport="http", reconnect=False) as client:
        info = await client.get_info()
        config = await client.call("Config.Get", {"key": "wifi.sta"})
    assert info["setup_state"] == "unconfigured"
    assert config["ssid"] == "" and config["enable"] is False


async def test_cancel_while_waiting_on_the_lan(
    make_sim: SimFactory, make_flow: FlowFactory, adapter: SimulatedWifiAdapter,
    world: WifiWorld,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid)
    form = await to_step(flow, light.setup_code, "choose_network")
    assert form.field("ssid").default == HOME_SSID
    seen: list[Progress] = []
    cancelled: list[asyncio.Task[FlowResult]] = []

    def on_progress(progress: Progress) -> None:
        seen.append(progress)
        if progress.progress_key == "looking_on_lan" and not cancelled:
            cancelled.append(asyncio.get_running_loop().create_task(flow.cancel()))

    flow.subscribe(on_progress)
    # a wrong password: the light will never show up on the LAN
    result = await answer(flow, {"ssid": HOME_SSID, "password": "not the password"})
    assert result == Abort("cancelled")
    assert await cancelled[0] == Abort("cancelled")
    keys = [p.progress_key for p in seen]
    assert keys[:3] == ["sending", "light_restarting", "returning_pc"]
    assert "joining_network" in keys
    assert all(p.step_id in ("send", "wait_lan") for p in seen)
    assert await adapter.current_ssid() == HOME_SSID
    # the light went back to its access point with the reason, no reset needed
    await light.wait_event("ap_started", timeout_s=30, include_past=True)
    assert world.access_point(light.device_id) is not None


async def test_back_through_the_forms(make_sim: SimFactory, make_flow: FlowFactory) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow()
    form = expect_form(await settle(flow, await flow.step(None)), "pick_light")
    assert not form.can_go_back
    with pytest.raises(RuntimeError):
        flow.back()
    form = expect_form(await answer(flow, {"light": light.ap_ssid}), "verify")
    assert form.can_go_back
    form = expect_form(flow.back(), "pick_light")
    form = expect_form(await answer(flow, {"light": light.ap_ssid}), "verify")
    form = expect_form(await answer(flow, {"setup_code": light.setup_code}), "name")
    form = expect_form(await answer(flow, {"name": "First name", "room": "Hall"}),
                       "choose_network")
    form = expect_form(flow.back(), "name")
    assert form.field("name").default == "First name"  # what the user typed is kept
    form = expect_form(flow.back(), "verify")
    form = expect_form(await answer(flow, {"setup_code": light.setup_code}), "name")
    form = expect_form(await answer(flow, {"name": "Second name", "room": "Hall"}),
                       "choose_network")
    form = expect_form(await answer(flow, {"ssid": "FastLane-5G", "password": "fastlane-pass"}),
                       "confirm_network")
    form = expect_form(flow.back(), "choose_network")
    assert form.field("ssid").default == "FastLane-5G"
    result = await answer(flow, {"ssid": HOME_SSID, "password": HOME_PASS})
    assert isinstance(result, Done), result
    assert result.data["name"] == "Second name"
    with pytest.raises(RuntimeError):
        flow.back()


async def test_no_back_after_sending(make_sim: SimFactory, make_flow: FlowFactory) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid,
                     timeouts=dataclasses.replace(TEST_TIMEOUTS, wait_lan=3.0))

    def on_progress(progress: Progress) -> None:
        if progress.progress_key == "light_restarting" and light.status != "off":
            light.power_cut()

    flow.subscribe(on_progress)
    await to_step(flow, light.setup_code, "choose_network")
    form = expect_form(await answer(flow, {"ssid": HOME_SSID, "password": HOME_PASS}),
                       "wait_lan")
    assert not form.can_go_back
    with pytest.raises(RuntimeError):
        flow.back()


def read_tree(root: Path) -> str:
    """Every file below ``root`` as text."""
    return "\n".join(p.read_text(encoding="utf-8", errors="replace")
                     for p in root.rglob("*") if p.is_file())


BROKER_PASS = "broker-password-Z9!x"
CAFE = "Café & Bar's \"Wi-Fi\""
CAFE_PASS = "p@ss w=rd+&'\""


async def test_no_secret_in_export_registry_logs_or_reprs(
    make_sim: SimFactory, make_flow: FlowFactory, session: aiohttp.ClientSession,
    secret_store: SecretStore, data_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    sim = await make_sim(1)
    light = sim.lights[0]
    asked: list[str] = []

    async def pairing(device_id: str) -> dict[str, Any]:
        asked.append(device_id)
        return {"mqtt": {"enable": False, "server": "127.0.0.1:1883", "user": "hub",
                         "pass": BROKER_PASS}}

    flow = make_flow(pairing=pairing)
    results: list[FlowResult] = []
    flow.subscribe(results.append)

    async def go(user_input: dict[str, Any] | None) -> FlowResult:
        result = await flow.step(user_input)
        results.append(result)
        while isinstance(result, Progress):
            result = await flow.step(None)
            results.append(result)
        return result

    await go(None)
    await go({"light": light.ap_ssid})
    wrong_code = "".join("B" if ch != "B" else "C" for ch in light.setup_code)
    expect_form(await go({"setup_code": wrong_code}), "verify")
    expect_form(await go({"setup_code": format_setup_code(light.setup_code).lower()}), "name")
    expect_form(await go({"name": "Desk", "room": "Office"}), "choose_network")
    result = await go({"ssid": CAFE, "password": CAFE_PASS, "remember_password": True})
    assert isinstance(result, Done), result
    assert asked == [light.device_id]

    lan_secret = await secret_store.get("light", light.device_id)
    assert lan_secret is not None
    assert await secret_store.get("wifi", CAFE) == CAFE_PASS  # remembered, in the keyring
    host, port = result.data["addresses"][0].rsplit(":", 1)
    async with DeviceClient(session, host, int(port), password=lan_secret,
                            transport="http", reconnect=False) as client:
        mqtt = await client.call("Config.Get", {"key": "mqtt"})
    assert mqtt["pass_set"] is True and mqtt["user"] == "hub"

    export = flow.recorder.export(tmp_path / "report" / "flight.json")
    text = export.read_text(encoding="utf-8")
    data = json.loads(text)
    assert any(e["kind"] == "rpc" for e in data["events"])
    assert any(e["kind"] == "step" and e["to_step"] == "done" for e in data["events"])
    await flow.close()

    code = light.setup_code
    secrets = [code, code.lower(), format_setup_code(code), format_setup_code(code).lower(),
               wrong_code, CAFE_PASS, json.dumps(CAFE_PASS)[1:-1], lan_secret, BROKER_PASS]
    places = {
        "export": text,
        "data dir": read_tree(data_dir),
        "logs": caplog.text,
        "reprs": "\n".join([repr(flow), repr(flow.state), repr(flow.recorder),
                            repr(secret_store), *(repr(r) for r in results)]),
    }
    assert light.device_id in places["data dir"]  # the registry was written there
    for where, content in places.items():
        for secret in secrets:
            assert secret not in content, f"a secret leaked into the {where}"


async def test_too_many_wrong_codes_gives_a_clear_wait_message(
    make_sim: SimFactory, make_flow: FlowFactory,
) -> None:
    sim = await make_sim(1)
    light = sim.lights[0]
    flow = make_flow(light=light.ap_ssid)
    expect_form(await settle(flow, await flow.step(None)), "verify")
    wrong = "".join("A" if ch != "A" else "B" for ch in light.setup_code)
    errors: list[str] = []
    for _ in range(12):
        form = expect_form(await answer(flow, {"setup_code": wrong}), "verify")
        errors.append(form.errors["setup_code"])
        if errors[-1] == "setup_code_rate_limited":
            assert form.description_placeholders["seconds"] == "30"
            break
    assert errors[0] == "setup_code_invalid"
    assert errors[-1] == "setup_code_rate_limited"


async def test_manual_wifi_adapter_tells_the_user_what_to_do(
    make_sim: SimFactory, session: aiohttp.ClientSession, lan: Any, registry: Any,
    secret_store: SecretStore, world: WifiWorld,
) -> None:
    from hub_app.discovery.wifi.manual import ManualAdapter

    sim = await make_sim(1)
    light = sim.lights[0]
    ap = world.access_point(light.device_id)
    assert ap is not None
    adapter = ManualAdapter(endpoint=(ap.host, ap.port), poll_interval_s=0.05)
    flow = ProvisioningFlow(session, adapter, lan, registry, secret_store,
                            timeouts=TEST_TIMEOUTS)
    seen: list[Progress] = []
    flow.subscribe(seen.append)
    form = expect_form(await settle(flow, await flow.step(None)), "pick_light")
    # manual mode cannot scan: the user types the light's network name
    assert form.field("light").kind == "str"
    form = expect_form(await answer(flow, {"light": light.ap_ssid}), "verify")
    manual = [p for p in seen if p.progress_key == "join_ap_manual"]
    assert manual and manual[0].message_placeholders["light"] == light.ap_ssid
    await flow.cancel()
