"""Scenario helpers for tests: set up a simulated light in one call, wait for a condition.

No pytest import here: the fixtures that use these live in `hub_app.testing.plugin`.

    light = (await sim_lights(1))[0]
    await provision(light, embedded_broker)           # AP -> Wi-Fi -> paired -> on the broker
    state = await embedded_broker.set_light(light.device_id, on=True)
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from hublight_sim.runner import SimLight
from yarl import URL

from hub_app.broker_client.base import Availability, Backend
from hub_app.broker_client.embedded import EmbeddedBackend
from hub_app.device import DeviceClient
from hub_app.testing.mosquitto import MosquittoBroker

__all__ = [
    "HOME_PASSWORD",
    "HOME_SSID",
    "ProvisionedLight",
    "provision",
    "wait_until",
]

#: the normal home network of the simulator's default Wi-Fi world
HOME_SSID = "HomeNet"
HOME_PASSWORD = "correct horse battery"

#: generous: CI machines are small and shared
DEFAULT_TIMEOUT_S = 60.0

Broker = EmbeddedBackend | MosquittoBroker


@dataclass
class ProvisionedLight:
    """A light that `provision()` set up: on the home network, paired and confirmed."""

    light: SimLight
    lan_host: str
    lan_port: int
    lan_secret: str = field(repr=False)
    mqtt_config: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def device_id(self) -> str:
        """`hublight-xxxxxx`."""
        return self.light.device_id

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One RPC call over the LAN with the light's secret (a fresh HTTP session each time)."""
        async with aiohttp.ClientSession() as session:
            client = DeviceClient(
                session, self.lan_host, self.lan_port, password=self.lan_secret, transport="http"
            )
            try:
                return await client.call(method, params)
            finally:
                await client.close()


def _host_port(url: str) -> tuple[str, int]:
    """`http://127.2.1.1:4567/rpc` -> ("127.2.1.1", 4567)."""
    parsed = URL(url)
    assert parsed.host is not None and parsed.port is not None, url
    return parsed.host, parsed.port


async def _mqtt_config_for(light: SimLight, broker: Broker | None) -> dict[str, Any]:
    """The light's `mqtt` config subtree for this broker ({} without a broker)."""
    if broker is None:
        return {}
    if isinstance(broker, EmbeddedBackend):
        flat = await broker.pair_light(light.device_id)
        return {key.split(".", 1)[1]: value for key, value in flat.items()}
    if broker.users:
        raise ValueError("provision() supports anonymous Mosquitto brokers only")
    if broker.tls is not None:
        raise ValueError("provision() supports plain (non-TLS) Mosquitto brokers only")
    return {"enable": True, "server": f"{broker.host}:{broker.port}"}


async def provision(
    light: SimLight,
    broker: Broker | None = None,
    *,
    ssid: str = HOME_SSID,
    password: str = HOME_PASSWORD,
    lan_secret: str | None = None,
    backend: Backend | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
) -> ProvisionedLight:
    """Set up a simulated light the way the hub does, over its real RPC servers.

    On its access point (password = setup code): Wi-Fi credentials and, with a `broker`, the MQTT
    settings; the light reboots and joins `ssid`. On the LAN: the hub secret, then
    `Setup.Confirm`. With an `EmbeddedBackend` the light gets its own broker account
    (`pair_light`) and the call returns once the backend sees it online; with a `MosquittoBroker`
    pass the `backend` watching that broker to wait for the same (it gets `add_light`).
    A wrong `password` raises AssertionError with the light's failure reason.
    """
    async with asyncio.timeout(timeout_s):
        await light.wait_event("ap_started", include_past=True, timeout_s=timeout_s)
        ap_url = light.ap_url
        if ap_url is None:
            raise AssertionError(f"{light.device_id} has no access point (already set up?)")
        mqtt = await _mqtt_config_for(light, broker)
        watcher = backend if backend is not None else broker
        if isinstance(watcher, Backend):
            watcher.add_light(light.device_id)
        config: dict[str, Any] = {
            "wifi": {"sta": {"enable": True, "ssid": ssid, "pass": password}},
        }
        if mqtt:
            config["mqtt"] = mqtt
        boots = light.boots
        joined = asyncio.create_task(
            light.wait_event("lan_joined", timeout_s=timeout_s),
            name=f"{light.device_id}-lan_joined",
        )
        failed = asyncio.create_task(
            light.wait_event(
                "lan_failed", lambda _fields: light.boots > boots, timeout_s=timeout_s
            ),
            name=f"{light.device_id}-lan_failed",
        )
        try:
            async with aiohttp.ClientSession() as session:
                host, port = _host_port(ap_url)
                ap = DeviceClient(session, host, port, password=light.setup_code, transport="http")
                try:
                    await ap.config_set(config, save=True)
                    await ap.config_save(reboot=True)
                finally:
                    await ap.close()
            done, _pending = await asyncio.wait(
                {joined, failed}, return_when=asyncio.FIRST_COMPLETED
            )
            if failed in done and joined not in done:
                reason = failed.result().get("reason")
                raise AssertionError(f"{light.device_id} could not join {ssid!r}: {reason}")
            lan_url = joined.result().get("lan_rpc_url") or light.lan_url
        finally:
            for task in (joined, failed):
                task.cancel()
        assert isinstance(lan_url, str), "lan_joined without a LAN URL"
        lan_host, lan_port = _host_port(lan_url)
        secret = lan_secret or secrets.token_urlsafe(18)
        async with aiohttp.ClientSession() as session:
            lan = DeviceClient(
                session, lan_host, lan_port, password=light.setup_code, transport="http"
            )
            try:
                await lan.config_set({"hub": {"secret": secret}}, save=True)
                lan.set_password(secret)
                await lan.call("Setup.Confirm", {})
            finally:
                await lan.close()
        if isinstance(watcher, Backend):
            await wait_until(
                lambda: watcher.availability(light.device_id) is Availability.ONLINE,
                timeout_s=timeout_s,
                what=f"{light.device_id} online on the broker",
            )
    return ProvisionedLight(light, lan_host, lan_port, secret, mqtt)


def _process_qt_events() -> None:
    """Let Qt handle its pending events when a QApplication exists (never imports Qt)."""
    widgets = sys.modules.get("PySide6.QtWidgets")
    if widgets is not None and widgets.QApplication.instance() is not None:
        widgets.QApplication.processEvents()


async def wait_until(
    predicate: Callable[[], object], *, timeout_s: float = DEFAULT_TIMEOUT_S, what: str = ""
) -> None:
    """Poll `predicate` (every 20 ms, letting asyncio and Qt run) until it is true;
    AssertionError after `timeout_s`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what or predicate}")
        _process_qt_events()
        await asyncio.sleep(0.02)
