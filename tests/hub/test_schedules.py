"""The hub's scheduler with an injected clock (no waiting on the wall clock)."""

from __future__ import annotations

from datetime import datetime, time, timedelta, timezone

from hub_app.hub.schedules import Schedule, ScheduleList, Scheduler

TZ = timezone(timedelta(hours=1))


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


async def test_runs_at_its_time_on_its_weekdays_only() -> None:
    clock = FakeClock(datetime(2026, 11, 23, 18, 0, tzinfo=TZ))  # a Monday
    schedules = ScheduleList()
    schedules.put(Schedule("Evening", time(19, 0), "on", frozenset({0, 2}), room="Office"))
    ran: list[str] = []

    async def execute(schedule: Schedule) -> None:
        ran.append(schedule.name)

    scheduler = Scheduler(schedules, execute, clock=clock)
    clock.now = clock.now.replace(hour=18, minute=59)
    assert await scheduler.tick() == [] and ran == []
    clock.now = clock.now.replace(hour=19, minute=0, second=1)
    firings = await scheduler.tick()
    assert ran == ["Evening"] and firings[0].ran
    clock.now += timedelta(days=1)  # Tuesday: not a chosen day
    assert await scheduler.tick() == [] and ran == ["Evening"]
    assert scheduler.seconds_to_next() == Scheduler.MAX_SLEEP_S


async def test_after_sleep_recent_misses_run_once_and_old_ones_are_reported() -> None:
    clock = FakeClock(datetime(2026, 11, 23, 6, 0, tzinfo=TZ))
    schedules = ScheduleList()
    schedules.put(Schedule("Wake", time(7, 0), "colour", rgb=(255, 200, 150), room="Bedroom"))
    ran: list[str] = []

    async def execute(schedule: Schedule) -> None:
        ran.append(schedule.name)

    scheduler = Scheduler(schedules, execute, clock=clock, catch_up=timedelta(minutes=15))
    clock.now = clock.now.replace(hour=7, minute=10)  # the PC slept through 7:00, woke at 7:10
    firings = await scheduler.tick()
    assert ran == ["Wake"] and [f.ran for f in firings] == [True]
    clock.now += timedelta(days=3, hours=1)  # asleep for days: every occurrence is too old
    firings = await scheduler.tick()
    assert ran == ["Wake"]
    assert firings and not any(f.ran for f in firings)


async def test_a_failing_schedule_is_reported_and_the_scheduler_goes_on() -> None:
    clock = FakeClock(datetime(2026, 11, 23, 6, 59, tzinfo=TZ))
    schedules = ScheduleList()
    schedules.put(Schedule("Broken", time(7, 0), "off", device_ids=("hublight-000001",)))

    async def execute(schedule: Schedule) -> None:
        raise RuntimeError("not confirmed by Desk lamp")

    scheduler = Scheduler(schedules, execute, clock=clock)
    clock.now = clock.now.replace(minute=0, hour=7)
    firings = await scheduler.tick()
    assert firings[0].ran and firings[0].error == "not confirmed by Desk lamp"
    restored = ScheduleList.parse(schedules.to_json())
    assert restored == list(schedules)
