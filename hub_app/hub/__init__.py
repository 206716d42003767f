"""The Qt-free application core: ``Hub``. The UI (``hub_app.ui``) is a thin view over it.

Create and start::

    hub = Hub()                      # or Hub.create_demo(lights=3, paired=2)
    await hub.start()                # settings, registry, keyring, backend, discovery, scheduler
    ...
    await hub.stop()

Live data (plain Python lists; ``subscribe(cb) -> unsubscribe``, ``cb(ListEvent)`` with
``kind`` in inserting/inserted, removing/removed, changed, resetting/reset, ``index``, ``item``):

- ``hub.lights``: ``LightList`` of ``LightView`` (device_id, name, room, online, on, brightness,
  rgb, pending, desired, last_seen, model, fw_version, addresses, backend, last_error), sorted by
  room then name. State is what the light reported; ``pending`` until it confirms.
- ``hub.inbox``: ``Inbox`` of ``DiscoveredItem`` (key, kind, device_id, ap_ssid, lan_address,
  model, fw_version, signal_dbm): lights on access points / the LAN, not paired, not ignored.
- ``hub.scenes``: ``SceneList`` of ``Scene``; ``hub.schedules``: ``ScheduleList`` of ``Schedule``.

Status: ``hub.status`` / ``subscribe_status(cb)`` (``HubStatus``: backend connection, label,
current activity); ``subscribe_notices(cb)`` (``Notice``: light offline/online, set-up finished,
schedule skipped, problems) for the tray and status bar.

Control (async; raise ``ControlError`` with ``message`` and ``next_step`` in plain words):
``set_light(id, on=, brightness=, rgb=)`` (returns the confirmed ``LightState``; rapid calls
coalesce), ``toggle(id)``, ``set_room(room, on=, ...) -> GroupResult``, ``save_scene(name,
device_ids=None)``, ``apply_scene(name) -> GroupResult``, ``delete_scene(name)``,
``put_schedule(schedule)``, ``delete_schedule(id)``, ``rename_light(id, name=, room=)``,
``forget_light(id)``.

Set-up and diagnostics: ``start_provisioning(light=None) -> ProvisioningFlow`` (the caller drives
it and closes it; the paired light appears in ``lights`` by itself), ``ignore(key)``,
``unignore_all()``, ``scan_now()``, ``await device_client(id) -> DeviceClient`` (caller closes),
``hub.registry``, ``hub.secrets``, ``hub.backend`` (``rpc()`` pass-through), ``hub.demo``
(``DemoEnvironment`` with ``simulator`` and ``world`` in demo mode, else None).

Settings: ``hub.settings`` (``HubSettings``), ``apply_settings(settings, broker_password=None)``,
``test_connection(settings, broker_password=None) -> ConnectionTest``,
``remember_network(ssid, password)``, ``forget_network(ssid)``.
"""

from .core import (
    ConnectionTest,
    ControlError,
    GroupResult,
    Hub,
    HubStatus,
    Notice,
    describe_command_error,
)
from .evented import EventedList, ListEvent
from .inbox import DiscoveredItem, Inbox
from .lights import LightList, LightView
from .scenes import Scene, SceneLight, SceneList
from .schedules import Firing, Schedule, ScheduleList, Scheduler
from .settings import EmbeddedSettings, HubSettings, MqttSettings

__all__ = [
    "ConnectionTest",
    "ControlError",
    "DiscoveredItem",
    "EmbeddedSettings",
    "EventedList",
    "Firing",
    "GroupResult",
    "Hub",
    "HubSettings",
    "HubStatus",
    "Inbox",
    "LightList",
    "LightView",
    "ListEvent",
    "MqttSettings",
    "Notice",
    "Scene",
    "SceneLight",
    "SceneList",
    "Schedule",
    "ScheduleList",
    "Scheduler",
    "describe_command_error",
]
