"""LightApp: the whole light. Boots from flash, runs Wi-Fi set-up, RPC servers, MQTT and mDNS,
and returns from ``run()`` when it wants to reboot (after shutting everything down cleanly).

Every task the app starts goes through ``spawn()`` and is kept in ``self.tasks`` so a shutdown (or
the simulator) can find them all.
"""

import asyncio

from hublight.auth import DigestAuth, setup_code_passwords
from hublight.config import Config
from hublight.light import ButtonLogic, Light
from hublight.logbuf import LogBuffer
from hublight.methods import register_methods
from hublight.ota import Ota
from hublight.rpc import Rpc
from hublight.store import Store
from hublight.wifi import WifiManager, boot_plan

try:
    from typing import TYPE_CHECKING, Any, Callable
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.board import Board

CONFIG_FILE = "config.json"
STATE_FILE = "state.json"
STATE_SAVE_INTERVAL_MS = 1000
BUTTON_POLL_MS = 50
DEFAULT_MODEL = "HL-S1"


def _log_capacity(board: "Board") -> int:
    """The board's ``log_lines()`` hint (1..1000), else 200."""
    try:
        lines = int(board.log_lines())
    except Exception:  # an older board without the hint
        return 200
    return lines if 1 <= lines <= 1000 else 200


class Notifier:
    """Fan-out of notification frames (NotifyStatus, NotifyEvent) to transports."""

    def __init__(self, log: LogBuffer) -> None:
        self.log = log
        self.subscribers: list[Any] = []

    def subscribe(self, fn: "Callable[[dict[str, Any]], Any]") -> "Callable[[], None]":
        """Call ``fn(frame)`` for every notification. -> unsubscribe()."""
        self.subscribers.append(fn)

        def unsubscribe() -> None:
            if fn in self.subscribers:
                self.subscribers.remove(fn)

        return unsubscribe

    def notify(self, frame: dict[str, Any]) -> None:
        for fn in list(self.subscribers):
            try:
                fn(frame)
            except Exception as exc:
                self.log.exception("notifier: subscriber failed", exc)


