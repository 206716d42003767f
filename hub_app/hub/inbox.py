"""The "Discovered" inbox as data: lights found on access points or on the LAN, not yet paired.

Items are keyed by device id (an access point named ``HubLight-1A2B3C`` and the LAN light
``hublight-1a2b3c`` are one item). Ignoring persists by key; a light that gets paired leaves the
inbox by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Literal

from .evented import EventedList

SeenVia = Literal["ap", "lan"]


@dataclass(frozen=True)
class DiscoveredItem:
    """A light the hub could set up.

    ``key``: the device id when known, else the access point's SSID. ``ap_ssid`` is set while its
    set-up access point is seen (the wizard takes it as ``light``); ``lan_address`` while it
    answers on the LAN (``host:port``). ``kind``: hublight / mongoose / shelly. ``signal_dbm``:
    the access point's strength when known.
    """

    key: str
    kind: str
    device_id: str | None = None
    ap_ssid: str | None = None
    lan_address: str | None = None
    model: str | None = None
    fw_version: str | None = None
    signal_dbm: int | None = None
    first_seen: float = 0.0

    @property
    def seen_via(self) -> tuple[SeenVia, ...]:
        via: list[SeenVia] = []
        if self.ap_ssid:
            via.append("ap")
        if self.lan_address:
            via.append("lan")
        return tuple(via)

    @property
    def title(self) -> str:
        return self.ap_ssid or self.device_id or self.key


class Inbox(EventedList[DiscoveredItem]):
    """The discovered lights (owner: ``Hub``; it filters out paired and ignored ones)."""

    def get(self, key: str) -> DiscoveredItem | None:
        index = self.index_where(lambda item: item.key == key)
        return self[index] if index >= 0 else None

    def merge(self, key: str, kind: str, **facts: object) -> None:
        """Add the item, or update the facts given (None clears a fact)."""
        index = self.index_where(lambda item: item.key == key)
        if index >= 0:
            updated = replace(self[index], **facts)  # type: ignore[arg-type]
            if updated != self[index]:
                self.replace(index, updated)
            return
        item = DiscoveredItem(key=key, kind=kind, first_seen=time.time())
        self.append(replace(item, **facts))  # type: ignore[arg-type]

    def drop_fact(self, key: str, fact: str) -> None:
        """Clear one way the item was seen; remove it when no way is left."""
        index = self.index_where(lambda item: item.key == key)
        if index < 0:
            return
        updated = replace(self[index], **{fact: None})  # type: ignore[arg-type]
        if not updated.seen_via:
            self.pop(index)
        elif updated != self[index]:
            self.replace(index, updated)

    def discard(self, key: str) -> None:
        index = self.index_where(lambda item: item.key == key)
        if index >= 0:
            self.pop(index)
