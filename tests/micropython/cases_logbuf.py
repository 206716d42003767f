"""The log ring buffer."""
# ruff: noqa: UP031

from hublight.logbuf import LogBuffer


def test_ring_keeps_last_200_with_increasing_seq():
    log = LogBuffer(lambda: 12.5)
    for i in range(250):
        log.info("line %d" % i)
    assert len(log.lines) == 200
    assert log.lines[0]["seq"] == 51
    assert log.lines[-1] == {"seq": 250, "ts": 12.5, "level": "info", "msg": "line 249"}


def test_get_last_lines_and_continue_with_since():
    log = LogBuffer(lambda: 0.0)
    for i in range(10):
        log.info("l%d" % i)
    out = log.get(3)
    assert [line["msg"] for line in out["lines"]] == ["l7", "l8", "l9"]
    assert out["next"] == 11
    log.warn("new")
    more = log.get(100, out["next"])
    assert [line["msg"] for line in more["lines"]] == ["new"]
    assert more["next"] == 12
    assert log.get(100, more["next"]) == {"lines": [], "next": 12}
    page = log.get(2, 1)
    assert [line["seq"] for line in page["lines"]] == [1, 2] and page["next"] == 3


def test_level_filter():
    log = LogBuffer(None)
    log.debug("hidden")
    log.set_level("debug")
    log.debug("shown")
    log.set_level("error")
    log.warn("hidden too")
    log.error("bad")
    assert [line["msg"] for line in log.lines] == ["shown", "bad"]
