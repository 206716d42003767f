# ruff: noqa: E501  (captured tool output keeps its real line length)
"""Wi-Fi adapters on the real output formats of nmcli, netsh and networksetup / system_profiler.

The PC's Wi-Fi radio cannot run here, so the adapters get a recording CommandRunner that answers
with captured-format output; the real SubprocessRunner is tested on real programs.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence

import pytest

from hub_app.discovery.wifi import (
    AdapterUnavailable,
    CommandResult,
    CommandTimeoutError,
    ManualAdapter,
    NetshAdapter,
    NetworkNotFound,
    NetworkSetupAdapter,
    NmcliAdapter,
    PermissionDenied,
    SubprocessRunner,
    WrongPassword,
    choose_adapter,
)
from hub_app.discovery.wifi.base import AUTH_OPEN, AUTH_WPA2_PSK, CommandNotFoundError
from hub_app.discovery.wifi.macos import parse_airport_scan, parse_system_profiler
from hub_app.discovery.wifi.netsh import build_profile_xml, parse_show_networks
from hub_app.discovery.wifi.nmcli import parse_wifi_list, split_terse

SECRET = "p@ss w=rd+&'\"secret"


class RecordingRunner:
    """Answers commands from a script (first matching argv prefix) and records every call,
    including what files named on the command line contained at that moment."""

    def __init__(self, script: list[tuple[Sequence[str], CommandResult | Exception]]) -> None:
        self.script = script
        self.calls: list[tuple[str, ...]] = []
        self.file_contents: dict[str, str] = {}

    async def run(self, argv: Sequence[str], *, timeout_s: float = 60.0,
                  stdin: bytes | None = None) -> CommandResult:
        argv = tuple(argv)
        self.calls.append(argv)
        self.file_contents.update(_files_named_in(argv))
        for prefix, answer in self.script:
            if argv[: len(prefix)] == tuple(prefix):
                if isinstance(answer, Exception):
                    raise answer
                return CommandResult(argv, answer.returncode, answer.stdout, answer.stderr)
        return CommandResult(argv, 0, "")


def _files_named_in(argv: Sequence[str]) -> dict[str, str]:
    contents = {}
    for arg in argv:
        path = arg.split("=", 1)[-1]
        if "hubwifi-" in path and os.path.isfile(path):
            with open(path, encoding="utf-8") as handle:
                contents[path] = handle.read()
    return contents


def _exists(paths: list[str]) -> bool:
    return any(os.path.exists(p) for p in paths)


def ok(stdout: str = "") -> CommandResult:
    return CommandResult((), 0, stdout)


def failed(code: int, stderr: str, stdout: str = "") -> CommandResult:
    return CommandResult((), code, stdout, stderr)


# --- the real runner ------------------------------------------------------------------------------
async def test_subprocess_runner_runs_a_real_command() -> None:
    result = await SubprocessRunner().run(["printf", "a\\:b:%s\\n", "é x"], timeout_s=30)
    assert result.returncode == 0
    assert result.stdout == "a\\:b:é x\n"
    assert split_terse(result.stdout.strip()) == ["a:b", "é x"]


async def test_subprocess_runner_feeds_stdin_and_reports_exit_codes() -> None:
    result = await SubprocessRunner().run(
        [sys.executable, "-c", "import sys; d=sys.stdin.read(); print(d.upper()); sys.exit(3)"],
        stdin=b"hello", timeout_s=60)
    assert (result.returncode, result.stdout.strip()) == (3, "HELLO")


async def test_subprocess_runner_missing_program_and_timeout() -> None:
    with pytest.raises(CommandNotFoundError):
        await SubprocessRunner().run(["no-such-program-hubwifi"], timeout_s=10)
    with pytest.raises(CommandTimeoutError):
        await SubprocessRunner().run(["sleep", "30"], timeout_s=0.3)


# --- nmcli ----------------------------------------------------------------------------------------
# nmcli -t -f IN-USE,BSSID,SSID,CHAN,FREQ,SIGNAL,SECURITY dev wifi list (NetworkManager 1.4x)
NMCLI_SCAN = "\n".join([
    r"*:3C\:37\:86\:15\:AD\:F9:HomeNet:6:2437 MHz:84:WPA2",
    r" :3C\:37\:86\:15\:AD\:FA:HomeNet:36:5180 MHz:70:WPA2",
    r" :02\:11\:22\:1A\:2B\:3C:HubLight-1A2B3C:6:2437 MHz:99:",
    r" :5C\:E3\:0E\:C2\:85\:DA:Café & Bar's Wi-Fi \\o/ 1\:2:1:2412 MHz:40:WPA1 WPA2",
    r" :C0\:FF\:D5\:D2\:7A\:F3::11:2462 MHz:30:WPA2",
    r" :A8\:03\:2A\:B1\:23\:45:Secure3:37:6135 MHz:52:WPA3",
    r" :00\:67\:EB\:2A\:A7\:3B:Office:1:2412 MHz:22:WPA2 802.1X",
    r"garbage line without enough fields",
])


async def test_nmcli_scan_parses_terse_output() -> None:
    networks = parse_wifi_list(NMCLI_SCAN)
    assert len(networks) == 7  # the garbage line is skipped
    home24, home5, light, cafe, hidden, wpa3, office = networks
    assert (home24.ssid, home24.bssid, home24.band, home24.channel, home24.signal_percent) == (
        "HomeNet", "3c:37:86:15:ad:f9", "2.4", 6, 84)
    assert home24.auth_code == AUTH_WPA2_PSK
    assert home5.band == "5"
    assert (light.ssid, light.security, light.auth_code) == ("HubLight-1A2B3C", "open", AUTH_OPEN)
    assert cafe.ssid == "Café & Bar's Wi-Fi \\o/ 1:2"  # escaped backslash and colon
    assert cafe.auth_code == 4
    assert hidden.hidden and hidden.ssid == ""
    assert (wpa3.band, wpa3.auth_code) == ("6", 6)
    assert office.auth_code == 5


async def test_nmcli_connect_uses_a_never_default_profile_and_keeps_the_password_off_argv() -> None:
    runner = RecordingRunner([
        (("nmcli", "-t", "-f", "NAME,UUID,TYPE,DEVICE", "con", "show", "--active"), ok(
            "HomeNet:0b8f3c1e-8d7a-4a61-9d5e-1f3a2b4c5d6e:802-11-wireless:wlp2s0\n"
            "Wired connection 1:5f2e1d3c-aaaa-bbbb-cccc-123456789abc:802-3-ethernet:enp3s0\n")),
        (("nmcli", "connection", "delete"), failed(10, "Error: unknown connection 'x'.")),
    ])
    adapter = NmcliAdapter(runner)
    await adapter.connect("Home Wi-Fi", SECRET)
    add = next(c for c in runner.calls if c[1:3] == ("connection", "add"))
    assert add[add.index("ipv4.never-default"):][:2] == ("ipv4.never-default", "yes")
    assert add[add.index("ssid") + 1] == "Home Wi-Fi"
    assert add[add.index("ifname") + 1] == "wlp2s0"
    up = next(c for c in runner.calls if "up" in c)
    assert "passwd-file" in up
    assert all(SECRET not in " ".join(call) for call in runner.calls)
    assert list(runner.file_contents.values()) == [f"802-11-wireless-security.psk:{SECRET}\n"]
    assert not _exists(list(runner.file_contents))  # deleted again

    await adapter.restore_previous()
    assert ("nmcli", "--wait", "45", "connection", "up", "uuid",
            "0b8f3c1e-8d7a-4a61-9d5e-1f3a2b4c5d6e") in runner.calls
    assert runner.calls[-1] == ("nmcli", "connection", "delete", "id", "HubLight setup Home Wi-Fi")


@pytest.mark.parametrize(
    ("code", "stderr", "error_type"),
    [
        (10, "Error: No network with SSID 'HubLight-1A2B3C' found.", NetworkNotFound),
        (4, "Error: Connection activation failed: (7) Secrets were required, but not provided.",
         WrongPassword),
        (8, "Error: NetworkManager is not running.", AdapterUnavailable),
        (1, "Error: Failed to add 'x' connection: Insufficient privileges", PermissionDenied),
        (1, "Error: Not authorized to control networking.", PermissionDenied),
    ],
)
async def test_nmcli_errors_are_classified(code: int, stderr: str, error_type: type) -> None:
    runner = RecordingRunner([(("nmcli", "--wait"), failed(code, stderr + f" {SECRET}")),
                              (("nmcli", "connection", "add"), failed(code, stderr))])
    with pytest.raises(error_type) as caught:
        await NmcliAdapter(runner).connect("HubLight-1A2B3C", SECRET)
    assert caught.value.message and caught.value.next_step
    assert SECRET not in str(caught.value) + caught.value.detail


async def test_nmcli_missing_and_current_ssid() -> None:
    runner = RecordingRunner([(("nmcli",), CommandNotFoundError("nmcli"))])
    with pytest.raises(AdapterUnavailable):
        await NmcliAdapter(runner).scan()
    runner = RecordingRunner([(("nmcli", "-t", "-f", "IN-USE,SSID"),
                               ok(" :Neighbour\n*:Home\\:Net\n"))])
    assert await NmcliAdapter(runner).current_ssid() == "Home:Net"


# --- netsh ----------------------------------------------------------------------------------------
NETSH_NETWORKS = """
Interface name : Wi-Fi
There are 3 networks currently visible.

