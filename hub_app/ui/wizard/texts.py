"""The words of the add-light wizard: step titles, field labels, error and progress messages.

Every string goes through ``QCoreApplication.translate``; the English text of the flow's keys
comes from ``hub_app.provisioning.messages``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from PySide6.QtCore import QCoreApplication

from hub_app.provisioning.messages import MESSAGES, PROGRESS

CONTEXT = "AddLightWizard"


def tr(text: str) -> str:
    """Translate a wizard string."""
    return QCoreApplication.translate(CONTEXT, text)


def _fill(text: str, placeholders: Mapping[str, str]) -> str:
    class _Keep(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return text.format_map(_Keep(placeholders))


def _defaults(placeholders: Mapping[str, Any] | None) -> dict[str, str]:
    values = {k: str(v) for k, v in (placeholders or {}).items() if v not in (None, "")}
    values.setdefault("ssid", tr("your home network"))
    values.setdefault("light", tr("the light"))
    values.setdefault("home", tr("your home network"))
    return values


STEP_TITLES = {
    "pick_light": "Choose the light to set up",
    "join_ap": "Connect to the light",
    "verify": "Enter the setup code",
    "name": "Name the light",
    "choose_network": "Choose your home network",
    "confirm_network": "Check the network before sending",
    "send": "Sending the settings",
    "wait_lan": "Find the light on your network",
    "pair": "Pairing",
}

STEP_HINTS = {
    "pick_light": "These lights are waiting to be set up. Pick the one in front of you.",
    "verify": "The setup code of {device_id} is printed on its label, like ABCD-2345.",
    "name": "Give {device_id} a name and a room so you can find it again.",
    "choose_network": "The light joins this Wi-Fi network. It needs a 2.4 GHz network.",
    "confirm_network": "Something about {ssid} may stop the light from joining.",
    "join_ap": "",
    "wait_lan": "",
}

FIELD_LABELS = {
    "light": "Light",
    "rescan": "Search again",
    "setup_code": "Setup code",
    "name": "Name",
    "room": "Room",
    "ssid": "Network",
    "password": "Wi-Fi password",
    "remember_password": "Remember this password on this PC",
    "confirm": "Send these settings anyway",
    "retry": "Try again",
}


def step_title(step_id: str) -> str:
    """The heading of a step."""
    return tr(STEP_TITLES.get(step_id, "Add a light"))


def step_hint(step_id: str, placeholders: Mapping[str, Any] | None = None) -> str:
    """The explanation under the heading of a step ("" when none)."""
    hint = STEP_HINTS.get(step_id, "")
    return _fill(tr(hint), _defaults(placeholders)) if hint else ""


def field_label(name: str) -> str:
    """The label of a form field."""
    return tr(FIELD_LABELS.get(name, name.replace("_", " ").capitalize()))


def message(key: str, placeholders: Mapping[str, Any] | None = None) -> tuple[str, str]:
    """(what happened, what to do next) for an error / warning / abort key, in plain words."""
    entry = MESSAGES.get(key, MESSAGES["unknown"])
    values = _defaults(placeholders)
    return (_fill(QCoreApplication.translate("provisioning", entry.text), values),
            _fill(QCoreApplication.translate("provisioning", entry.next_step), values))


def message_text(key: str, placeholders: Mapping[str, Any] | None = None) -> str:
    """The whole message of ``key`` as one paragraph."""
    what, next_step = message(key, placeholders)
    return f"{what} {next_step}"


def progress_text(key: str, placeholders: Mapping[str, Any] | None = None) -> str:
    """The text of a progress key."""
    text = PROGRESS.get(key, key)
    return _fill(QCoreApplication.translate("provisioning", text), _defaults(placeholders))


def signal_words(rssi: int | None) -> str:
    """A signal strength in words."""
    if rssi is None:
        return tr("not seen")
    if rssi >= -60:
        return tr("strong signal")
    if rssi >= -70:
        return tr("good signal")
    if rssi >= -80:
        return tr("fair signal")
    return tr("weak signal")


def network_details(info: Mapping[str, Any]) -> str:
    """One line about a network choice: signal, security and warnings."""
    parts: list[str] = []
    if info.get("seen_by_light"):
        parts.append(tr("the light sees it with a {signal}").format(
            signal=signal_words(info.get("light_rssi"))))
    elif "seen_by_light" in info:
        parts.append(tr("the light does not see it"))
    bands = info.get("pc_bands") or []
    if bands and set(bands) <= {"5"} and not info.get("seen_by_light"):
        parts.append(tr("5 GHz only: the light cannot use it"))
    security = info.get("security")
    if info.get("open"):
        parts.append(tr("open, no password"))
    elif security:
        parts.append(str(security))
        if security == "WPA3":
            parts.append(tr("WPA3 only: the light cannot use it"))
        elif security == "WPA2-Enterprise":
            parts.append(tr("enterprise: the light cannot use it"))
    if "rssi" in info and "seen_by_light" not in info:
        parts.append(signal_words(info.get("rssi")))
    return " · ".join(parts)
