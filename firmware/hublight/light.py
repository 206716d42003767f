"""Light state, argument checks of ``Light.Set``, transitions rendered to the strip, the button.

The status is {on, brightness, rgb, transition_ms, rev, source}; ``rev`` grows on every change and
is persisted by the app (state.json) so it keeps growing across reboots. State writes are
debounced, so the app persists a reserved block as well: ``rev_floor`` (saved) is above every rev
handed out; at boot the light continues from it, and a change that reaches it reserves the next
block (``on_reserve``: the app saves at once). A power cut may lose the last changes, but a rev is
never handed out twice.
"""

import asyncio

from hublight.rpc import RpcError

try:
    from typing import TYPE_CHECKING, Any, Callable
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.board import Board
    from hublight.logbuf import LogBuffer

FRAME_MS = 20
MAX_TRANSITION_MS = 60000
LONG_PRESS_MS = 3000
DEBOUNCE_MS = 50
SOURCES = ("rpc", "mqtt", "button", "boot", "shadow")
REV_BLOCK = 256  # revs reserved per forced state write


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not (value is True or value is False)


def check_light_id(params: dict[str, Any]) -> None:
    """Shelly's ``id``: absent, null or the integer 0 (not ``false`` nor ``0.0``); another
    integer is 404, anything else 400."""
    value = params.get("id")
    if value is None:
        return
    if not _is_int(value):
        raise RpcError(400, "id: must be the integer 0")
    if value != 0:
        raise RpcError(404, "id: this light has only light 0")


def parse_set_args(params: dict[str, Any]) -> dict[str, Any]:
    """Validate ``Light.Set`` params (Shelly's ``id`` and ``transition_duration`` accepted).
    -> {on?, brightness?, rgb?, transition_ms?}; RpcError(400) naming the bad argument (unknown
    arguments first)."""
    for name in params:
        if name not in ("id", "on", "brightness", "rgb", "transition_ms", "transition_duration"):
            raise RpcError(400, "%s: unknown argument of Light.Set" % name)
    out: dict[str, Any] = {}
    check_light_id(params)
    if "on" in params:
        if params["on"] is not True and params["on"] is not False:
            raise RpcError(400, "on: must be a boolean")
        out["on"] = params["on"]
    if "brightness" in params:
        value = params["brightness"]
        if isinstance(value, float) and value == int(value):
            value = int(value)
        if not _is_int(value) or value < 0 or value > 100:
            raise RpcError(400, "brightness: must be an integer 0..100")
        out["brightness"] = value
    if "rgb" in params:
        value = params["rgb"]
        if not isinstance(value, list) or len(value) != 3:
            raise RpcError(400, "rgb: must be three integers 0..255")
        for channel in value:
            if not _is_int(channel) or channel < 0 or channel > 255:
                raise RpcError(400, "rgb: must be three integers 0..255")
        out["rgb"] = [value[0], value[1], value[2]]
    if "transition_ms" in params:
        value = params["transition_ms"]
        if not _is_int(value) or value < 0 or value > MAX_TRANSITION_MS:
            raise RpcError(400, "transition_ms: must be an integer 0..60000")
        out["transition_ms"] = value
    elif "transition_duration" in params:  # Shelly: seconds, may be fractional
        value = params["transition_duration"]
        if not isinstance(value, (int, float)) or value is True or value is False or \
                value < 0 or value > MAX_TRANSITION_MS / 1000:
            raise RpcError(400, "transition_duration: must be a number of seconds 0..60")
        out["transition_ms"] = int(value * 1000 + 0.5)
    if "on" not in out and "brightness" not in out and "rgb" not in out:
        raise RpcError(400, "Light.Set needs at least one of on, brightness, rgb")
    return out


def channel_levels(on: bool, brightness: int, rgb: "list[int]", max_brightness: int) -> list[float]:
    """Linear drive levels 0.0..1.0 per channel (before gamma) for a light state."""
    if not on:
        return [0.0, 0.0, 0.0]
    scale = brightness / 100.0 * max_brightness / 100.0
    return [rgb[0] / 255.0 * scale, rgb[1] / 255.0 * scale, rgb[2] / 255.0 * scale]


def gamma_byte(level: float) -> int:
    """Perceptual (gamma 2) 0.0..1.0 -> 0..255; any non-zero level lights at least 1."""
    if level <= 0:
        return 0
    if level >= 1:
        return 255
    out = int(255 * level * level + 0.5)
    return out if out > 0 else 1


def mix(start: "list[float]", end: "list[float]", progress: float) -> list[float]:
    """Linear interpolation between two level triples (progress 0.0..1.0)."""
    if progress >= 1:
        return list(end)
    if progress <= 0:
        return list(start)
    return [start[i] + (end[i] - start[i]) * progress for i in range(3)]


