"""The RPC methods of protocol.md, registered on an ``Rpc`` for one ``LightApp``."""

from hublight import config as config_mod
from hublight.light import check_light_id, parse_set_args
from hublight.rpc import AUTH_NONE, AUTH_OPTIONAL, RpcError

try:
    from typing import TYPE_CHECKING, Any
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.app import LightApp
    from hublight.rpc import Rpc

APP_NAME = "HubLight"


def _bool_arg(params: dict[str, Any], name: str, default: bool) -> bool:
    value = params.get(name, default)
    if value is None:
        return default
    if value is not True and value is not False:
        raise RpcError(400, "%s: must be a boolean" % name)
    return value


def _int_arg(params: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = params.get(name, default)
    if value is None:
        return default
    if not isinstance(value, int) or value is True or value is False or value < low or \
            value > high:
        raise RpcError(400, "%s: must be an integer %d..%d" % (name, low, high))
    return value


def _no_unknown(params: dict[str, Any], allowed: "tuple[str, ...]", method: str) -> None:
    for name in params:
        if name not in allowed:
            raise RpcError(400, "%s: unknown argument of %s" % (name, method))


def _light_id(params: dict[str, Any]) -> None:
    """Shelly's ``id``: only light 0 exists (as in ``Light.Set``)."""
    check_light_id(params)


def _no_args(name: str, handler: Any) -> Any:
    """Wrap the handler of a method without arguments: an unknown one is a 400 naming it."""

    def checked(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, (), name)
        return handler(params, ctx)

    return checked


def register_methods(rpc: "Rpc", app: "LightApp") -> None:
    """Register every method of protocol.md for ``app``."""

    # --- RPC ------------------------------------------------------------------------------
    def rpc_list(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return rpc.names()

    def rpc_describe(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("name",), "RPC.Describe")
        name = params.get("name")
        if not isinstance(name, str):
            raise RpcError(400, "name: must be a string")
        method = rpc.methods.get(name)
        if method is None:
            raise RpcError(404, "no such method: %s" % name)
        return {"name": name, "args_fmt": method.args_fmt}

    def rpc_ping(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return "pong"

    rpc.register("RPC.List", _no_args("RPC.List", rpc_list))
    rpc.register("RPC.Describe", rpc_describe, args_fmt="{name: %Q}")
    rpc.register("RPC.Ping", _no_args("RPC.Ping", rpc_ping), auth=AUTH_NONE)

    # --- Sys ------------------------------------------------------------------------------
    def sys_get_info(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        board = app.board
        info: dict[str, Any] = {"id": app.device_id, "model": app.model, "app": APP_NAME,
                                "fw_version": board.fw_version()}
        if not ctx.get("authenticated"):
            info["auth_required"] = True
            info["auth_domain"] = app.device_id
            return info
        mem = board.mem_info()
        fs = board.fs_info()
        wifi = app.wifi
        info.update({
            "fw_id": board.fw_id(), "mac": app.mac_text, "arch": board.arch(),
            "uptime": app.uptime_ms() // 1000,
            "ram_size": mem.get("ram_size"), "ram_free": mem.get("ram_free"),
            "ram_min_free": mem.get("ram_min_free"), "fs_size": fs.get("fs_size"),
            "fs_free": fs.get("fs_free"), "auth_required": True, "auth_domain": app.device_id,
            "paired": app.config["hub.secret"] != "", "setup_state": wifi.setup_state,
            "wifi": {"sta_ip": wifi.sta_ip, "ap_ip": wifi.ap_ip, "status": wifi.status,
                     "ssid": app.config["wifi.sta.ssid"] or None,
                     "rssi": board.sta_rssi() if wifi.status == "connected" else None},
            "mqtt": {"connected": app.mqtt_connected(),
                     "server": app.config["mqtt.server"] or None},
            "ota": {"active_slot": board.ota_running_slot(),
                    "is_committed": app.ota.is_committed()},
        })
        return info

    def sys_reboot(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("delay_ms",), "Sys.Reboot")
        delay = _int_arg(params, "delay_ms", 500, 0, 60000)
        app.request_reboot(delay, "rpc")
        return None

    def sys_factory_reset(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        app.factory_reset("rpc")
        return None

    def sys_get_log(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("lines", "since"), "Sys.GetLog")
        capacity = app.log.capacity
        lines = _int_arg(params, "lines", min(100, capacity), 0, capacity)
        since = params.get("since")
        if since is not None and (not isinstance(since, int) or since is True or
                                  since is False or since < 0):
            raise RpcError(400, "since: must be a non-negative integer (a seq)")
        return app.log.get(lines, since)

    rpc.register("Sys.GetInfo", _no_args("Sys.GetInfo", sys_get_info), auth=AUTH_OPTIONAL)
    rpc.register("Sys.Reboot", sys_reboot, args_fmt="{delay_ms: %d}")
    rpc.register("Sys.FactoryReset", _no_args("Sys.FactoryReset", sys_factory_reset))
    rpc.register("Sys.GetLog", sys_get_log, args_fmt="{lines: %d, since: %d}")

    # --- Config ---------------------------------------------------------------------------
    def config_get(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("key",), "Config.Get")
        return app.config.lookup(params.get("key"))

    def config_set(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("config", "save", "reboot"), "Config.Set")
        if "config" not in params:
            raise RpcError(400, "config: missing (a partial config tree)")
        save = _bool_arg(params, "save", False)
        reboot = _bool_arg(params, "reboot", False)
        changes = app.config.validate(params["config"])
        changed = app.config.apply(changes)
        app.config_changed(changed)
        if save or reboot:
            app.save_config()
        if reboot:
            app.request_reboot(500, "config")
        return {"saved": bool(save or reboot),
                "restart_required": config_mod.restart_required(changed) and not reboot}

    def config_save(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("reboot",), "Config.Save")
        reboot = _bool_arg(params, "reboot", False)
        app.save_config()
        if reboot:
            app.request_reboot(500, "config")
        return {"saved": True}

    rpc.register("Config.Get", config_get, args_fmt="{key: %Q}")
    rpc.register("Config.Set", config_set, args_fmt="{config: %M, save: %B, reboot: %B}")
    rpc.register("Config.Save", config_save, args_fmt="{reboot: %B}")

    # --- Setup / Wifi ---------------------------------------------------------------------
    async def setup_confirm(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        if app.config["hub.secret"] == "":
            raise RpcError(409, "set hub.secret (pair) before confirming")
        return await app.wifi.confirm(ctx.get("iface"))

    async def wifi_scan(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return await app.wifi.scan()

    def wifi_get_status(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return app.wifi.get_status()

    rpc.register("Setup.Confirm", _no_args("Setup.Confirm", setup_confirm))
    rpc.register("Wifi.Scan", _no_args("Wifi.Scan", wifi_scan))
    rpc.register("Wifi.GetStatus", _no_args("Wifi.GetStatus", wifi_get_status))

    # --- Light ----------------------------------------------------------------------------
    def light_set(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        changes = parse_set_args(params)
        return app.light.apply(changes, app.source_of(ctx))

    def light_toggle(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("id",), "Light.Toggle")
        _light_id(params)
        return app.light.toggle(app.source_of(ctx))

    def light_get_status(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("id",), "Light.GetStatus")
        _light_id(params)
        return app.light.status()

    rpc.register("Light.Set", light_set,
                 args_fmt="{on: %B, brightness: %d, rgb: [%d, %d, %d], transition_ms: %d}")
    rpc.register("Light.Toggle", light_toggle)
    rpc.register("Light.GetStatus", light_get_status)

    # --- OTA ------------------------------------------------------------------------------
    def ota_update(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        _no_unknown(params, ("url", "sha256", "commit_timeout"), "OTA.Update")
        url = params.get("url")
        digest = params.get("sha256")
        if not isinstance(url, str) or not (url.startswith("http://") or
                                            url.startswith("https://")):
            raise RpcError(400, "url: must be an http:// or https:// URL")
        if not isinstance(digest, str) or len(digest) != 64 or \
                any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise RpcError(400, "sha256: must be 64 hex digits")
        timeout = _int_arg(params, "commit_timeout", 300, 1, 86400)
        app.ota.start_update(url, digest.lower(), timeout)
        return {"started": True}

    def ota_commit(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        app.ota.commit()
        return {"committed": True}

    def ota_revert(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        app.ota.revert()
        return None

    def ota_get_boot_state(params: dict[str, Any], ctx: dict[str, Any]) -> Any:
        return app.ota.boot_state()

    rpc.register("OTA.Update", ota_update,
                 args_fmt="{url: %Q, sha256: %Q, commit_timeout: %d}")
    rpc.register("OTA.Commit", _no_args("OTA.Commit", ota_commit))
    rpc.register("OTA.Revert", _no_args("OTA.Revert", ota_revert))
    rpc.register("OTA.GetBootState", _no_args("OTA.GetBootState", ota_get_boot_state))
