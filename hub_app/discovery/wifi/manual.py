"""Manual mode: the user joins the light's network in the OS Wi-Fi menu; we notice by reaching it.

Works on every PC. ``connect()`` emits a ``join_requested`` event (and calls the optional
``prompt``) with the words to show, then polls the access-point address with a TCP connect until
the light answers, the time limit passes (``JoinTimedOut``) or the caller cancels the task.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from .base import (
    JoinTimedOut,
    WifiAdapter,
    WifiEvent,
    WifiNetwork,
    ap_endpoint_for_ssid,
    tcp_reachable,
)

_log = logging.getLogger(__name__)


def join_message(ssid: str) -> str:
    """What to tell the user in manual mode."""
    return (
        f"Join the network {ssid} in your Wi-Fi menu; we will continue as soon as we can reach "
        "the light."
    )


def return_message(ssid: str | None) -> str:
    """What to tell the user when set-up no longer needs the light's network."""
    if ssid:
        return f"You can go back to your network {ssid} in your Wi-Fi menu now."
    return "You can go back to your usual Wi-Fi network in your Wi-Fi menu now."


class ManualAdapter(WifiAdapter):
    """The user switches networks; we wait until the light's access point answers.

    ``endpoint`` overrides where the light answers (default: by SSID family, 192.168.4.1:80);
    ``home_ssid`` is named in the "go back" message when known.
    """

    is_automatic = False

    def __init__(
        self,
        prompt: Callable[[WifiEvent], None] | None = None,
        *,
        endpoint: tuple[str, int] | None = None,
        join_timeout_s: float = 300.0,
        poll_interval_s: float = 1.0,
        probe_timeout_s: float = 2.0,
        home_ssid: str | None = None,
    ) -> None:
        super().__init__()
        self.prompt = prompt
        self.endpoint = endpoint
        self.join_timeout_s = join_timeout_s
        self.poll_interval_s = poll_interval_s
        self.probe_timeout_s = probe_timeout_s
        self.home_ssid = home_ssid
        self._joined: str | None = None

    def ap_endpoint(self, ssid: str) -> tuple[str, int]:
        """The configured endpoint, else the SSID family's default."""
        return self.endpoint or ap_endpoint_for_ssid(ssid)

    async def scan(self) -> list[WifiNetwork]:
        """Manual mode cannot scan: always empty (the UI asks the user to type the SSID)."""
        return []

    async def current_ssid(self) -> str | None:
        """The SSID we last saw the user join (manual mode cannot ask the OS)."""
        return self._joined

    def _tell(self, event: WifiEvent) -> None:
        if self.prompt is not None:
            try:
                self.prompt(event)
            except Exception:
                _log.exception("manual Wi-Fi prompt failed")
        self._emit(event)

    async def connect(self, ssid: str, password: str | None = None) -> None:
        """Ask the user to join ``ssid`` and wait until its access point answers."""
        host, port = self.ap_endpoint(ssid)
        self._tell(WifiEvent("join_requested", ssid, join_message(ssid)))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.join_timeout_s
        while True:
            if await tcp_reachable(host, port, timeout_s=self.probe_timeout_s):
                self._joined = ssid
                _log.info("manual Wi-Fi: %s answers at %s:%d", ssid, host, port)
                self._emit(WifiEvent("connected", ssid))
                return
            if loop.time() >= deadline:
                raise JoinTimedOut(
                    f"We could not reach the light on {ssid} in time.",
                    f"Check that your PC is on {ssid} in the Wi-Fi menu and that the light is in "
                    "set-up mode, then try again.",
                )
            await asyncio.sleep(self.poll_interval_s)

    async def restore_previous(self) -> None:
        """Tell the user to go back to their network."""
        self._joined = None
        self._tell(WifiEvent("return_requested", self.home_ssid, return_message(self.home_ssid)))
