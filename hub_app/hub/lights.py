"""``LightView``: what the UI shows of one paired light, built from the registry and the twin."""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from hub_app.broker_client.base import Availability, LightTwin
from hub_app.registry.store import PairedLight

from .evented import EventedList


@dataclass(frozen=True)
class LightView:
    """One paired light as the user sees it.

    ``online`` is None until the backend knows (no availability report yet). ``on``,
    ``brightness`` and ``rgb`` are what the light last *reported* (None: nothing known yet);
    ``pending`` is true while the hub has asked for something the light has not confirmed, and
    ``desired`` holds those requested fields. ``last_error`` is the plain-words reason of the last
    failed command (cleared by the next confirmed one).
    """

    device_id: str
    name: str = ""
    room: str = ""
    online: bool | None = None
    on: bool | None = None
    brightness: int | None = None
    rgb: tuple[int, int, int] | None = None
    pending: bool = False
    desired: tuple[tuple[str, object], ...] = ()
    last_seen: datetime | None = None
    model: str = ""
    fw_version: str = ""
    addresses: tuple[str, ...] = ()
    backend: str = ""
    last_error: str | None = None

    @property
    def display_name(self) -> str:
        """The name, or the device id for a light without a name."""
        return self.name or self.device_id

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.room.casefold(), self.display_name.casefold(), self.device_id)

    def desired_value(self, name: str) -> object:
        """The requested value of a field, or None."""
        return dict(self.desired).get(name)

    @classmethod
    def from_paired(cls, light: PairedLight) -> LightView:
        return cls(
            device_id=light.device_id,
            name=light.name,
            room=light.room,
            model=light.model,
            fw_version=light.fw_version,
            addresses=tuple(light.addresses),
            backend=light.backend,
            last_seen=light.last_seen,
        )

    def with_paired(self, light: PairedLight) -> LightView:
        """This view with the registry's facts (name, room, addresses...) updated."""
        last_seen = self.last_seen
        if light.last_seen is not None and (last_seen is None or light.last_seen > last_seen):
            last_seen = light.last_seen
        return replace(
            self,
            name=light.name,
            room=light.room,
            model=light.model,
            fw_version=light.fw_version,
            addresses=tuple(light.addresses),
            backend=light.backend,
            last_seen=last_seen,
        )

    def with_twin(self, twin: LightTwin) -> LightView:
        """This view with the backend's twin (availability, reported state, pending) applied."""
        online = {
            Availability.ONLINE: True,
            Availability.OFFLINE: False,
            Availability.UNKNOWN: None,
        }[twin.availability]
        reported = twin.reported
        last_seen = self.last_seen
        if twin.confirmed_at:
            seen = datetime.fromtimestamp(max(twin.confirmed_at.values()), UTC)
            if last_seen is None or seen > last_seen:
                last_seen = seen
        desired = tuple(
            (name, value)
            for name, value in sorted(twin.desired.items())
            if reported is None or reported.fields().get(name) != value
        )
        return replace(
            self,
            online=online,
            on=reported.on if reported is not None else self.on,
            brightness=reported.brightness if reported is not None else self.brightness,
            rgb=reported.rgb if reported is not None else self.rgb,
            pending=twin.pending,
            desired=desired,
            last_seen=last_seen,
        )


class LightList(EventedList[LightView]):
    """The paired lights, kept sorted by room, then name (the owner is the ``Hub``)."""

    def __init__(self, items: Iterable[LightView] = ()) -> None:
        super().__init__(items)
        # device id -> index; rebuilt after a structural change. Every state report looks its
        # light up, so a scan per lookup costs O(n) per report: with 1,000 lights reporting once a
        # second that is a million comparisons a second.
        self._positions: dict[str, int] | None = None

    def index_of(self, device_id: str) -> int:
        """The index of the light, or -1."""
        if self._positions is None:
            self._positions = {view.device_id: i for i, view in enumerate(self._items)}
        return self._positions.get(device_id, -1)

    def insert(self, index: int, item: LightView) -> None:
        self._positions = None
        super().insert(index, item)

    def pop(self, index: int) -> LightView:
        self._positions = None
        return super().pop(index)

    def replace(self, index: int, item: LightView) -> None:
        if self._items[index].device_id != item.device_id:
            self._positions = None
        super().replace(index, item)

    def reset(self, items: Iterable[LightView]) -> None:
        self._positions = None
        super().reset(items)

    def get(self, device_id: str) -> LightView | None:
        index = self.index_of(device_id)
        return self[index] if index >= 0 else None

    def rooms(self) -> list[str]:
        """The rooms in display order ("" = lights without a room, last)."""
        rooms = sorted({view.room for view in self}, key=lambda room: (room == "", room.casefold()))
        return rooms

    def put(self, view: LightView) -> None:
        """Insert or update ``view`` keeping the order (a move is a remove plus an insert)."""
        index = self.index_of(view.device_id)
        if index >= 0:
            old = self[index]
            if old == view:
                return
            if old.sort_key == view.sort_key:
                self.replace(index, view)
                return
            self.pop(index)
        position = bisect.bisect_left(self._items, view.sort_key, key=lambda item: item.sort_key)
        self.insert(position, view)

    def discard(self, device_id: str) -> None:
        index = self.index_of(device_id)
        if index >= 0:
            self.pop(index)