class Light:
    """Light 0: state, rendering with transitions. ``on_change(status)`` after each change."""

    def __init__(self, board: "Board", pixels: "Callable[[], int]",
                 max_brightness: "Callable[[], int]", default_transition: "Callable[[], int]",
                 log: "LogBuffer") -> None:
        self.board = board
        self._pixels = pixels
        self._max_brightness = max_brightness
        self._default_transition = default_transition
        self.log = log
        self.on = False
        self.brightness = 100
        self.rgb = [255, 255, 255]
        self.transition_ms = default_transition()
        self.rev = 0
        self.rev_floor = 0  # persisted bound: every rev handed out so far is below it (or equal
        # after a clean shutdown); a change reaching it calls on_reserve first
        self.source = "boot"
        self.on_change: "Callable[[dict[str, Any]], None] | None" = None
        self.on_reserve: "Callable[[], None] | None" = None
        self.shown: list[float] = [0.0, 0.0, 0.0]  # levels currently on the strip
        self._from: list[float] = [0.0, 0.0, 0.0]
        self._start_ms = 0
        self._duration_ms = 0
        self._dirty = True
        self._wake = asyncio.Event()

    def status(self) -> dict[str, Any]:
        return {"on": self.on, "brightness": self.brightness, "rgb": list(self.rgb),
                "transition_ms": self.transition_ms, "rev": self.rev, "source": self.source}

    def saved(self, clean: bool = False) -> dict[str, Any]:
        """What state.json keeps of the light. ``clean`` (at shutdown, nothing can change any
        more): the floor is the rev itself, so the next boot continues without a jump."""
        if clean:
            self.rev_floor = self.rev
        return {"on": self.on, "brightness": self.brightness, "rgb": list(self.rgb),
                "rev": self.rev, "rev_floor": self.rev_floor}

    def restore(self, saved: Any) -> None:
        """Restore from state.json content; bad fields keep their defaults."""
        if not isinstance(saved, dict):
            return
        if saved.get("on") is True or saved.get("on") is False:
            self.on = saved["on"]
        if _is_int(saved.get("brightness")) and 0 <= saved["brightness"] <= 100:
            self.brightness = saved["brightness"]
        rgb = saved.get("rgb")
        if isinstance(rgb, list) and len(rgb) == 3 and all(_is_int(c) and 0 <= c <= 255
                                                            for c in rgb):
            self.rgb = list(rgb)
        if _is_int(saved.get("rev")) and saved["rev"] >= 0:
            self.rev = saved["rev"]
        floor: Any = saved.get("rev_floor")
        if _is_int(floor) and floor > self.rev:
            self.rev = floor  # changes after the last write may have used revs up to it
        self.rev_floor = self.rev
        self.source = "boot"
        # Come up at the restored state at once: no fade-in after a power cut.
        self._begin(0)

    def target(self) -> list[float]:
        return channel_levels(self.on, self.brightness, self.rgb, self._max_brightness())

    def apply(self, changes: dict[str, Any], source: str) -> dict[str, Any]:
        """Apply parsed Light.Set changes. -> the new status."""
        new_on = changes.get("on", self.on)
        new_brightness = changes.get("brightness", self.brightness)
        new_rgb = changes.get("rgb", self.rgb)
        transition = changes.get("transition_ms")
        if transition is None:
            transition = self._default_transition()
        if new_on == self.on and new_brightness == self.brightness and new_rgb == self.rgb:
            return self.status()
        self.on = new_on
        self.brightness = new_brightness
        self.rgb = list(new_rgb)
        self.transition_ms = transition
        self.rev += 1
        self.source = source
        if self.rev >= self.rev_floor:
            self.rev_floor = self.rev + REV_BLOCK
            if self.on_reserve is not None:
                try:
                    self.on_reserve()
                except Exception as exc:
                    self.log.exception("light: reserving revs failed", exc)
        self._begin(transition)
        if self.on_change is not None:
            self.on_change(self.status())
        return self.status()

    def toggle(self, source: str) -> dict[str, Any]:
        return self.apply({"on": not self.on}, source)

    def refresh(self) -> None:
        """Re-render at once (after light.pixels or light.max_brightness changed)."""
        self._begin(0)

    def _begin(self, duration_ms: int) -> None:
        self._from = list(self.shown)
        self._start_ms = self.board.ticks_ms()
        self._duration_ms = duration_ms
        self._dirty = True
        self._wake.set()

    def render_once(self) -> bool:
        """Show the current frame of the transition. -> True while the transition runs."""
        elapsed = self.board.ticks_diff(self.board.ticks_ms(), self._start_ms)
        if self._duration_ms <= 0 or elapsed >= self._duration_ms:
            levels = self.target()
            running = False
        else:
            levels = mix(self._from, self.target(), elapsed / self._duration_ms)
            running = True
        self.shown = levels
        pixel = (gamma_byte(levels[0]), gamma_byte(levels[1]), gamma_byte(levels[2]))
        self.board.show([pixel] * self._pixels())
        return running

    async def run(self) -> None:
        """Render forever: frames every ~20 ms during a transition, idle otherwise."""
        while True:
            if self._dirty:
                self._dirty = False
                try:
                    running = self.render_once()
                except Exception as exc:
                    self.log.exception("light: show failed", exc)
                    running = False
                if running:
                    self._dirty = True
                    await asyncio.sleep(FRAME_MS / 1000)
                    continue
            self._wake.clear()
            if not self._dirty:
                await self._wake.wait()


class ButtonLogic:
    """Press detection fed with (pressed, now_ms) samples: -> "short" on release of a press of
    50 ms..3 s, "long" once when a press reaches 3 s (factory reset), else None."""

    def __init__(self) -> None:
        self.pressed_since: "int | None" = None
        self.long_fired = False

    def update(self, pressed: bool, now_ms: int, diff: "Callable[[int, int], int]") -> "str | None":
        if pressed:
            if self.pressed_since is None:
                self.pressed_since = now_ms
                self.long_fired = False
                return None
            if not self.long_fired and diff(now_ms, self.pressed_since) >= LONG_PRESS_MS:
                self.long_fired = True
                return "long"
            return None
        if self.pressed_since is None:
            return None
        held = diff(now_ms, self.pressed_since)
        fired = self.long_fired
        self.pressed_since = None
        self.long_fired = False
        if not fired and held >= DEBOUNCE_MS:
            return "short"
        return None
