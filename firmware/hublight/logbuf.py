"""Log ring buffer (``Sys.GetLog``) and the logger used by every firmware module.

Never pass secrets to the logger: log key names, never values of write-only config keys.
"""

try:
    from typing import TYPE_CHECKING, Any, Callable
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

LEVELS = ("debug", "info", "warn", "error")
CAPACITY = 200


class LogBuffer:
    """The last ``capacity`` log lines, each {seq, ts, level, msg}; seq increases from 1."""

    def __init__(self, clock: "Callable[[], float] | None" = None, capacity: int = CAPACITY,
                 sink: "Callable[[dict[str, Any]], None] | None" = None) -> None:
        self._clock = clock
        self.capacity = capacity
        self.lines: list[dict[str, Any]] = []
        self.next_seq = 1
        self.min_level = 1  # index into LEVELS: "info"
        self.sink = sink

    def set_level(self, level: str) -> None:
        """Drop lines below ``level`` (one of LEVELS); unknown names are ignored."""
        if level in LEVELS:
            self.min_level = LEVELS.index(level)

    def add(self, level: str, msg: str) -> None:
        """Append one line (unless below the configured level)."""
        if level not in LEVELS:
            level = "info"
        if LEVELS.index(level) < self.min_level:
            return
        ts = 0.0
        if self._clock is not None:
            try:
                ts = self._clock()
            except Exception:
                ts = 0.0
        line = {"seq": self.next_seq, "ts": ts, "level": level, "msg": str(msg)}
        self.next_seq += 1
        self.lines.append(line)
        if len(self.lines) > self.capacity:
            del self.lines[0 : len(self.lines) - self.capacity]
        if self.sink is not None:
            try:
                self.sink(line)
            except Exception:
                pass

    def debug(self, msg: str) -> None:
        self.add("debug", msg)

    def info(self, msg: str) -> None:
        self.add("info", msg)

    def warn(self, msg: str) -> None:
        self.add("warn", msg)

    def error(self, msg: str) -> None:
        self.add("error", msg)

    def exception(self, msg: str, exc: BaseException) -> None:
        """Log an error line naming the exception type and text."""
        self.add("error", "%s: %s: %s" % (msg, type(exc).__name__, exc))

    def get(self, lines: int = 100, since: "int | None" = None) -> dict[str, Any]:
        """``Sys.GetLog`` result: without ``since`` the last ``lines`` lines; with ``since`` up to
        ``lines`` lines from seq ``since`` on. ``next`` is the seq to continue from."""
        if since is None:
            picked = self.lines[-lines:] if lines > 0 else []
        else:
            picked = [line for line in self.lines if line["seq"] >= since][:lines]
        nxt = picked[-1]["seq"] + 1 if picked else self.next_seq
        return {"lines": [dict(line) for line in picked], "next": nxt}