SSID 1 : HomeNet
    Network type            : Infrastructure
    Authentication          : WPA2-Personal
    Encryption              : CCMP
    BSSID 1                 : 3c:37:86:15:ad:f9
         Signal             : 92%
         Radio type         : 802.11ax
         Band               : 2.4 GHz
         Channel            : 6
         Basic rates (Mbps) : 1 2 5.5 11
         Other rates (Mbps) : 6 9 12 18 24 36 48 54
    BSSID 2                 : 3c:37:86:15:ad:fa
         Signal             : 80%
         Radio type         : 802.11ax
         Band               : 5 GHz
         Channel            : 36
         Basic rates (Mbps) : 6 12 24
         Other rates (Mbps) : 9 18 36 48 54

SSID 2 : HubLight-1A2B3C
    Network type            : Infrastructure
    Authentication          : Open
    Encryption              : None
    BSSID 1                 : 02:11:22:1a:2b:3c
         Signal             : 99%
         Radio type         : 802.11n
         Channel            : 6
         Basic rates (Mbps) : 1 2 5.5 11
         Other rates (Mbps) : 6 9 12 18 24 36 48 54

SSID 3 :
    Network type            : Infrastructure
    Authentication          : WPA3-Personal
    Encryption              : CCMP
    BSSID 1                 : c0:ff:d5:d2:7a:f3
         Signal             : 31%
         Radio type         : 802.11ac
         Channel            : 149
