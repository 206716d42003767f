"""OTA.Revert on a simulated light: back to the previous slot after a committed update, and 409
when there is no previous slot."""

from __future__ import annotations

import hashlib

import aiohttp
import pytest
from hublight_sim.board import make_sim_image
from hublight_sim.runner import SimLight

from .conftest import provision
from .helpers import LightRpc, RpcFailure, eventually

# the image server of the other OTA tests (a fixture: pytest finds it through this import)
from .test_wifi_lifecycle import _ready, image_server  # noqa: F401


async def test_revert_after_commit_boots_the_previous_slot(
    session: aiohttp.ClientSession, light: SimLight, ap_rpc: LightRpc,
    image_server: dict[str, bytes | str],  # noqa: F811
) -> None:  # fmt: skip
    lan = await provision(light, session, ap_rpc)
    before = await lan.call("OTA.GetBootState")
    old_version = (await lan.call("Sys.GetInfo"))["fw_version"]
    old_slot = before["active_slot"]
    assert before["revert_slot"] is None

    image = make_sim_image("0.5.0", b"r" * 20_000)
    image_server["v5"] = image
    started = light.wait_event("started", lambda f: f.get("fw_version") == "0.5.0", timeout_s=60)
    await lan.call("OTA.Update", {"url": f"{image_server['base']}/v5",
                                  "sha256": hashlib.sha256(image).hexdigest(),
                                  "commit_timeout": 60})  # fmt: skip
    await started
    await eventually(lambda: _ready(light.lan_url))
    assert light.lan_url is not None
    lan = LightRpc(session, light.lan_url, lan.password)
    state = await eventually(lambda: lan.call("OTA.GetBootState"))
    new_slot = state["active_slot"]
    assert new_slot != old_slot and state["revert_slot"] == old_slot
    assert await lan.call("OTA.Commit", {}) == {"committed": True}
    committed = await lan.call("OTA.GetBootState")
    assert committed["is_committed"] is True and committed["revert_slot"] == old_slot

    back = light.wait_event("started", lambda f: f.get("fw_version") == old_version,
                            timeout_s=60)  # fmt: skip
    assert await lan.call("OTA.Revert", {}) is None
    assert (await back)["fw_version"] == old_version
    await eventually(lambda: _ready(light.lan_url))
    assert light.lan_url is not None
    lan = LightRpc(session, light.lan_url, lan.password)
    state = await eventually(lambda: lan.call("OTA.GetBootState"))
    assert state["active_slot"] == old_slot
    assert state["revert_slot"] is None and state["fw_version"] == old_version
    assert state["last_error"] == "reverted by request"
    assert (await lan.call("Sys.GetInfo"))["fw_version"] == old_version

    # that was the one way back: a second revert has nowhere to go
    with pytest.raises(RpcFailure) as refused:
        await lan.call("OTA.Revert", {})
    assert refused.value.code == 409


async def test_revert_without_a_previous_slot_is_refused(
    session: aiohttp.ClientSession, light: SimLight, ap_rpc: LightRpc
) -> None:
    lan = await provision(light, session, ap_rpc)
    boots = light.boots
    with pytest.raises(RpcFailure) as refused:
        await lan.call("OTA.Revert", {})
    assert refused.value.code == 409
    assert "no previous firmware" in refused.value.message
    state = await lan.call("OTA.GetBootState")
    assert state["revert_slot"] is None and state["fw_version"] == "0.1.0"
    assert light.boots == boots  # no reboot
