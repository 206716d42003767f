"""Schedules (on / off / colour at a time on some weekdays), run by the hub.

Why in the hub and not on the light: see docs/schedules.md. In short, the firmware has no clock
source (no SNTP, no RTC) and no schedule methods in protocol.md; the hub has the time zone and
already reaches every light through the chosen backend.

``Scheduler`` is Qt-free with an injectable clock. ``await scheduler.tick()`` runs everything due
since the last tick; ``run()`` calls ``tick()`` at least every ``MAX_SLEEP_S`` seconds, so a PC
that slept is noticed soon after it wakes: occurrences missed by at most ``catch_up`` are run
once (only the latest per schedule), older ones are skipped and reported as missed.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any, Literal

from .evented import EventedList

_log = logging.getLogger(__name__)

ScheduleAction = Literal["on", "off", "colour"]
ACTIONS: tuple[str, ...] = ("on", "off", "colour")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

Clock = Callable[[], datetime]


def local_now() -> datetime:
    """The wall-clock time now, time-zone aware (local zone)."""
    return datetime.now().astimezone()


@dataclass(frozen=True)
class Schedule:
    """At ``at`` (local time) on ``weekdays`` (0 = Monday), do ``action`` to the lights of
    ``room`` and/or ``device_ids``. ``colour`` sets ``rgb`` (and ``brightness`` when given) and
    switches the light on."""

    name: str
    at: time
    action: ScheduleAction
    weekdays: frozenset[int] = frozenset(range(7))
    device_ids: tuple[str, ...] = ()
    room: str = ""
    rgb: tuple[int, int, int] | None = None
    brightness: int | None = None
    enabled: bool = True
    schedule_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"action: must be one of {', '.join(ACTIONS)}")
        if not self.weekdays or not all(0 <= day <= 6 for day in self.weekdays):
            raise ValueError("weekdays: pick at least one day (0 = Monday .. 6 = Sunday)")
        if self.action == "colour" and self.rgb is None:
            raise ValueError("rgb: a colour schedule needs a colour")
        if self.brightness is not None and not 0 <= self.brightness <= 100:
            raise ValueError("brightness: must be 0..100")
        if not self.device_ids and not self.room:
            raise ValueError("pick a room or at least one light")

    def occurrences(self, after: datetime, until: datetime) -> list[datetime]:
        """The times this schedule fires in ``(after, until]`` (aware datetimes)."""
        if until <= after:
            return []
        found = []
        day = after.date()
        while day <= until.date():
            if day.weekday() in self.weekdays:
                moment = datetime.combine(day, self.at, tzinfo=until.tzinfo)
                if after < moment <= until:
                    found.append(moment)
            day += timedelta(days=1)
        return found

    def next_after(self, moment: datetime) -> datetime:
        """The first time this schedule fires after ``moment``."""
        return self.occurrences(moment, moment + timedelta(days=8))[0]

    def describe_days(self) -> str:
        if len(self.weekdays) == 7:
            return "every day"
        if self.weekdays == frozenset(range(5)):
            return "weekdays"
        if self.weekdays == frozenset({5, 6}):
            return "weekends"
        return ", ".join(WEEKDAY_NAMES[d] for d in sorted(self.weekdays))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.schedule_id,
            "name": self.name,
            "at": self.at.strftime("%H:%M"),
            "action": self.action,
            "weekdays": sorted(self.weekdays),
            "device_ids": list(self.device_ids),
            "room": self.room,
            "rgb": list(self.rgb) if self.rgb else None,
            "brightness": self.brightness,
            "enabled": self.enabled,
        }

    @classmethod
    def from_json(cls, data: Any) -> Schedule:
        if not isinstance(data, dict):
            raise ValueError("a schedule must be an object")
        try:
            at = time.fromisoformat(str(data["at"]))
            rgb = data.get("rgb")
            return cls(
                name=str(data.get("name", "")),
                at=at,
                action=data["action"],
                weekdays=frozenset(int(d) for d in data.get("weekdays", range(7))),
                device_ids=tuple(str(x) for x in data.get("device_ids", [])),
                room=str(data.get("room", "")),
                rgb=(int(rgb[0]), int(rgb[1]), int(rgb[2])) if rgb else None,
                brightness=data.get("brightness"),
                enabled=bool(data.get("enabled", True)),
                schedule_id=str(data.get("id") or uuid.uuid4().hex[:12]),
            )
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"malformed schedule: {exc}") from None


@dataclass(frozen=True)
class Firing:
    """One occurrence handled by ``tick()``: ``ran`` False means it was missed (too old)."""

    schedule: Schedule
    due: datetime
    ran: bool
    error: str | None = None


class ScheduleList(EventedList[Schedule]):
    """The schedules, sorted by time of day (the owner is the ``Hub``)."""

    def get(self, schedule_id: str) -> Schedule | None:
        index = self.index_where(lambda s: s.schedule_id == schedule_id)
        return self[index] if index >= 0 else None

    def put(self, schedule: Schedule) -> None:
        index = self.index_where(lambda s: s.schedule_id == schedule.schedule_id)
        if index >= 0:
            self.pop(index)
        position = 0
        while position < len(self) and (self[position].at, self[position].name) <= (
            schedule.at,
            schedule.name,
        ):
            position += 1
        self.insert(position, schedule)

    def discard(self, schedule_id: str) -> bool:
        index = self.index_where(lambda s: s.schedule_id == schedule_id)
        if index < 0:
            return False
        self.pop(index)
        return True

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "schedules": [s.to_json() for s in self]}

    @staticmethod
    def parse(data: Any) -> list[Schedule]:
        if not isinstance(data, dict) or not isinstance(data.get("schedules"), list):
            return []
        out = []
        for item in data["schedules"]:
            try:
                out.append(Schedule.from_json(item))
            except ValueError:
                _log.warning("skipping a malformed schedule")
        return sorted(out, key=lambda s: (s.at, s.name))


class Scheduler:
    """Runs the ``schedules`` through ``execute(schedule)`` at their times.

    ``clock`` returns the aware local time (injectable for tests); ``catch_up``: how late a
    missed occurrence may still run (after the PC slept or the hub was busy).
    """

    MAX_SLEEP_S = 30.0

    def __init__(
        self,
        schedules: ScheduleList,
        execute: Callable[[Schedule], Awaitable[None]],
        *,
        clock: Clock = local_now,
        catch_up: timedelta = timedelta(minutes=15),
        on_firing: Callable[[Firing], None] | None = None,
    ) -> None:
        self.schedules = schedules
        self.execute = execute
        self.clock = clock
        self.catch_up = catch_up
        self.on_firing = on_firing
        self.last_check = clock()
        self.history: list[Firing] = []

    async def tick(self) -> list[Firing]:
        """Handle every occurrence since the last tick; returns what ran and what was missed."""
        now = self.clock()
        since, self.last_check = self.last_check, now
        firings: list[Firing] = []
        for schedule in list(self.schedules):
            if not schedule.enabled:
                continue
            due = schedule.occurrences(since, now)
            if not due:
                continue
            latest = due[-1]
            for missed in due[:-1]:
                firings.append(Firing(schedule, missed, ran=False))
            if now - latest > self.catch_up:
                firings.append(Firing(schedule, latest, ran=False))
                continue
            error = None
            try:
                await self.execute(schedule)
            except Exception as exc:  # reported, never kills the scheduler
                _log.warning("schedule %r failed: %s", schedule.name, exc)
                error = str(exc) or type(exc).__name__
            firings.append(Firing(schedule, latest, ran=True, error=error))
        for firing in firings:
            self.history.append(firing)
            if self.on_firing is not None:
                try:
                    self.on_firing(firing)
                except Exception:
                    _log.exception("schedule firing callback failed")
        del self.history[:-100]
        return firings

    def seconds_to_next(self) -> float:
        """Seconds until the next enabled occurrence, capped at ``MAX_SLEEP_S``."""
        now = self.clock()
        upcoming = [s.next_after(now) for s in self.schedules if s.enabled]
        if not upcoming:
            return self.MAX_SLEEP_S
        return max(0.05, min(self.MAX_SLEEP_S, (min(upcoming) - now).total_seconds() + 0.01))

    async def run(self) -> None:
        """Tick forever (cancel to stop). Sleeping in short slices notices a PC that slept."""
        while True:
            await asyncio.sleep(self.seconds_to_next())
            await self.tick()
