"""What every backend gives the rest of the app: connection status, light twins, confirmed commands.

A backend (embedded broker, external MQTT, AWS IoT shadow, direct LAN) implements the transport:
how a `Light.Set` reaches a light and how the light's reports come back. Everything else lives
here and is shared: the twin of each light (desired and reported state, the time each field was
last confirmed), availability, event subscriptions, and the command pipeline.

Commands are never optimistic. `set_light()` returns the light's status only once the light has
reported a state that confirms it (the reported `rev` reached the one the light answered with, or
the reported fields match with a newer `rev`), and otherwise raises `CommandError` with a reason.
At most one command per light is on the wire; commands arriving meanwhile are merged (later
fields win) into one queued command, and every merged caller gets the final confirmed status.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import enum
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

_LOGGER = logging.getLogger(__name__)

Unsubscribe = Callable[[], None]

DEFAULT_COMMAND_TIMEOUT = 10.0
LIGHT_FIELDS = ("on", "brightness", "rgb")


# --- errors ---------------------------------------------------------------------------------
class BackendError(Exception):
    """Base of every error a caller is expected to handle (anything else is a bug)."""


class CommandError(BackendError):
    """A command was not confirmed by the light.

    `reason` is one of `offline` (the light is offline), `timeout` (no confirmation in time),
    `rejected` (the light refused it; `code` and `message` say why) and `disconnected` (the
    backend had no connection to the broker/light for the whole time left).
    """

    REASONS = ("offline", "timeout", "rejected", "disconnected")

    def __init__(
        self, reason: str, message: str = "", *, code: int | None = None, device_id: str = ""
    ) -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown CommandError reason: {reason!r}")
        self.reason = reason
        self.code = code
        self.message = message
        self.device_id = device_id
        text = f"{device_id}: {reason}" if device_id else reason
        super().__init__(f"{text} ({message})" if message else text)


class RpcError(BackendError):
    """The light answered an RPC with an error frame (`code` as in protocol.md)."""

    def __init__(self, code: int, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"RPC error {code}: {message}")


class RpcNotSupported(BackendError):
    """This backend cannot pass RPC calls through to the light (e.g. AWS shadow mode)."""


class ConfigurationError(BackendError):
    """The backend configuration is unusable (bad TLS files, bad address...)."""


class UnknownLight(LookupError):
    """A device id that was never added with `add_light()` (a bug in the caller)."""


# --- value types ----------------------------------------------------------------------------
class ConnectionKind(enum.StrEnum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True)
class ConnectionState:
    """The backend's link to its broker (or, for the LAN backend, its own readiness)."""

    kind: ConnectionKind
    reason: str | None = None


