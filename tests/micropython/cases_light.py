"""Light.Set argument checks, levels, gamma, transitions math and the button."""
# ruff: noqa: RUF059

from hublight.light import (
    ButtonLogic,
    Light,
    channel_levels,
    gamma_byte,
    mix,
    parse_set_args,
)
from mpcheck import FakeClock, expect_rpc_error


class StripBoard:
    """A strip that records frames, with a hand-driven clock."""

    def __init__(self):
        self.clock = FakeClock()
        self.frames = []

    def ticks_ms(self):
        return self.clock.now

    def ticks_diff(self, a, b):
        return a - b

    def show(self, pixels):
        self.frames.append(list(pixels))


def make_light(pixels=3, cap=100):
    from hublight.logbuf import LogBuffer

    board = StripBoard()
    light = Light(board, lambda: pixels, lambda: cap, lambda: 300, LogBuffer(None))
    return board, light


def test_parse_set_args():
    assert parse_set_args({"on": True}) == {"on": True}
    assert parse_set_args({"brightness": 50, "rgb": [1, 2, 3], "transition_ms": 0}) == {
        "brightness": 50, "rgb": [1, 2, 3], "transition_ms": 0}
    assert parse_set_args({"id": 0, "on": False, "transition_duration": 1.5}) == {
        "on": False, "transition_ms": 1500}
    assert "brightness" in expect_rpc_error(400, parse_set_args, {"brightness": 101})
    assert "brightness" in expect_rpc_error(400, parse_set_args, {"brightness": True})
    assert "rgb" in expect_rpc_error(400, parse_set_args, {"rgb": [1, 2]})
    assert "rgb" in expect_rpc_error(400, parse_set_args, {"rgb": [1, 2, 256]})
    assert "on" in expect_rpc_error(400, parse_set_args, {"on": "yes"})
    assert "transition_ms" in expect_rpc_error(400, parse_set_args,
                                               {"on": True, "transition_ms": 60001})
    expect_rpc_error(400, parse_set_args, {"transition_ms": 5})
    expect_rpc_error(400, parse_set_args, {})
    expect_rpc_error(400, parse_set_args, {"on": True, "colour": 1})
    expect_rpc_error(404, parse_set_args, {"id": 1, "on": True})
    assert "foo" in expect_rpc_error(400, parse_set_args, {"foo": 1})
    assert "foo" in expect_rpc_error(400, parse_set_args, {"foo": 1, "brightness": 900})
    assert "id" in expect_rpc_error(400, parse_set_args, {"id": False, "on": True})
    assert "id" in expect_rpc_error(400, parse_set_args, {"id": 0.0, "on": True})
    assert parse_set_args({"id": None, "on": True}) == {"on": True}


def test_levels_and_gamma():
    assert channel_levels(False, 100, [255, 255, 255], 100) == [0.0, 0.0, 0.0]
    levels = channel_levels(True, 50, [255, 0, 128], 100)
    assert levels[0] == 0.5 and levels[1] == 0.0
    capped = channel_levels(True, 100, [255, 255, 255], 40)
    assert capped == [0.4, 0.4, 0.4]
    assert gamma_byte(0.0) == 0 and gamma_byte(1.0) == 255
    assert gamma_byte(0.5) == 64
    assert gamma_byte(0.001) == 1  # dim but never dark when on
    assert mix([0.0, 0.0, 0.0], [1.0, 0.5, 0.0], 0.5) == [0.5, 0.25, 0.0]


def test_set_changes_rev_and_source_and_brightness_does_not_switch_on():
    board, light = make_light()
    changes = []
    light.on_change = changes.append
    status = light.apply({"brightness": 40}, "rpc")
    assert status["on"] is False and status["brightness"] == 40 and status["rev"] == 1
    status = light.apply({"on": True, "transition_ms": 0}, "button")
    assert status["rev"] == 2 and status["source"] == "button"
    assert light.apply({"on": True}, "rpc")["rev"] == 2  # no change, no new rev
    assert len(changes) == 2
    assert light.toggle("rpc")["on"] is False


def test_transition_frames():
    board, light = make_light(pixels=2)
    light.apply({"on": True, "rgb": [255, 255, 255], "brightness": 100,
                 "transition_ms": 1000}, "rpc")
    assert light.render_once() is True
    assert board.frames[-1] == [(0, 0, 0), (0, 0, 0)]
    board.clock.now += 500
    assert light.render_once() is True
    assert board.frames[-1][0] == (64, 64, 64)
    board.clock.now += 500
    assert light.render_once() is False
    assert board.frames[-1] == [(255, 255, 255), (255, 255, 255)]


def test_restore_is_immediate_and_keeps_rev():
    board, light = make_light()
    light.restore({"on": True, "brightness": 100, "rgb": [255, 0, 0], "rev": 41})
    assert light.status()["rev"] == 41 and light.status()["source"] == "boot"
    assert light.render_once() is False
    assert board.frames[-1][0] == (255, 0, 0)
    _, other = make_light()
    other.restore({"on": "garbage", "brightness": 900, "rgb": [1], "rev": -3})
    assert other.status() == {"on": False, "brightness": 100, "rgb": [255, 255, 255],
                              "transition_ms": 300, "rev": 0, "source": "boot"}


def test_rev_floor_reserves_blocks_and_boot_continues_from_it():
    _, light = make_light()
    light.restore({"rev": 5})
    saves = []
    light.on_reserve = lambda: saves.append(light.saved())
    light.apply({"on": True}, "rpc")
    assert light.status()["rev"] == 6
    assert len(saves) == 1 and saves[0]["rev"] == 6 and saves[0]["rev_floor"] > 6
    floor = saves[0]["rev_floor"]
    for i in range(floor - 7):  # up to floor - 1: no further forced write
        light.apply({"brightness": i % 100}, "rpc")
    assert light.status()["rev"] == floor - 1 and len(saves) == 1
    light.apply({"on": False}, "rpc")  # reaches the floor: the next block is written first
    assert len(saves) == 2 and saves[1]["rev_floor"] > floor
    # a power cut after the first forced write: boot continues above every rev handed out
    _, rebooted = make_light()
    rebooted.restore(saves[0])
    assert rebooted.status()["rev"] >= floor
    # a clean shutdown writes the floor tight: no jump
    clean = light.saved(clean=True)
    assert clean["rev_floor"] == clean["rev"] == light.status()["rev"]
    _, again = make_light()
    again.restore(clean)
    assert again.status()["rev"] == clean["rev"]


def test_button_short_and_long_press():
    logic = ButtonLogic()

    def diff(a, b):
        return a - b

    assert logic.update(True, 0, diff) is None
    assert logic.update(True, 100, diff) is None
    assert logic.update(False, 200, diff) == "short"
    assert logic.update(True, 1000, diff) is None
    assert logic.update(True, 3999, diff) is None
    assert logic.update(True, 4000, diff) == "long"
    assert logic.update(True, 5000, diff) is None
    assert logic.update(False, 5100, diff) is None  # no toggle after a long press
    assert logic.update(True, 6000, diff) is None
    assert logic.update(False, 6010, diff) is None  # bounce, too short
