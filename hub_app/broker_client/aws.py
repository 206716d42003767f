"""AWS IoT Core backend: lights through their device shadows (X.509 client certificate, TLS).

Per light (thing name = `thing_name` option, default the device id) the hub subscribes to
`$aws/things/<thing>/shadow/get/accepted`, `get/rejected`, `update/rejected` and
`update/documents`, plus the light's `<prefix>/online` availability topic (retained + Last Will,
which AWS IoT supports). It never subscribes to `update/delta`: that is the light's business.

- After every (re)connect and subscription the hub publishes `get` for every light: deltas and
  reports missed while disconnected are read back in full (pain point 17).
- A command is an update of `desired` with a `clientToken`. Desired light fields are absolute
  values, so by default the update is a blind write without `version` (no lock needed). With
  `versioned_updates=True` (several controllers writing `desired`) it carries the version the
  hub last saw; a 409 ("Version conflict") then triggers a full `get` and a retry with the new
  version (at most `max_conflict_retries` times). Other rejections fail the command with
  `rejected` and the code. Documents older than the newest version seen are ignored.
- A `get` that gets no answer in `get_timeout` seconds is asked again (e.g. lost while the
  shadow service itself was reconnecting).
- Confirmation is never the `update/accepted` (that only says AWS stored the wish): the command
  returns when `update/documents` (or `get/accepted`) shows a `reported` state from the light
  that matches it with a newer `rev`.
- RPC pass-through uses `<prefix>/rpc` like the plain MQTT backend (the firmware keeps serving
  it in shadow mode); on real AWS this needs the policy to allow those topics.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

from hub_app.broker_client.base import CommandError, LightCommand, LightState, _Slot
from hub_app.broker_client.mqtt import MqttBackend, MqttConfig

_LOGGER = logging.getLogger(__name__)

SHADOW_KINDS = ("get/accepted", "get/rejected", "update/rejected", "update/documents")


@dataclass
class _Update:
    device_id: str
    token: object  # the pipeline's command token
    command: LightCommand
    conflicts: int = 0
    waiting_for_get: bool = False


class AwsShadowBackend(MqttBackend):
    """`MqttBackend` speaking device shadows. Use TLS with `cert_file`/`key_file`, port 8883."""

    def __init__(
        self,
        config: MqttConfig,
        *,
        command_timeout: float = 10.0,
        versioned_updates: bool = False,
        max_conflict_retries: int = 3,
        get_timeout: float = 5.0,
    ) -> None:
        super().__init__(config, command_timeout=command_timeout)
        self.versioned_updates = versioned_updates
        self.max_conflict_retries = max_conflict_retries
        self.get_timeout = get_timeout
        self._get_timers: dict[str, asyncio.TimerHandle] = {}
        self._versions: dict[str, int | None] = {}
        self._updates: dict[str, _Update] = {}
        self.conflicts_seen = 0

    @staticmethod
    def thing_name(slot: _Slot) -> str:
        return str(slot.options.get("thing_name") or slot.device_id)

    def _shadow(self, slot: _Slot, leaf: str) -> str:
        return f"$aws/things/{self.thing_name(slot)}/shadow/{leaf}"

    def _light_topic_map(self, slot: _Slot) -> dict[str, str]:
        topics = {self._shadow(slot, kind): kind for kind in SHADOW_KINDS}
        online = super()._light_topic_map(slot)
        topics.update({t: k for t, k in online.items() if k == "online"})
        return topics

    # --- after every connect: read every shadow in full ----------------------------------
    def _after_subscribed(self) -> None:
        for device_id in self.lights:
            self._request_get(self._slot(device_id))

    def _request_get(self, slot: _Slot) -> None:
        if not self._link_up:
            return
        body = json.dumps({"clientToken": f"{self.client_id}-get-{next(self._ids)}"})
        self._transport_publish(self._shadow(slot, "get"), body, 1)
        timer = self._get_timers.pop(slot.device_id, None)
        if timer is not None:
            timer.cancel()
        self._get_timers[slot.device_id] = asyncio.get_running_loop().call_later(
            self.get_timeout, self._get_timed_out, slot.device_id
        )

    def _get_timed_out(self, device_id: str) -> None:
        self._get_timers.pop(device_id, None)
        slot = self._slots.get(device_id)
        if slot is not None and self._link_up:
            _LOGGER.info("%s: shadow get unanswered, asking again", device_id)
            self._request_get(slot)

    def _got_answer(self, device_id: str) -> None:
        timer = self._get_timers.pop(device_id, None)
        if timer is not None:
            timer.cancel()

    def _fail_rpcs(self, why: str) -> None:
        super()._fail_rpcs(why)
        self._updates.clear()  # the pipeline re-sends after the reconnect
        for timer in self._get_timers.values():
            timer.cancel()
        self._get_timers.clear()

    # --- commands ---------------------------------------------------------------------------
    def _send_set(self, slot: _Slot, command: LightCommand, token: object) -> None:
        update = _Update(slot.device_id, token, command)
        self._publish_update(slot, update)

    def _publish_update(self, slot: _Slot, update: _Update) -> None:
        client_token = f"{self.client_id}-{next(self._ids)}"
        body: dict[str, Any] = {
            "state": {"desired": update.command.params()},
            "clientToken": client_token,
        }
        version = self._versions.get(slot.device_id)
        if self.versioned_updates and version is not None:
            body["version"] = version
        if not self._link_up:
            return  # the pipeline re-sends once connected
        self._updates[client_token] = update
        if not self._transport_publish(self._shadow(slot, "update"), json.dumps(body), 1):
            self._updates.pop(client_token, None)

    # --- shadow responses -------------------------------------------------------------------
    def _on_light_message(self, device_id: str, kind: str, payload: bytes) -> None:
        if kind not in SHADOW_KINDS:
            super()._on_light_message(device_id, kind, payload)
            return
        body = json.loads(payload)
        if not isinstance(body, dict):
            raise ValueError("shadow response is not an object")
        if kind == "update/documents":
            current = body["current"]
            self._take_document(device_id, current["state"], current["version"])
        elif kind == "get/accepted":
            self._got_answer(device_id)
            self._take_document(device_id, body["state"], body["version"], fresh=True)
            self._retry_waiting(device_id)
        elif kind == "get/rejected":
            self._got_answer(device_id)
            if body.get("code") == 404:  # no shadow yet: updates go without a version
                self._versions[device_id] = None
                self._retry_waiting(device_id)
        elif kind == "update/rejected":
            self._on_rejected(device_id, body)

    def _take_document(self, device_id: str, state: Any, version: Any, fresh: bool = False) -> None:
        if not isinstance(version, int) or isinstance(version, bool):
            raise ValueError("shadow version must be an integer")
        known = self._versions.get(device_id)
        if known is not None and version < known and not fresh:
            _LOGGER.debug("%s: ignoring shadow version %d < %d", device_id, version, known)
            return
        self._versions[device_id] = version
        if not isinstance(state, dict):
            raise ValueError("shadow state must be an object")
        reported = state.get("reported")
        if isinstance(reported, dict) and {"on", "brightness", "rgb"} <= reported.keys():
            self._report_state(device_id, LightState.from_json(reported))

    def _on_rejected(self, device_id: str, body: dict[str, Any]) -> None:
        client_token = body.get("clientToken")
        update = self._updates.pop(client_token, None) if isinstance(client_token, str) else None
        if update is None:
            return  # someone else's (e.g. the light's own report)
        code = body.get("code")
        message = str(body.get("message", ""))
        if code == 409 and update.conflicts < self.max_conflict_retries:
            self.conflicts_seen += 1
            update.conflicts += 1
            update.waiting_for_get = True
            self._updates[f"waiting-{device_id}-{id(update)}"] = update
            self._request_get(self._slot(device_id))
            return
        self._report_reply(
            device_id,
            update.token,
            None,
            CommandError(
                "rejected",
                message,
                code=code if isinstance(code, int) else None,
                device_id=device_id,
            ),
        )

    def _retry_waiting(self, device_id: str) -> None:
        for key, update in list(self._updates.items()):
            if update.device_id == device_id and update.waiting_for_get:
                del self._updates[key]
                update.waiting_for_get = False
                slot = self._slots.get(device_id)
                if slot is not None and slot.current is update.token:
                    self._publish_update(slot, update)