class Availability(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class LightState:
    """The light status of protocol.md (`Light.GetStatus`, the MQTT state topic)."""

    on: bool
    brightness: int
    rgb: tuple[int, int, int]
    transition_ms: int = 0
    rev: int = 0
    source: str = ""

    @classmethod
    def from_json(cls, data: Any) -> LightState:
        """Parse and validate a status object; raises ValueError on anything malformed."""
        if not isinstance(data, Mapping):
            raise ValueError("light status must be an object")
        on = data.get("on")
        brightness = data.get("brightness")
        rgb = data.get("rgb")
        rev = data.get("rev", 0)
        transition = data.get("transition_ms", 0)
        source = data.get("source", "")
        if not isinstance(on, bool):
            raise ValueError("on: must be a boolean")
        if not _is_int(brightness) or not 0 <= brightness <= 100:
            raise ValueError("brightness: must be an integer 0..100")
        if (
            not isinstance(rgb, list | tuple)
            or len(rgb) != 3
            or not all(_is_int(c) and 0 <= c <= 255 for c in rgb)
        ):
            raise ValueError("rgb: must be three integers 0..255")
        if not _is_int(rev) or rev < 0:
            raise ValueError("rev: must be a non-negative integer")
        if not _is_int(transition) or transition < 0:
            raise ValueError("transition_ms: must be a non-negative integer")
        if not isinstance(source, str):
            raise ValueError("source: must be a string")
        return cls(on, brightness, (rgb[0], rgb[1], rgb[2]), transition, rev, source)

    def to_json(self) -> dict[str, Any]:
        return {
            "on": self.on,
            "brightness": self.brightness,
            "rgb": list(self.rgb),
            "transition_ms": self.transition_ms,
            "rev": self.rev,
            "source": self.source,
        }

    def fields(self) -> dict[str, Any]:
        return {"on": self.on, "brightness": self.brightness, "rgb": self.rgb}


def _is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class LightCommand:
    """The fields of one `Light.Set` (None = leave unchanged)."""

    on: bool | None = None
    brightness: int | None = None
    rgb: tuple[int, int, int] | None = None
    transition_ms: int | None = None

    def __post_init__(self) -> None:
        if self.on is None and self.brightness is None and self.rgb is None:
            raise ValueError("a light command needs at least one of on, brightness, rgb")
        if self.on is not None and not isinstance(self.on, bool):
            raise ValueError("on: must be a boolean")
        if self.brightness is not None and (
            not _is_int(self.brightness) or not 0 <= self.brightness <= 100
        ):
            raise ValueError("brightness: must be an integer 0..100")
        if self.rgb is not None and (
            len(self.rgb) != 3 or not all(_is_int(c) and 0 <= c <= 255 for c in self.rgb)
        ):
            raise ValueError("rgb: must be three integers 0..255")
        if self.transition_ms is not None and (
            not _is_int(self.transition_ms) or not 0 <= self.transition_ms <= 60000
        ):
            raise ValueError("transition_ms: must be an integer 0..60000")

    def merged(self, newer: LightCommand) -> LightCommand:
        """This command with the fields `newer` sets replaced (latest wins)."""
        return LightCommand(
            on=self.on if newer.on is None else newer.on,
            brightness=self.brightness if newer.brightness is None else newer.brightness,
            rgb=self.rgb if newer.rgb is None else newer.rgb,
            transition_ms=self.transition_ms
            if newer.transition_ms is None
            else newer.transition_ms,
        )

    def params(self) -> dict[str, Any]:
        """`Light.Set` params (also the shadow's desired light fields)."""
        out: dict[str, Any] = {}
        if self.on is not None:
            out["on"] = self.on
        if self.brightness is not None:
            out["brightness"] = self.brightness
        if self.rgb is not None:
            out["rgb"] = list(self.rgb)
        if self.transition_ms is not None:
            out["transition_ms"] = self.transition_ms
        return out

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.on is not None:
            out["on"] = self.on
        if self.brightness is not None:
            out["brightness"] = self.brightness
        if self.rgb is not None:
            out["rgb"] = self.rgb
        return out

    def matches(self, state: LightState) -> bool:
        """True if `state` shows every field this command sets."""
        current = state.fields()
        return all(current[name] == value for name, value in self.fields().items())


@dataclass(frozen=True)
class LightTwin:
    """Desired and reported state of one light.

    `desired` holds the fields the hub asked for (absent: never asked); `reported` is the last
    state the light reported (None: nothing known yet); `confirmed_at[field]` is the wall-clock
    time (time.time()) at which the light last reported that field. `pending` is true while a
    desired field differs from the reported one.
    """

    device_id: str
    availability: Availability = Availability.UNKNOWN
    desired: Mapping[str, Any] = field(default_factory=dict)
    reported: LightState | None = None
    confirmed_at: Mapping[str, float] = field(default_factory=dict)

    @property
    def pending(self) -> bool:
        if not self.desired:
            return False
        if self.reported is None:
            return True
        current = self.reported.fields()
        return any(current.get(name) != value for name, value in self.desired.items())


class LightEventKind(enum.StrEnum):
    STATE = "state"  # a new reported state
    AVAILABILITY = "availability"  # online / offline / unknown changed
    DESIRED = "desired"  # the hub asked for something (pending may have changed)


@dataclass(frozen=True)
class LightEvent:
    device_id: str
    kind: LightEventKind
    twin: LightTwin


LightCallback = Callable[[LightEvent], None]
ConnectionCallback = Callable[[ConnectionState], None]


# --- the command pipeline -------------------------------------------------------------------
class _Command:
    """One command on the wire (or queued), shared by every caller merged into it."""

    def __init__(self, command: LightCommand, future: asyncio.Future[LightState]) -> None:
        self.command = command
        self.future = future
        self.base_rev = -1  # the reported rev when it was last sent
        self.min_rev: int | None = None  # the rev the light answered with
        self.error: CommandError | None = None  # the light refused it
        self.sent_key: tuple[int, int] | None = None  # (connection epoch, online generation)
        self.attempts = 0


class _Slot:
    """Per-light bookkeeping."""

    def __init__(self, device_id: str, options: Mapping[str, Any]) -> None:
        self.device_id = device_id
        self.options = dict(options)
        self.twin = LightTwin(device_id)
        self.current: _Command | None = None
        self.queued: _Command | None = None
        self.runner: asyncio.Task[None] | None = None
        self.wake = asyncio.Event()
        self.online_generation = 0  # increases every time the light comes (back) online
        self.fresh_start = True  # the next report may carry a lower rev (reboot, power cut)


class Backend(abc.ABC):
    """The common interface. Subclasses implement `_connect`, `_disconnect`, `_send_set`,
    `_watch_light`, `_unwatch_light` and optionally `rpc`, and feed reports in with
    `_report_state`, `_report_availability`, `_report_reply` and `_set_connection`.
    """

    command_timeout: float = DEFAULT_COMMAND_TIMEOUT

    def __init__(self, *, command_timeout: float = DEFAULT_COMMAND_TIMEOUT) -> None:
        self.command_timeout = command_timeout
        self._slots: dict[str, _Slot] = {}
        self._light_callbacks: dict[int, tuple[str | None, LightCallback]] = {}
        self._connection_callbacks: dict[int, ConnectionCallback] = {}
        self._next_callback_id = 0
        self._connection = ConnectionState(ConnectionKind.DISCONNECTED, "not started")
        self._epoch = 0  # increases on every (re)connect
        self._started = False
        self._closed = False

    # --- lifecycle ---------------------------------------------------------------------
    async def start(self) -> None:
        """Start connecting (returns once the first attempt is under way or done)."""
        if self._started:
            return
        self._started = True
        self._set_connection(ConnectionState(ConnectionKind.CONNECTING))
        try:
            await self._connect()
        except BaseException as err:
            self._started = False
            self._set_connection(ConnectionState(ConnectionKind.DISCONNECTED, str(err)))
            raise

    async def close(self) -> None:
        """Stop everything; commands still waiting fail with `disconnected`."""
        if self._closed:
            return
        self._closed = True
        for slot in self._slots.values():
            self._fail_slot(
                slot, CommandError("disconnected", "backend closed", device_id=slot.device_id)
            )
            if slot.runner is not None:
                slot.runner.cancel()
        runners = [s.runner for s in self._slots.values() if s.runner is not None]
        for runner in runners:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await runner
        await self._disconnect()
        self._set_connection(ConnectionState(ConnectionKind.DISCONNECTED, "closed"))

    async def __aenter__(self) -> Backend:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def wait_connected(self, timeout: float | None = None) -> None:  # noqa: ASYNC109
        """Wait until the backend is connected (TimeoutError otherwise)."""
        if self._connection.kind is ConnectionKind.CONNECTED:
            return
        event = asyncio.Event()

        def check(state: ConnectionState) -> None:
            if state.kind is ConnectionKind.CONNECTED:
                event.set()

        unsubscribe = self.subscribe_connection(check)
        try:
            async with asyncio.timeout(timeout):
                await event.wait()
        finally:
            unsubscribe()

    # --- connection status -------------------------------------------------------------
    @property
    def connection(self) -> ConnectionState:
        return self._connection

    def subscribe_connection(self, callback: ConnectionCallback) -> Unsubscribe:
        """Call `callback(ConnectionState)` on every change; returns the unsubscribe function."""
        key = self._new_callback_id()
        self._connection_callbacks[key] = callback
        return lambda: self._connection_callbacks.pop(key, None) and None

    def _set_connection(self, state: ConnectionState) -> None:
        if state == self._connection:
            return
        if (
            state.kind is ConnectionKind.CONNECTED
            and self._connection.kind is not ConnectionKind.CONNECTED
        ):
            self._epoch += 1
        self._connection = state
        _LOGGER.info(
            "%s: %s%s",
            type(self).__name__,
            state.kind,
            f" ({state.reason})" if state.reason else "",
        )
        for callback in list(self._connection_callbacks.values()):
            try:
                callback(state)
            except Exception:
                _LOGGER.exception("connection callback failed")
        for slot in self._slots.values():
            slot.wake.set()

    # --- lights ------------------------------------------------------------------------
    def add_light(self, device_id: str, **options: Any) -> None:
        """Start following a light (options are backend specific, e.g. `topic_prefix`)."""
        if not device_id or not isinstance(device_id, str):
            raise ValueError("device_id must be a non-empty string")
        if device_id in self._slots:
            return
        slot = _Slot(device_id, options)
        self._slots[device_id] = slot
        self._watch_light(slot)

    def remove_light(self, device_id: str) -> None:
        slot = self._slots.pop(device_id, None)
        if slot is None:
            return
        self._fail_slot(slot, CommandError("disconnected", "light removed", device_id=device_id))
        if slot.runner is not None:
            slot.runner.cancel()
        self._unwatch_light(slot)

    @property
    def lights(self) -> list[str]:
        return list(self._slots)

    def twin(self, device_id: str) -> LightTwin:
        return self._slot(device_id).twin

    def availability(self, device_id: str) -> Availability:
        return self._slot(device_id).twin.availability

    def subscribe_light(self, callback: LightCallback, device_id: str | None = None) -> Unsubscribe:
        """Call `callback(LightEvent)` for every change of one light (or all lights)."""
        key = self._new_callback_id()
        self._light_callbacks[key] = (device_id, callback)
        return lambda: self._light_callbacks.pop(key, None) and None

    def _slot(self, device_id: str) -> _Slot:
        try:
            return self._slots[device_id]
        except KeyError:
            raise UnknownLight(device_id) from None

    def _new_callback_id(self) -> int:
        self._next_callback_id += 1
        return self._next_callback_id

    def _emit(self, slot: _Slot, kind: LightEventKind) -> None:
        event = LightEvent(slot.device_id, kind, slot.twin)
        for wanted, callback in list(self._light_callbacks.values()):
            if wanted is None or wanted == slot.device_id:
                try:
                    callback(event)
                except Exception:
                    _LOGGER.exception("light callback failed")

    # --- reports from the transport ----------------------------------------------------
    def _report_state(self, device_id: str, state: LightState) -> None:
        slot = self._slots.get(device_id)
        if slot is None:
            return
        previous = slot.twin.reported
        fresh_start, slot.fresh_start = slot.fresh_start, False
        if previous is not None and state.rev < previous.rev and not fresh_start:
            # An older report (e.g. a retained message re-read after a newer live one).
            _LOGGER.debug(
                "%s: ignoring stale state rev %d < %d", device_id, state.rev, previous.rev
            )
            return
        now = time.time()
        confirmed = dict(slot.twin.confirmed_at)
        for name in LIGHT_FIELDS:
            confirmed[name] = now
        slot.twin = replace(slot.twin, reported=state, confirmed_at=confirmed)
        self._check_current(slot)
        slot.wake.set()
        self._emit(slot, LightEventKind.STATE)

    def _report_availability(self, device_id: str, availability: Availability) -> None:
        slot = self._slots.get(device_id)
        if slot is None or slot.twin.availability is availability:
            return
        slot.twin = replace(slot.twin, availability=availability)
        if availability is Availability.ONLINE:
            slot.online_generation += 1
            # A light that lost power may have lost its last `rev` increments too: its first
            # report after coming back is believed even if its rev went backwards.
            slot.fresh_start = True
        slot.wake.set()
        self._emit(slot, LightEventKind.AVAILABILITY)

    def _report_reply(
        self, device_id: str, command: object, rev: int | None, error: CommandError | None
    ) -> None:
        """The light answered the `Light.Set` sent as `command` (the token `_send_set` got)."""
        slot = self._slots.get(device_id)
        current = slot.current if slot is not None else None
        if slot is None or current is None or current is not command:
            return
        if error is not None:
            current.error = error
        elif rev is not None:
            current.min_rev = rev if current.min_rev is None else max(current.min_rev, rev)
        self._check_current(slot)
        slot.wake.set()

    def _check_current(self, slot: _Slot) -> None:
        """Resolve the command on the wire if the reported state confirms it."""
        current = slot.current
        reported = slot.twin.reported
        if current is None or current.future.done() or reported is None or current.attempts == 0:
            return
        confirmed = (current.min_rev is not None and reported.rev >= current.min_rev) or (
            reported.rev > current.base_rev and current.command.matches(reported)
        )
        if confirmed:
            current.future.set_result(reported)

    # --- commands ----------------------------------------------------------------------
    async def set_light(
        self,
        device_id: str,
        *,
        on: bool | None = None,
        brightness: int | None = None,
        rgb: tuple[int, int, int] | list[int] | None = None,
        transition_ms: int | None = None,
    ) -> LightState:
        """Change a light and return its status once the light has confirmed it.

        Raises CommandError (offline, timeout, rejected, disconnected); ValueError for bad
        arguments. Rapid calls for one light coalesce: while one command is on the wire the
        others are merged (later fields win) and all merged callers get the final status.
        """
        rgb_tuple = None if rgb is None else tuple(rgb)
        command = LightCommand(on, brightness, rgb_tuple, transition_ms)  # type: ignore[arg-type]
        slot = self._slot(device_id)
        if self._closed:
            raise CommandError("disconnected", "backend closed", device_id=device_id)
        if slot.twin.availability is Availability.OFFLINE:
            raise CommandError("offline", device_id=device_id)
        desired = dict(slot.twin.desired)
        desired.update(command.fields())
        slot.twin = replace(slot.twin, desired=desired)
        self._emit(slot, LightEventKind.DESIRED)
        if slot.queued is not None:
            slot.queued.command = slot.queued.command.merged(command)
            pending = slot.queued
        else:
            pending = _Command(command, asyncio.get_running_loop().create_future())
            if slot.current is None:
                slot.current = pending
                slot.runner = asyncio.create_task(self._run_slot(slot), name=f"light-{device_id}")
            else:
                slot.queued = pending
        return await asyncio.shield(pending.future)

    async def _run_slot(self, slot: _Slot) -> None:
        try:
            while slot.current is not None:
                command = slot.current
                try:
                    await self._run_command(slot, command)
                except CommandError as err:
                    if not command.future.done():
                        command.future.set_exception(err)
                except Exception as err:  # a bug in a transport: fail the caller, keep going
                    _LOGGER.exception("%s: command failed", slot.device_id)
                    if not command.future.done():
                        command.future.set_exception(err)
                if command.future.done() and command.future.exception() is not None:
                    self._revert_desired(slot, command.command)
                slot.current, slot.queued = slot.queued, None
        finally:
            slot.runner = None

    async def _run_command(self, slot: _Slot, command: _Command) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.command_timeout
        device_id = slot.device_id
        while not command.future.done():
            if command.error is not None:
                raise command.error
            offline = slot.twin.availability is Availability.OFFLINE
            if offline and command.attempts == 0:
                raise CommandError("offline", device_id=device_id)
            connected = self._connection.kind is ConnectionKind.CONNECTED
            key = (self._epoch, slot.online_generation)
            if connected and not offline and command.sent_key != key:
                # Not sent yet, or sent before the connection dropped / the light went away:
                # (re)send. Light.Set carries absolute values, so a second copy is harmless.
                reported = slot.twin.reported
                command.base_rev = reported.rev if reported is not None else -1
                command.min_rev = None
                command.sent_key = key
                command.attempts += 1
                if command.attempts > 1:
                    _LOGGER.info("%s: re-sending a command after a reconnect", device_id)
                try:
                    self._send_set(slot, command.command, command)
                except CommandError as err:
                    raise CommandError(
                        err.reason, err.message, code=err.code, device_id=device_id
                    ) from None
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                reason = "offline" if offline else "timeout" if connected else "disconnected"
                raise CommandError(
                    reason,
                    f"no confirmation within {self.command_timeout:.1f} s",
                    device_id=device_id,
                )
            slot.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await slot.wake.wait()

    def _revert_desired(self, slot: _Slot, command: LightCommand) -> None:
        """A failed command no longer makes the light pending: desired falls back to reported."""
        desired = dict(slot.twin.desired)
        reported = slot.twin.reported.fields() if slot.twin.reported is not None else {}
        for name in command.fields():
            if name in reported:
                desired[name] = reported[name]
            else:
                desired.pop(name, None)
        slot.twin = replace(slot.twin, desired=desired)
        self._emit(slot, LightEventKind.DESIRED)

    def _fail_slot(self, slot: _Slot, error: CommandError) -> None:
        for command in (slot.current, slot.queued):
            if command is not None and not command.future.done():
                command.future.set_exception(error)
                command.future.exception()  # mark retrieved: callers may be gone

    # --- RPC pass-through ---------------------------------------------------------------
    async def rpc(
        self,
        device_id: str,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,  # noqa: ASYNC109
    ) -> Any:
        """Call an RPC method on the light (diagnostics); RpcError if the light refuses it."""
        raise RpcNotSupported(f"{type(self).__name__} cannot pass RPC calls through")

    # --- the transport ------------------------------------------------------------------
    @abc.abstractmethod
    async def _connect(self) -> None:
        """Begin connecting; report progress with `_set_connection`."""

    @abc.abstractmethod
    async def _disconnect(self) -> None:
        """Tear the transport down (no reconnect)."""

    @abc.abstractmethod
    def _watch_light(self, slot: _Slot) -> None:
        """Start receiving the light's state and availability (subscribe)."""

    @abc.abstractmethod
    def _unwatch_light(self, slot: _Slot) -> None:
        """Stop receiving reports for the light."""

    @abc.abstractmethod
    def _send_set(self, slot: _Slot, command: LightCommand, token: object) -> None:
        """Send `Light.Set`; later call `_report_reply(device_id, token, rev, error)`.

        Must not block. May raise CommandError (e.g. `rejected` for a request too large).
        """
