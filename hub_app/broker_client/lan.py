"""Direct LAN backend: no broker; one `hub_app.device.DeviceClient` (WebSocket RPC) per light.

- Availability comes from the WebSocket: connected = online; lost (the client reconnects with
  its own capped backoff) = offline. After every (re)connect the hub reads `Light.GetStatus`, so
  changes made while the link was down are reconciled.
- State updates are the light's `NotifyStatus` notifications (`light:0`).
- Commands are `Light.Set` calls: the reply (the light's new status, with its `rev`) and the
  `NotifyStatus` that follows confirm them; an error reply fails the command with `rejected`.
- The backend's own connection status is always `connected` once started (there is no broker);
  per-light problems show as availability.

Options of `add_light(device_id, host=..., port=80, password=...)`: where the light listens and
its LAN secret (`hub.secret`, from the keyring).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

import aiohttp

from hub_app.broker_client.base import (
    Availability,
    Backend,
    CommandError,
    ConnectionKind,
    ConnectionState,
    LightCommand,
    LightState,
    RpcError,
    _Slot,
)
from hub_app.device import (
    AuthError,
    DeviceClient,
    DeviceConnectionError,
    DeviceError,
    DeviceTimeoutError,
    Notification,
)
from hub_app.device import ConnectionEvent as DeviceConnectionEvent
from hub_app.device import ConnectionState as DeviceConnectionState
from hub_app.device import RpcError as DeviceRpcError

_LOGGER = logging.getLogger(__name__)

ClientFactory = Callable[[aiohttp.ClientSession, str, int, str | None], DeviceClient]


class _Link:
    def __init__(self, client: DeviceClient) -> None:
        self.client = client
        self.unsubscribes: list[Callable[[], None]] = []


class LanBackend(Backend):
    """Lights reached directly over HTTP/WebSocket on the LAN. `session` is owned by the caller."""

    def __init__(self, session: aiohttp.ClientSession, *, command_timeout: float = 10.0) -> None:
        super().__init__(command_timeout=command_timeout)
        self._session = session
        self._links: dict[str, _Link] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._running = False

    def __repr__(self) -> str:
        return f"LanBackend({len(self._links)} lights, {self.connection.kind})"

    # --- lifecycle ----------------------------------------------------------------------
    async def _connect(self) -> None:
        self._running = True
        self._set_connection(ConnectionState(ConnectionKind.CONNECTED))
        for slot in self._slots.values():
            if slot.device_id not in self._links:
                self._open(slot)

    async def _disconnect(self) -> None:
        self._running = False
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        links, self._links = self._links, {}
        for link in links.values():
            await self._close_link(link)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- lights -------------------------------------------------------------------------
    def _watch_light(self, slot: _Slot) -> None:
        if "host" not in slot.options:
            raise ValueError("the LAN backend needs add_light(device_id, host=..., port=...)")
        if self._running:
            self._open(slot)

    def _unwatch_light(self, slot: _Slot) -> None:
        link = self._links.pop(slot.device_id, None)
        if link is not None:
            self._spawn(self._close_link(link))

    def _open(self, slot: _Slot) -> None:
        options = slot.options
        client = DeviceClient(
            self._session,
            str(options["host"]),
            int(options.get("port", 80)),
            password=options.get("password"),
            timeout=self.command_timeout,
        )
        link = _Link(client)
        device_id = slot.device_id
        link.unsubscribes.append(client.subscribe(lambda n: self._on_notification(device_id, n)))
        link.unsubscribes.append(
            client.subscribe_connection(lambda e: self._on_ws_event(device_id, e))
        )
        self._links[device_id] = link
        self._spawn(self._first_connect(device_id, link))

    async def _close_link(self, link: _Link) -> None:
        for unsubscribe in link.unsubscribes:
            unsubscribe()
        with contextlib.suppress(Exception):
            await link.client.close()

    async def _first_connect(self, device_id: str, link: _Link) -> None:
        try:
            await link.client.connect_ws()
        except DeviceError as err:
            # The client keeps retrying in the background only once it has been connected;
            # before that, retry here with the client's own pacing.
            _LOGGER.info("%s: not reachable yet (%s)", device_id, err)
            self._report_availability(device_id, Availability.OFFLINE)
            await asyncio.sleep(1.0)
            if self._links.get(device_id) is link and self._running:
                self._spawn(self._first_connect(device_id, link))

    def _on_ws_event(self, device_id: str, event: DeviceConnectionEvent) -> None:
        if event.state is DeviceConnectionState.CONNECTED:
            self._report_availability(device_id, Availability.ONLINE)
            self._spawn(self._refresh(device_id))
        else:
            self._report_availability(device_id, Availability.OFFLINE)

    async def _refresh(self, device_id: str) -> None:
        """Read the whole status (after every (re)connect: reconcile)."""
        link = self._links.get(device_id)
        if link is None:
            return
        try:
            status = await link.client.call("Light.GetStatus", {})
            self._report_state(device_id, LightState.from_json(status))
        except (DeviceError, ValueError) as err:
            _LOGGER.warning("%s: reading the status failed: %s", device_id, err)

    def _on_notification(self, device_id: str, notification: Notification) -> None:
        if notification.method != "NotifyStatus":
            return
        status = notification.params.get("light:0")
        if status is None:
            return
        try:
            state = LightState.from_json(status)
        except ValueError:
            # A partial component status: read the whole one.
            self._spawn(self._refresh(device_id))
            return
        self._report_state(device_id, state)

    # --- commands -----------------------------------------------------------------------
    def _send_set(self, slot: _Slot, command: LightCommand, token: object) -> None:
        link = self._links.get(slot.device_id)
        if link is None:
            return  # not opened yet: the light shows offline/unknown; the pipeline decides
        self._spawn(self._set(slot.device_id, link, command, token))

    async def _set(self, device_id: str, link: _Link, command: LightCommand, token: object) -> None:
        try:
            result = await link.client.call("Light.Set", command.params())
        except DeviceRpcError as err:
            self._report_reply(
                device_id,
                token,
                None,
                CommandError("rejected", err.message, code=err.code, device_id=device_id),
            )
            return
        except AuthError as err:
            self._report_reply(
                device_id,
                token,
                None,
                CommandError("rejected", str(err), code=401, device_id=device_id),
            )
            return
        except (DeviceConnectionError, DeviceTimeoutError) as err:
            _LOGGER.info("%s: Light.Set did not get through: %s", device_id, err)
            return  # availability / the deadline decide; a reconnect re-sends
        except DeviceError as err:
            _LOGGER.warning("%s: Light.Set failed: %s", device_id, err)
            return
        try:
            state = LightState.from_json(result)
        except ValueError:
            _LOGGER.warning("%s: Light.Set result is not a light status", device_id)
            return
        self._report_reply(device_id, token, state.rev, None)
        self._report_state(device_id, state)

    async def rpc(
        self,
        device_id: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        self._slot(device_id)
        link = self._links.get(device_id)
        if link is None:
            raise CommandError("disconnected", "backend not started", device_id=device_id)
        try:
            return await link.client.call(method, dict(params or {}), timeout=timeout)
        except DeviceRpcError as err:
            raise RpcError(err.code, err.message) from None
        except AuthError as err:
            raise RpcError(401, str(err)) from None
        except DeviceTimeoutError:
            raise CommandError("timeout", method, device_id=device_id) from None
        except DeviceError as err:
            raise CommandError("offline", str(err), device_id=device_id) from None