"""

NETSH_INTERFACES = """
There is 1 interface on the system:

    Name                   : Wi-Fi
    Description            : Intel(R) Wi-Fi 6 AX201 160MHz
    GUID                   : 2f0c4e3b-1a2b-4c3d-9e8f-0a1b2c3d4e5f
    Physical address       : 8c:c6:81:aa:bb:cc
    Interface type         : Primary
    State                  : connected
    SSID                   : {ssid}
    BSSID                  : 3c:37:86:15:ad:f9
    Network type           : Infrastructure
    Radio type             : 802.11ax
    Authentication         : WPA2-Personal
    Cipher                 : CCMP
    Connection mode        : Auto Connect
    Channel                : 6
    Receive rate (Mbps)    : 573.5
    Transmit rate (Mbps)   : 573.5
    Signal                 : 92%
    Profile                : {ssid}

    Hosted network status  : Not available
"""


def test_netsh_scan_parses_every_bssid() -> None:
    networks = parse_show_networks(NETSH_NETWORKS)
    assert [(n.ssid, n.bssid, n.band, n.channel, n.signal_percent) for n in networks] == [
        ("HomeNet", "3c:37:86:15:ad:f9", "2.4", 6, 92),
        ("HomeNet", "3c:37:86:15:ad:fa", "5", 36, 80),
        ("HubLight-1A2B3C", "02:11:22:1a:2b:3c", "2.4", 6, 99),
        ("", "c0:ff:d5:d2:7a:f3", "5", 149, 31),
    ]
    assert networks[0].auth_code == AUTH_WPA2_PSK
    assert networks[2].auth_code == AUTH_OPEN
    assert networks[3].hidden and networks[3].auth_code == 6


def test_netsh_profile_xml_escapes_special_characters() -> None:
    import xml.etree.ElementTree as ET

    ssid = "Café & Bar's \"Wi-Fi\""
    root = ET.fromstring(build_profile_xml(ssid, SECRET))
    ns = {"w": "http://www.microsoft.com/networking/WLAN/profile/v1"}
    assert root.findtext("w:SSIDConfig/w:SSID/w:name", namespaces=ns) == ssid
    assert bytes.fromhex(root.findtext("w:SSIDConfig/w:SSID/w:hex", namespaces=ns) or "") == \
        ssid.encode()
    assert root.findtext("w:MSM/w:security/w:sharedKey/w:keyMaterial", namespaces=ns) == SECRET
    assert root.findtext("w:connectionMode", namespaces=ns) == "manual"


async def test_netsh_connect_adds_a_profile_from_a_file_and_waits_until_connected() -> None:
    state = {"ssid": "HomeNet"}

    class NetshWorld(RecordingRunner):
        async def run(self, argv: Sequence[str], *, timeout_s: float = 60.0,
                      stdin: bytes | None = None) -> CommandResult:
            result = await super().run(argv, timeout_s=timeout_s, stdin=stdin)
            if tuple(argv[2:3]) == ("connect",):
                state["ssid"] = argv[3].split("=", 1)[1]
                return ok("Connection request was completed successfully.")
            if tuple(argv[2:4]) == ("show", "interfaces"):
                return ok(NETSH_INTERFACES.format(ssid=state["ssid"]))
            return result

    runner = NetshWorld([])
    adapter = NetshAdapter(runner, poll_interval_s=0.01)
    assert await adapter.current_ssid() == "HomeNet"
    await adapter.connect("HubLight-1A2B3C")
    assert await adapter.current_ssid() == "HubLight-1A2B3C"
    add = next(c for c in runner.calls if c[2:4] == ("add", "profile"))
    assert add[4].startswith("filename=") and add[-1] == "interface=Wi-Fi"
    assert "<name>HubLight-1A2B3C</name>" in next(iter(runner.file_contents.values()))
    await adapter.restore_previous()
    assert ("netsh", "wlan", "connect", "name=HomeNet", "interface=Wi-Fi") in runner.calls
    assert runner.calls[-1] == ("netsh", "wlan", "delete", "profile", "name=HubLight-1A2B3C",
                                "interface=Wi-Fi")


@pytest.mark.parametrize(
    ("output", "error_type"),
    [
        ("Network shell commands need location permission to access WLAN information.",
         PermissionDenied),
        ("The Wireless AutoConfig Service (wlansvc) is not running.", AdapterUnavailable),
        ("There is no wireless interface on the system.", AdapterUnavailable),
        ('The network specified by profile "HubLight-1A2B3C" is not available to connect.',
         NetworkNotFound),
    ],
)
async def test_netsh_errors_are_classified(output: str, error_type: type) -> None:
    runner = RecordingRunner([(("netsh",), failed(1, "", output))])
    with pytest.raises(error_type) as caught:
        await NetshAdapter(runner).scan()
    assert caught.value.next_step


async def test_netsh_join_that_never_connects_with_a_password_is_a_wrong_password() -> None:
    runner = RecordingRunner([
        (("netsh", "wlan", "show", "interfaces"), ok(NETSH_INTERFACES.format(ssid="HomeNet"))),
    ])
    adapter = NetshAdapter(runner, connect_timeout_s=0.05, poll_interval_s=0.01)
    with pytest.raises(WrongPassword) as caught:
        await adapter.connect("Neighbour", SECRET)
    assert SECRET not in str(caught.value)
    assert all(SECRET not in " ".join(c) for c in runner.calls)


# --- macOS ----------------------------------------------------------------------------------------
SYSTEM_PROFILER = {
    "SPAirPortDataType": [{
        "spairport_airport_interfaces": [
            {
                "_name": "en0",
                "spairport_status_information": "spairport_status_connected",
                "spairport_current_network_information": {
                    "_name": "HomeNet",
                    "spairport_network_channel": "36 (5GHz, 80MHz)",
                    "spairport_network_phymode": "802.11ax",
                    "spairport_network_type": "spairport_network_type_station",
                    "spairport_security_mode": "spairport_security_mode_wpa2_personal",
                    "spairport_signal_noise": "-52 dBm / -93 dBm",
                },
                "spairport_airport_other_local_wireless_networks": [
                    {
                        "_name": "HubLight-1A2B3C",
                        "spairport_network_channel": "6 (2GHz, 20MHz)",
                        "spairport_network_phymode": "802.11b/g/n",
                        "spairport_network_type": "spairport_network_type_station",
                        "spairport_security_mode": "spairport_security_mode_none",
                        "spairport_signal_noise": "-42 dBm / -90 dBm",
                    },
                    {"spairport_network_channel": "11 (2GHz, 20MHz)"},
                ],
            },
            {"_name": "awdl0"},
        ],
    }],
}

AIRPORT_S = """\
                            SSID BSSID             RSSI CHANNEL HT CC SECURITY (auth/unicast/group)
                 HubLight-1A2B3C 02:11:22:1a:2b:3c -42  6       Y  -- NONE
                      Latitude38 c0:ff:d5:d2:7a:f3 -85  11      Y  US WPA2(PSK/AES/AES)
                YouAreInfected-5 5c:e3:0e:c2:85:da -85  36      Y  US WPA(PSK/AES,TKIP/TKIP) WPA2(PSK/AES,TKIP/TKIP)
