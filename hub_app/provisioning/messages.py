"""Plain-words English text for every key the provisioning flow returns.

``MESSAGES[key]`` is a ``Message(text, next_step)`` for error, warning and abort keys;
``PROGRESS[key]`` is the text of a progress key. Placeholders such as ``{ssid}`` are filled from
the result's ``description_placeholders`` / ``message_placeholders`` with ``render()``. The UI
translates keys with its own tables; the CLI prints these.

One mistake, one message (pain point 3): each key says what happened and what to do next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MESSAGES", "PROGRESS", "Message", "render", "render_progress"]


@dataclass(frozen=True)
class Message:
    text: str
    next_step: str


MESSAGES: dict[str, Message] = {
    # --- finding and joining the light ------------------------------------------------------
    "no_lights_found": Message(
        "No light waiting for set-up was found nearby.",
        "Plug the light in and wait until it blinks slowly (about 30 seconds), then search again. "
        "A light that was set up before must be reset first: hold its button for 10 seconds.",
    ),
    "light_gone": Message(
        "The light {light} is no longer in the list of nearby networks.",
        "Check that it is plugged in and blinking slowly, then search again.",
    ),
    "ap_unreachable": Message(
        "Your PC joined {light} but cannot talk to the light.",
        "Turn off any VPN and unplug the network cable for a moment (the PC may be sending "
        "traffic out of another connection), then try again.",
    ),
    "ap_join_failed": Message(
        "Your PC could not join the light's network {light}.",
        "Move closer to the light and try again. If it keeps failing, join {light} yourself in "
        "your Wi-Fi menu and press Try again.",
    ),
    "not_a_hublight": Message(
        "The device on {light} is not a HubLight (it says it is \"{app}\").",
        "Only HubLight lights can be set up here. Choose another light.",
    ),
    # --- setup code -------------------------------------------------------------------------
    "setup_code_format": Message(
        "A setup code has 8 letters and digits, like ABCD-2345.",
        "Type the code printed on the label of the light (the dash is optional).",
    ),
    "setup_code_invalid": Message(
        "That setup code is not the one of this light ({device_id}).",
        "Check the label on the light {device_id} and type its code again. "
        "Codes never contain the letters O, I or L, nor the digits 0 or 1.",
    ),
    "setup_code_rate_limited": Message(
        "Too many wrong setup codes: the light is refusing new tries for a moment.",
        "Wait {seconds} seconds, then type the code from the label again.",
    ),
    # --- name -------------------------------------------------------------------------------
    "name_required": Message("The light needs a name.", "Type a name, for example \"Desk lamp\"."),
    "name_too_long": Message("That name is too long.", "Use at most 64 characters."),
    "room_too_long": Message("That room name is too long.", "Use at most 64 characters."),
    # --- home network -----------------------------------------------------------------------
    "ssid_required": Message("Choose the network the light should join.",
                             "Pick your home network from the list, or type its name."),
    "ssid_too_long": Message(
        "That network name is longer than 32 bytes, which no Wi-Fi device can use.",
        "Check the name in your router's settings and type it exactly.",
    ),
    "ssid_wpa3_only": Message(
        "{ssid} accepts WPA3 only, which the light does not support.",
        "Turn on \"WPA2/WPA3 mixed\" (transition) mode in your router, or choose another network.",
    ),
    "ssid_enterprise": Message(
        "{ssid} is an enterprise network (user name and password), which the light does not "
        "support.",
        "Choose a home network that uses a single password, or a guest network.",
    ),
    "ssid_wep": Message(
        "{ssid} uses WEP, an old and unsafe security mode the light does not support.",
        "Switch your router to WPA2 and try again, or choose another network.",
    ),
    "ssid_5ghz_only": Message(
        "{ssid} seems to be a 5 GHz-only network. The light can only use 2.4 GHz networks.",
        "Choose the 2.4 GHz network of your router (often the same name without \"5G\"), or turn "
        "on 2.4 GHz in your router. Continue only if you are sure {ssid} also has 2.4 GHz.",
    ),
    "ssid_hidden": Message(
        "The light cannot see a network called {ssid}. It may be hidden or out of range.",
        "Check the spelling (capital letters count). Continue if {ssid} is a hidden network.",
    ),
    "ssid_not_seen_by_light": Message(
        "Your PC sees {ssid}, but the light does not. It may be out of range of the light, or on "
        "5 GHz only.",
        "Move the light closer to the router, or choose another network. Continue if you are "
        "sure the light can reach {ssid}.",
    ),
    "weak_signal": Message(
        "The light sees {ssid} only weakly; it may drop off now and then.",
        "Move the light closer to the router if you can, or continue.",
    ),
    "password_required": Message("{ssid} needs a password.",
                                 "Type the Wi-Fi password of {ssid}."),
    "password_length": Message(
        "A Wi-Fi password has 8 to 63 characters (or exactly 64 hex digits).",
        "Check the password and type it again.",
    ),
    "password_for_open_network": Message(
        "{ssid} is an open network: it has no password, so the one you typed will not be used.",
        "Continue, or choose another network.",
    ),
    "unsupported_characters": Message(
        "The light can only use Wi-Fi passwords made of plain letters, digits, spaces and "
        "symbols (no accented letters, emoji or invisible characters), and network names "
        "without invisible characters.",
        "Change the Wi-Fi password in your router to one without such characters, or choose "
        "another network.",
    ),
    "rejected_by_light": Message(
        "The light refused these settings: {detail}.",
        "Check the network name and password, then try again.",
    ),
    # --- what the light reported back -----------------------------------------------------
    "wrong_password": Message(
        "The light could not join {ssid}: the password is wrong.",
        "Type the Wi-Fi password of {ssid} again (capital letters count). The light is waiting; "
        "no reset is needed.",
    ),
    "network_not_found": Message(
        "The light could not find {ssid}.",
        "Check that {ssid} is a 2.4 GHz network and in range of the light, then try again.",
    ),
    "no_ip": Message(
        "The light joined {ssid} but your router did not give it an address.",
        "Restart the router, check that it has free addresses (DHCP) and does not block new "
        "devices, then try again.",
    ),
    "unsupported_network": Message(
        "The light cannot use the security mode of {ssid}.",
        "Turn on WPA2 (or WPA2/WPA3 mixed) mode in your router, or choose another network.",
    ),
    "not_confirmed": Message(
        "The light joined {ssid}, but this PC could not find it there.",
        "Make sure this PC is connected to {ssid} (not to a guest network or VPN) and that "
        "the router lets devices on it reach each other (no \"AP/client isolation\"), then try "
        "again.",
    ),
    # --- finding the light on the home network ----------------------------------------------
    "light_not_found_on_lan": Message(
        "The light did not show up on your home network, and it is not back on its own "
        "network either.",
        "Check that the light is plugged in. If it blinks slowly, search again; if it is steady, "
        "make sure this PC is on {ssid}, allow \"Home Hub\" through the firewall, and try again. "
        "As a last resort, hold the light's button for 10 seconds and set it up again.",
    ),
    "pc_not_on_home_network": Message(
        "This PC is not connected to {ssid}, so it cannot find the light there.",
        "Connect this PC to {ssid}, then try again.",
    ),
    "pairing_failed": Message(
        "The light was found on your network but did not accept the pairing.",
        "Try again. If it keeps failing, hold the light's button for 10 seconds and set it up "
        "again.",
    ),
    "keyring_failed": Message(
        "The light's key could not be saved in the system's password store.",
        "Unlock the password store (keyring) of your desktop and try again.",
    ),
    # --- general ----------------------------------------------------------------------------
    "timeout": Message(
        "This took longer than it should ({step}).",
        "Check that the light is plugged in and close to the PC, then try again.",
    ),
    "cancelled": Message("Set-up was cancelled.",
                         "Your PC is back on its own network. Start again whenever you like."),
    "device_error": Message(
        "The light answered in an unexpected way ({detail}).",
        "Try again. If it keeps happening, export the set-up report and send it to support.",
    ),
    "unknown": Message("Something unexpected went wrong.",
                       "Try again. If it keeps happening, export the set-up report."),
}

PROGRESS: dict[str, str] = {
    "scanning_lights": "Looking for lights nearby",
    "joining_ap": "Connecting this PC to {light}",
    "rejoining_ap": "This PC dropped off {light}; connecting again",
    "join_ap_manual": "Join the network {light} in your Wi-Fi menu; we will continue as soon as "
                      "we can reach the light",
    "reaching_light": "Talking to the light",
    "checking_code": "Checking the setup code",
    "scanning_networks": "Looking for Wi-Fi networks the light can see",
    "sending": "Sending the network settings to the light",
    "light_restarting": "The light is restarting",
    "returning_pc": "Putting this PC back on {home}",
    "joining_network": "Joining {ssid}",
    "looking_on_lan": "Looking for the light on your network",
    "checking_light_ap": "The light did not show up yet; checking whether it is back on its own "
                         "network",
    "pairing": "Pairing the light with this hub",
}


def _fill(text: str, placeholders: Mapping[str, str]) -> str:
    class _Keep(dict[str, str]):
        def __missing__(self, key: str) -> str:
            return "{" + key + "}"

    return text.format_map(_Keep(placeholders))


def render(key: str, placeholders: Mapping[str, str] | None = None) -> str:
    """The English text and next step of ``key`` with placeholders filled (for the CLI)."""
    message = MESSAGES.get(key, MESSAGES["unknown"])
    values = dict(placeholders or {})
    values.setdefault("ssid", "your home network")
    values.setdefault("light", "the light")
    return f"{_fill(message.text, values)} {_fill(message.next_step, values)}"


def render_progress(key: str, placeholders: Mapping[str, str] | None = None) -> str:
    """The English text of a progress key with placeholders filled."""
    return _fill(PROGRESS.get(key, key), dict(placeholders or {}))