class LightApp:
    """One HubLight on a Board. ``await run()`` returns when the light reboots or is stopped."""

    def __init__(self, board: "Board") -> None:
        self.board = board
        self.log = LogBuffer(board.time, capacity=_log_capacity(board))
        mac = board.mac()
        self.mac_text = "".join("%02X" % b for b in mac)
        suffix = self.mac_text[-6:]
        self.device_id = "hublight-" + suffix.lower()
        self.model = DEFAULT_MODEL
        self.setup_code = ""
        self.boot_ms = board.ticks_ms()
        self._uptime_ms = 0
        self._uptime_tick = self.boot_ms
        self.store = Store(board, self.log)
        self.config = Config(self.device_id, "HubLight-" + suffix.upper())
        self.notifier = Notifier(self.log)
        self.auth = DigestAuth(self.device_id, board.ticks_ms, board.ticks_diff, self._passwords,
                               self._md5_allowed, self.log)
        self.rpc = Rpc(self.device_id, self.auth, self.log)
        self.light = Light(board, self._pixels, self._max_brightness, self._default_transition,
                           self.log)
        self.light.on_change = self._light_changed
        self.light.on_reserve = self.save_state
        self.wifi = WifiManager(board, self.config, self.log)
        self.wifi.on_ap = self._on_ap
        self.wifi.on_lan_up = self._on_lan_up
        self.wifi.on_lan_down = self._on_lan_down
        self.wifi.persist = self._persist_all
        self.ota = Ota(self)
        self.tasks: list[Any] = []
        self.servers: dict[str, Any] = {}  # iface -> {"server", "http", "host", "port"}
        self.mqtt_link: Any = None
        self._mqtt_task: Any = None
        self._mqtt_restart_wanted = False  # settings changed since the last (re)start
        self._mqtt_restarting = False  # a restart task runs (one at a time)
        self.mdns: Any = None
        self.lan_ip: "str | None" = None
        self.reboot_reason: "str | None" = None
        self.reboot_after_stop = True
        self.wiped = False
        self._done = asyncio.Event()
        self._stopped = asyncio.Event()
        self._state_dirty = False
        self._state_wake = asyncio.Event()
        register_methods(self.rpc, self)

    # --- small accessors used by other modules --------------------------------------------
    def _passwords(self) -> list[str]:
        secret = self.config["hub.secret"]
        if secret:
            return [secret]
        return setup_code_passwords(self.setup_code) if self.setup_code else []

    def _md5_allowed(self) -> bool:
        return bool(self.config["sys.auth_md5"])

    def _pixels(self) -> int:
        return int(self.config["light.pixels"])

    def _max_brightness(self) -> int:
        return int(self.config["light.max_brightness"])

    def _default_transition(self) -> int:
        return int(self.config["light.default_transition_ms"])

    def source_of(self, ctx: dict[str, Any]) -> str:
        """The light status ``source`` for a request context."""
        return ctx.get("source") or ("mqtt" if ctx.get("transport") == "mqtt" else "rpc")

    def mqtt_connected(self) -> bool:
        link = self.mqtt_link
        return bool(link is not None and getattr(link, "connected", False))

    def uptime_ms(self) -> int:
        """Milliseconds since boot. MicroPython's ticks wrap every 2**30 ms and ticks_diff is
        only right within half of that (~6.2 days), so the uptime is accumulated from short
        differences (the button loop calls this every 50 ms)."""
        now = self.board.ticks_ms()
        self._uptime_ms += self.board.ticks_diff(now, self._uptime_tick)
        self._uptime_tick = now
        return self._uptime_ms

    def spawn(self, coro: Any) -> Any:
        """Start a task owned by the app (cancelled at shutdown)."""
        task = asyncio.create_task(coro)
        self.tasks.append(task)
        return task

    # --- persistence ----------------------------------------------------------------------
    def save_config(self) -> None:
        if self.wiped:
            return
        self.store.save(CONFIG_FILE, self.config.saved_tree())
        self.log.info("config saved")

    def save_state(self, clean: bool = False) -> None:
        """Write state.json (``clean``: at shutdown, see ``Light.saved``)."""
        if self.wiped:
            return
        self._state_dirty = False
        self.store.save(STATE_FILE, {"light": self.light.saved(clean), "wifi": self.wifi.saved()})

    def _persist_all(self) -> None:
        self.save_config()
        self.save_state()

    async def _state_saver(self) -> None:
        """Debounced state writes: at most one per STATE_SAVE_INTERVAL_MS."""
        while True:
            await self._state_wake.wait()
            self._state_wake.clear()
            if self._state_dirty:
                try:
                    self.save_state()
                except Exception as exc:
                    self.log.exception("saving state failed", exc)
            await asyncio.sleep(STATE_SAVE_INTERVAL_MS / 1000)

    # --- notifications --------------------------------------------------------------------
    def _light_changed(self, status: dict[str, Any]) -> None:
        self._state_dirty = True
        self._state_wake.set()
        self.board.emit("state_changed", {"status": status})
        self.notifier.notify({"src": self.device_id, "method": "NotifyStatus",
                              "params": {"ts": self.board.time(), "light:0": status}})

    def notify_event(self, event: str, fields: "dict[str, Any] | None" = None) -> None:
        """Send ``NotifyEvent`` with one sys event (extra fields go into the event object)."""
        item: dict[str, Any] = {"component": "sys", "event": event}
        if fields:
            item.update(fields)
        self.notifier.notify({"src": self.device_id, "method": "NotifyEvent",
                              "params": {"ts": self.board.time(), "events": [item]}})

    def config_changed(self, keys: list[str]) -> None:
        """Apply what can change at run time and tell subscribers."""
        if not keys:
            return
        self.log.info("config changed: %s" % ", ".join(keys))  # key names only, never values
        if "sys.log_level" in keys:
            self.log.set_level(self.config["sys.log_level"])
        for key in keys:
            if key.startswith("light."):
                self.light.refresh()
                break
        if "hub.secret" in keys and self.mdns is not None:
            self._update_mdns()
        for key in keys:
            if key.startswith("mqtt.") or key.startswith("aws."):
                self._restart_mqtt_soon()
                break
        self.notify_event("config_changed", {"keys": keys})

    def _restart_mqtt_soon(self) -> None:
        """MQTT settings changed: on the LAN, stop the link cleanly (``offline``) and start it
        again with the new settings (not at all when disabled). Runs after the reply."""
        if self.lan_ip is None:
            return  # started with the current settings when the LAN comes up
        self._mqtt_restart_wanted = True
        if not self._mqtt_restarting:
            self._mqtt_restarting = True
            self.spawn(self._restart_mqtt())

    async def _restart_mqtt(self) -> None:
        try:
            while self._mqtt_restart_wanted:
                self._mqtt_restart_wanted = False  # changes while stopping: one more round
                await asyncio.sleep(0)
                await self._stop_mqtt()
                if self.lan_ip is not None and self.reboot_reason is None:
                    self.log.info("mqtt: settings changed, restarting the link")
                    self._start_mqtt()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("mqtt: restart failed", exc)
        finally:
            self._mqtt_restarting = False

    # --- reboot / stop --------------------------------------------------------------------
    def request_reboot(self, delay_ms: int = 0, reason: str = "rpc") -> None:
        """Reboot after ``delay_ms`` (the RPC reply goes out first). Further requests get 418."""
        if self.reboot_reason is not None:
            return
        self.reboot_reason = reason
        self.rpc.shutting_down = True
        self.log.info("reboot requested (%s)" % reason)
        self.notify_event("reboot_pending")
        self.spawn(self._reboot_later(delay_ms))

    async def _reboot_later(self, delay_ms: int) -> None:
        await asyncio.sleep(max(delay_ms, 10) / 1000)  # let the reply leave first
        self._done.set()

    def factory_reset(self, source: str) -> None:
        """Forget user config, state, the LAN secret and Wi-Fi; keep factory data; reboot."""
        self.log.warn("factory reset (%s)" % source)
        self.wiped = True
        self.store.remove(CONFIG_FILE)
        self.store.remove(STATE_FILE)
        self.board.emit("factory_reset", {"source": source})
        self.request_reboot(500 if source == "rpc" else 0, "factory_reset")

    async def stop(self) -> None:
        """Shut down cleanly without asking the board to reboot; returns when ``run()`` ends."""
        self.reboot_after_stop = False
        if self.reboot_reason is None:
            self.reboot_reason = "stop"
            self.rpc.shutting_down = True
        self._done.set()
        await self._stopped.wait()

    # --- boot -----------------------------------------------------------------------------
    def _load(self) -> None:
        factory = self.board.factory()
        self.setup_code = str(factory.get("setup_code", ""))
        self.model = str(factory.get("model") or DEFAULT_MODEL)
        self.config.load_saved(self.store.load(CONFIG_FILE, None), self.log)
        self.log.set_level(self.config["sys.log_level"])
        state = self.store.load(STATE_FILE, None)
        if isinstance(state, dict):
            self.light.restore(state.get("light"))
            self.wifi.restore(state.get("wifi"))
        else:
            self.light.restore({})

    async def run(self) -> None:
        """The light's life from power-on to the reboot request."""
        try:
            self._load()
            self.log.info("boot: %s fw %s" % (self.device_id, self.board.fw_version()))
            if self.ota.boot_check():
                self.reboot_reason = "ota_rollback"
                self.board.emit("rebooting", {"reason": self.reboot_reason})
                self.board.reboot()
                return
            self.spawn(self.light.run())
            self.spawn(self._state_saver())
            self.spawn(self._button_loop())
            self.spawn(self.ota.commit_watchdog())
            plan = boot_plan(self.wifi.setup_state, self.config["wifi.sta.enable"],
                             self.config["wifi.sta.ssid"], self.config["wifi.ap.enable"])
            if plan["ap"]:
                await self.wifi.start_ap()
            self.board.emit("started", {"fw_version": self.board.fw_version(),
                                        "setup_state": self.wifi.setup_state,
                                        "ap_ip": self.wifi.ap_ip})
            self.spawn(self._wifi_task(plan))
            await self._done.wait()
            await self._shutdown()
        finally:
            await self._cancel_tasks()
            self._stopped.set()
        if self.reboot_after_stop:
            self.board.reboot()

    async def _wifi_task(self, plan: dict[str, Any]) -> None:
        try:
            await self.wifi.run(plan)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("wifi: state machine failed", exc)

    async def _button_loop(self) -> None:
        logic = ButtonLogic()
        while True:
            await asyncio.sleep(BUTTON_POLL_MS / 1000)
            self.uptime_ms()  # keeps the uptime right across the ticks wrap-around
            try:
                event = logic.update(self.board.button_pressed(), self.board.ticks_ms(),
                                     self.board.ticks_diff)
            except Exception as exc:
                self.log.exception("button: read failed", exc)
                continue
            if event == "short":
                self.light.toggle("button")
            elif event == "long":
                self.factory_reset("button")

    async def _shutdown(self) -> None:
        reason = self.reboot_reason or "stop"
        self.log.info("shutting down (%s)" % reason)
        if not self.wiped and (self._state_dirty or self.light.rev_floor != self.light.rev):
            try:
                self.save_state(clean=True)
            except Exception as exc:
                self.log.exception("saving state failed", exc)
        await self._stop_lan_services()
        for iface in list(self.servers):
            await self._stop_server(iface)
        if self.reboot_after_stop:
            self.board.emit("rebooting", {"reason": reason})

    async def _cancel_tasks(self) -> None:
        current = None
        try:
            current = asyncio.current_task()
        except Exception:
            current = None
        for task in self.tasks:
            if task is not current:
                task.cancel()
        for task in self.tasks:
            if task is current:
                continue
            try:
                await task
            except BaseException:  # cancelled or failed: either way it is gone
                pass
        self.tasks = []

    # --- servers and LAN services ---------------------------------------------------------
    def _dispatcher(self, iface: str) -> Any:
        rpc = self.rpc

        async def dispatch(frame: Any, ctx: "dict[str, Any] | None" = None) -> Any:
            call_ctx = dict(ctx) if ctx else {}
            call_ctx["iface"] = iface
            return await rpc.dispatch(frame, call_ctx)

        return dispatch

    async def _start_server(self, iface: str) -> None:
        if iface in self.servers:
            return
        try:
            from hublight.httpd import HttpServer
        except ImportError as exc:
            self.log.exception("http: server unavailable", exc)
            return
        http = HttpServer(self._dispatcher(iface), self.notifier, log=self.log, iface=iface)
        try:
            server, host, port = await self.board.start_server(iface, http.handle)
        except Exception as exc:
            self.log.exception("http: cannot listen on %s" % iface, exc)
            return
        self.servers[iface] = {"server": server, "http": http, "host": host, "port": port}
        self.log.info("rpc server on %s at %s:%s" % (iface, host, port))

    async def _stop_server(self, iface: str) -> None:
        entry = self.servers.pop(iface, None)
        if entry is None:
            return
        try:
            entry["server"].close()
            closer = getattr(entry["http"], "close_all", None)
            if closer is not None:
                result = closer()
                if hasattr(result, "send"):
                    await asyncio.wait_for(result, 5)
            await asyncio.wait_for(entry["server"].wait_closed(), 5)
        except Exception as exc:
            self.log.exception("http: closing %s failed" % iface, exc)

    async def _on_ap(self, started: bool) -> None:
        if started:
            await self._start_server("ap")
        else:
            await self._stop_server("ap")

    async def _on_lan_up(self, ip: str) -> None:
        self.lan_ip = ip
        await self._start_server("lan")
        self._start_mdns()
        self._start_mqtt()

    async def _on_lan_down(self) -> None:
        await self._stop_lan_services()
        await self._stop_server("lan")
        self.lan_ip = None

    async def _stop_mqtt(self) -> None:
        """Stop the MQTT link cleanly (``offline``, DISCONNECT) and end its task."""
        link = self.mqtt_link
        task = self._mqtt_task
        self.mqtt_link = None
        self._mqtt_task = None
        if link is not None:
            try:
                await asyncio.wait_for(link.stop(), 5)
            except Exception as exc:
                self.log.exception("mqtt: stop failed", exc)
        if task is not None:
            task.cancel()  # e.g. still connecting or waiting to retry
            try:
                await task
            except BaseException:  # cancelled (or already failed): either way it is gone
                pass
            if task in self.tasks:
                self.tasks.remove(task)

    async def _stop_lan_services(self) -> None:
        await self._stop_mqtt()
        mdns = self.mdns
        self.mdns = None
        if mdns is not None:
            try:
                await asyncio.wait_for(mdns.stop(), 5)
            except Exception as exc:
                self.log.exception("mdns: stop failed", exc)

    def _mdns_services(self) -> list[dict[str, Any]]:
        entry = self.servers.get("lan")
        port = entry["port"] if entry else 80
        txt = {"id": self.device_id, "fw_id": self.board.fw_id(), "arch": self.board.arch(),
               "model": self.model, "fw_version": self.board.fw_version(), "app": "HubLight",
               "paired": "1" if self.config["hub.secret"] else "0"}
        return [{"type": "_hublight._tcp", "name": self.device_id, "port": port, "txt": txt},
                {"type": "_http._tcp", "name": self.device_id, "port": port, "txt": txt}]

    def _start_mdns(self) -> None:
        if self.mdns is not None or self.lan_ip is None:
            return
        try:
            from hublight.mdns import MdnsResponder
        except ImportError as exc:
            self.log.exception("mdns: unavailable", exc)
            return
        try:
            udp = self.board.udp_multicast(self.lan_ip, "224.0.0.251", 5353)
            self.mdns = MdnsResponder(udp, self.device_id, self.lan_ip, self._mdns_services(),
                                      log=self.log)
        except Exception as exc:
            self.log.exception("mdns: cannot start", exc)
            return
        self.spawn(self._guard("mdns", self.mdns.run()))

    def _update_mdns(self) -> None:
        try:
            self.mdns.update(services=self._mdns_services())
        except Exception as exc:
            self.log.exception("mdns: update failed", exc)

    def _start_mqtt(self) -> None:
        if self.mqtt_link is not None or not self.config["mqtt.enable"]:
            return
        try:
            from hublight.mqttlink import MqttLink
        except ImportError as exc:
            self.log.exception("mqtt: unavailable", exc)
            return
        self.mqtt_link = MqttLink(self)
        self._mqtt_task = self.spawn(self._guard("mqtt", self.mqtt_link.run()))

    async def _guard(self, name: str, coro: Any) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.exception("%s: stopped" % name, exc)
