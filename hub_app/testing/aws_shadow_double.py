"""A TEST DOUBLE of the AWS IoT Device Shadow service, on an ordinary MQTT broker.

AWS IoT cannot be reached from the test machines, so this small service stands in for it: it
connects to a broker (a Mosquitto started by the test fixtures) and answers the classic
(unnamed) shadow topics the way the AWS documentation describes them:

- `$aws/things/<thing>/shadow/get` -> `get/accepted` (the whole document, with `delta`) or
  `get/rejected` (404 when there is no shadow);
- `.../update` with `{"state": {"desired"?, "reported"?}, "version"?, "clientToken"?}` ->
  `update/accepted`, `update/documents` (`previous` / `current`) and, when the update set
  `desired` and desired != reported, `update/delta`; or `update/rejected` with code 400
  (malformed), 409 (`version` given and not the current one: "Version conflict") or 413
  (document over 8 KB);
- `.../delete` -> `delete/accepted` / `delete/rejected`.
`null` values delete keys, arrays are replaced, `version` increases by one per accepted update,
`clientToken` is echoed in every response. Not modelled: metadata timestamps per field (an
empty `metadata`), named shadows, persistence, authorisation policies.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import time
from typing import Any

from hub_app.broker_client.mqtt_codec import Publish
from hub_app.testing.mqtt_light import AsyncMqttClient

_LOGGER = logging.getLogger(__name__)

MAX_DOCUMENT = 8 * 1024
PREFIX = "$aws/things/"


def _merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge(target[key], value)
            if not target[key]:
                del target[key]
        elif isinstance(value, dict):
            target[key] = {}
            _merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _delta(desired: dict[str, Any], reported: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in desired.items():
        if isinstance(value, dict) and isinstance(reported.get(key), dict):
            sub = _delta(value, reported[key])
            if sub:
                out[key] = sub
        elif reported.get(key) != value:
            out[key] = copy.deepcopy(value)
    return out


class ShadowDouble:
    """`await ShadowDouble(host, port, ...).start()`; `documents[thing]` holds the shadows."""

    def __init__(self, host: str, port: int, **client_options: Any) -> None:
        self.documents: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, bytes]] = []  # every request seen (topic, payload)
        self._keeper: asyncio.Task[None] | None = None
        self.client = AsyncMqttClient(
            host, port, "aws-shadow-double", on_message=self._on_message, **client_options
        )

    def __repr__(self) -> str:
        return f"ShadowDouble({len(self.documents)} shadows)"

    async def start(self) -> ShadowDouble:
        await self._session()
        self._keeper = asyncio.create_task(self._keep_connected())
        return self

    async def _session(self) -> None:
        await self.client.connect()
        codes = await self.client.subscribe(
            [
                (PREFIX + "+/shadow/get", 1),
                (PREFIX + "+/shadow/update", 1),
                (PREFIX + "+/shadow/delete", 1),
            ]
        )
        if any(code == 0x80 for code in codes):
            raise RuntimeError("the broker refused the shadow double's subscriptions")

    async def _keep_connected(self) -> None:
        """Like the real service, the double survives a broker restart (reconnects)."""
        while True:
            await self.client.closed.wait()
            while True:
                await asyncio.sleep(0.2)
                try:
                    await self._session()
                    break
                except (OSError, TimeoutError):
                    continue

    async def stop(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper
        await self.client.disconnect()

    def update_from_elsewhere(
        self, thing: str, state: dict[str, Any], silent: bool = False
    ) -> None:
        """Change a shadow as another AWS client would (bumps the version). `silent`: publish
        no responses, as if the hub had missed them (so its next update has a stale version)."""
        if silent:
            document = self.documents.setdefault(thing, {"state": {}, "version": 0})
            for section, values in state.items():
                _merge(document["state"].setdefault(section, {}), values)
            document["version"] += 1
            return
        self._apply(thing, {"state": state}, None)

    # --- requests -----------------------------------------------------------------------
    def _on_message(self, message: Publish) -> None:
        self.requests.append((message.topic, message.payload))
        parts = message.topic.split("/")
        if len(parts) != 5 or parts[0] != "$aws" or parts[1] != "things" or parts[3] != "shadow":
            return
        thing, operation = parts[2], parts[4]
        try:
            request = json.loads(message.payload) if message.payload else {}
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except ValueError:
            self._reject(thing, operation, None, 400, "Payload contains invalid json")
            return
        token = request.get("clientToken")
        if operation == "get":
            self._get(thing, token)
        elif operation == "update":
            self._update(thing, request, token, len(message.payload))
        elif operation == "delete":
            if self.documents.pop(thing, None) is None:
                self._reject(thing, operation, token, 404, f"No shadow exists with name: '{thing}'")
            else:
                self._publish(
                    thing,
                    "delete/accepted",
                    {
                        "version": 0,
                        "timestamp": int(time.time()),
                        **({"clientToken": token} if token else {}),
                    },
                )

    def _get(self, thing: str, token: Any) -> None:
        document = self.documents.get(thing)
        if document is None:
            self._reject(thing, "get", token, 404, f"No shadow exists with name: '{thing}'")
            return
        state = copy.deepcopy(document["state"])
        delta = _delta(state.get("desired", {}), state.get("reported", {}))
        if delta:
            state["delta"] = delta
        body: dict[str, Any] = {
            "state": state,
            "metadata": {},
            "version": document["version"],
            "timestamp": int(time.time()),
        }
        if token is not None:
            body["clientToken"] = token
        self._publish(thing, "get/accepted", body)

    def _update(self, thing: str, request: dict[str, Any], token: Any, size: int) -> None:
        state = request.get("state")
        if (
            not isinstance(state, dict)
            or not state.keys() <= {"desired", "reported"}
            or not all(value is None or isinstance(value, dict) for value in state.values())
        ):
            self._reject(thing, "update", token, 400, "Invalid JSON: state must be an object")
            return
        if size > MAX_DOCUMENT:
            self._reject(thing, "update", token, 413, "The payload exceeds the maximum size")
            return
        version = request.get("version")
        current = self.documents.get(thing)
        if version is not None and (current is None or version != current["version"]):
            self._reject(thing, "update", token, 409, "Version conflict")
            return
        self._apply(thing, request, token)

    def _apply(self, thing: str, request: dict[str, Any], token: Any) -> None:
        state = request["state"]
        previous = copy.deepcopy(self.documents.get(thing))
        document = self.documents.setdefault(thing, {"state": {}, "version": 0})
        for section in ("desired", "reported"):
            if section in state:
                if state[section] is None:
                    document["state"].pop(section, None)
                else:
                    _merge(document["state"].setdefault(section, {}), state[section])
        document["version"] += 1
        now = int(time.time())
        extra = {"clientToken": token} if token is not None else {}
        self._publish(
            thing,
            "update/accepted",
            {
                "state": state,
                "metadata": {},
                "version": document["version"],
                "timestamp": now,
                **extra,
            },
        )
        self._publish(
            thing,
            "update/documents",
            {"previous": previous, "current": copy.deepcopy(document), "timestamp": now, **extra},
        )
        if state.get("desired"):
            delta = _delta(
                document["state"].get("desired", {}), document["state"].get("reported", {})
            )
            if delta:
                self._publish(
                    thing,
                    "update/delta",
                    {
                        "state": delta,
                        "metadata": {},
                        "version": document["version"],
                        "timestamp": now,
                        **extra,
                    },
                )

    def _reject(self, thing: str, operation: str, token: Any, code: int, message: str) -> None:
        body: dict[str, Any] = {"code": code, "message": message, "timestamp": int(time.time())}
        if token is not None:
            body["clientToken"] = token
        self._publish(thing, operation + "/rejected", body)

    def _publish(self, thing: str, leaf: str, body: dict[str, Any]) -> None:
        try:
            self.client.publish_nowait(f"{PREFIX}{thing}/shadow/{leaf}", json.dumps(body), qos=1)
        except ConnectionError:
            _LOGGER.warning("shadow double: not connected, %s response lost", leaf)
