"""Tiny assertion helpers shared by the framework-neutral firmware cases (MicroPython + pytest)."""
# ruff: noqa: UP031

from hublight.rpc import RpcError


def expect_rpc_error(code, fn, *args):
    """Call fn(*args); it must raise RpcError with ``code``. -> the error message."""
    try:
        fn(*args)
    except RpcError as err:
        assert err.code == code, "expected %d, got %d: %s" % (code, err.code, err.message)
        return err.message
    raise AssertionError("expected RpcError %d, nothing raised" % code)


class FakeClock:
    """A hand-driven millisecond clock (the real board clock cannot be stepped in a test)."""

    def __init__(self):
        self.now = 1000

    def ticks_ms(self):
        return self.now

    def ticks_diff(self, a, b):
        return a - b


class MemoryLog:
    """Collects log lines so a case can check that nothing secret was logged."""

    def __init__(self):
        from hublight.logbuf import LogBuffer

        self.buf = LogBuffer(lambda: 0.0)
        self.buf.set_level("debug")

    def text(self):
        return "\n".join(line["msg"] for line in self.buf.lines)