"""


def test_system_profiler_and_airport_parsers() -> None:
    networks = parse_system_profiler(json.dumps(SYSTEM_PROFILER))
    assert [(n.ssid, n.band, n.channel, n.signal_dbm, n.auth_code) for n in networks] == [
        ("HomeNet", "5", 36, -52, AUTH_WPA2_PSK),
        ("HubLight-1A2B3C", "2.4", 6, -42, AUTH_OPEN),
    ]  # the entry without a name is skipped
    with pytest.raises(ValueError):
        parse_system_profiler("<plist>not json</plist>")
    scan = parse_airport_scan(AIRPORT_S)
    assert [(n.ssid, n.bssid, n.signal_dbm, n.channel, n.auth_code) for n in scan] == [
        ("HubLight-1A2B3C", "02:11:22:1a:2b:3c", -42, 6, AUTH_OPEN),
        ("Latitude38", "c0:ff:d5:d2:7a:f3", -85, 11, AUTH_WPA2_PSK),
        ("YouAreInfected-5", "5c:e3:0e:c2:85:da", -85, 36, 4),
    ]


async def test_networksetup_connect_current_and_restore() -> None:
    current = {"ssid": "HomeNet"}

    class Mac(RecordingRunner):
        async def run(self, argv: Sequence[str], *, timeout_s: float = 60.0,
                      stdin: bytes | None = None) -> CommandResult:
            await super().run(argv, timeout_s=timeout_s, stdin=stdin)
            if argv[1] == "-listallhardwareports":
                return ok("\nHardware Port: Ethernet\nDevice: en1\nEthernet Address: a\n\n"
                          "Hardware Port: Wi-Fi\nDevice: en0\nEthernet Address: b\n")
            if argv[1] == "-getairportnetwork":
                return ok(f"Current Wi-Fi Network: {current['ssid']}\n")
            if argv[1] == "-setairportnetwork" and argv[3] == "Nowhere":
                return ok("Could not find network Nowhere.\n")
            if argv[1] == "-setairportnetwork" and argv[3] == "Neighbour":
                return ok("Failed to join network Neighbour.\nError: -3905  The operation "
                          "couldn't be completed.\n")
            if argv[1] == "-setairportnetwork":
                current["ssid"] = argv[3]
            return ok("")

    runner = Mac([])
    adapter = NetworkSetupAdapter(runner, airport_path=None)
    await adapter.connect("HubLight-1A2B3C")
    assert ("networksetup", "-setairportnetwork", "en0", "HubLight-1A2B3C") in runner.calls
    assert await adapter.current_ssid() == "HubLight-1A2B3C"
    await adapter.restore_previous()
    assert await adapter.current_ssid() == "HomeNet"
    with pytest.raises(NetworkNotFound):
        await adapter.connect("Nowhere")
    with pytest.raises(WrongPassword) as caught:
        await adapter.connect("Neighbour", SECRET)
    assert SECRET not in str(caught.value)


# --- choosing -------------------------------------------------------------------------------------
def test_choose_adapter_by_platform_and_command() -> None:
    def has(*names: str):  # type: ignore[no-untyped-def]
        return lambda name: f"/usr/bin/{name}" if name in names else None

    assert isinstance(choose_adapter(platform="linux", which=has("nmcli")), NmcliAdapter)
    assert isinstance(choose_adapter(platform="win32", which=has("netsh")), NetshAdapter)
    assert isinstance(choose_adapter(platform="darwin", which=has("networksetup")),
                      NetworkSetupAdapter)
    manual = choose_adapter(platform="linux", which=has())
    assert isinstance(manual, ManualAdapter) and not manual.is_automatic
