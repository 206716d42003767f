"""Config schema, defaults, validation of partial trees, merge and redaction (protocol.md).

The running config is kept flat (dotted key -> value); trees are built for ``Config.Get`` and
for config.json. Write-only keys are never returned: ``<key>_set`` booleans stand in for them.
"""

from hublight.rpc import RpcError

try:
    from typing import TYPE_CHECKING, Any, Callable
except ImportError:
    TYPE_CHECKING = False  # type: ignore[misc]

if TYPE_CHECKING:
    from hublight.logbuf import LogBuffer

RO = "ro"
WO = "wo"
HEX_DIGITS = "0123456789abcdefABCDEF"
LOG_LEVELS = ("debug", "info", "warn", "error")
# Prefixes of keys whose change only takes effect after a reboot (mqtt.* and aws.* restart the
# MQTT link at once).
RESTART_PREFIXES = ("wifi.",)


def _max_chars(limit: int) -> "Callable[[Any], str | None]":
    def check(value: Any) -> "str | None":
        if len(value) > limit:
            return "must be at most %d characters" % limit
        return None

    return check


def _int_range(low: int, high: int) -> "Callable[[Any], str | None]":
    def check(value: Any) -> "str | None":
        if value < low or value > high:
            return "must be an integer %d..%d" % (low, high)
        return None

    return check


def check_ssid(value: str) -> "str | None":
    """SSID: empty (not set) or 1..32 bytes of UTF-8."""
    if len(value.encode()) > 32:
        return "must be 1..32 bytes of UTF-8"
    return None


def check_wifi_pass(value: str) -> "str | None":
    """WPA passphrase rules: empty (open network), 8..63 printable ASCII, or 64 hex digits."""
    if value == "":
        return None
    if len(value) == 64:
        for ch in value:
            if ch not in HEX_DIGITS:
                return "64 characters must be hex digits (or use 8..63 printable ASCII)"
        return None
    if len(value) < 8 or len(value) > 63:
        return "must be empty, 8..63 printable ASCII characters, or 64 hex digits"
    for ch in value:
        if ord(ch) < 0x20 or ord(ch) > 0x7E:
            return "must be printable ASCII (8..63 characters) or 64 hex digits"
    return None


def check_secret(value: str) -> "str | None":
    if value != "" and (len(value) < 16 or len(value) > 128):
        return "must be 16..128 characters"
    return None


def check_server(value: str) -> "str | None":
    """``host:port`` (or host alone); empty means not set."""
    if value == "":
        return None
    host, port = split_server(value, 1883)
    if not host or port < 1 or port > 65535:
        return "must be host:port"
    return None


def split_server(value: str, default_port: int) -> "tuple[str, int]":
    """Split ``host:port`` (IPv6 as ``[addr]:port``). -> (host, port); port -1 when malformed."""
    host = value
    port = default_port
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return "", -1
        host = value[1:end]
        rest = value[end + 1 :]
        if rest.startswith(":"):
            port = _parse_port(rest[1:])
        elif rest:
            port = -1
    elif value.count(":") == 1:
        host, _, port_text = value.partition(":")
        port = _parse_port(port_text)
    return host, port


def _parse_port(text: str) -> int:
    try:
        return int(text) if text.isdigit() else -1
    except ValueError:
        return -1


def check_pem(kind: str) -> "Callable[[Any], str | None]":
    """Empty, or PEM text with a ``-----BEGIN <...kind>-----`` block, at most 8192 characters."""

    def check(value: Any) -> "str | None":
        if value == "":
            return None
        if len(value) > 8192:
            return "must be at most 8192 characters"
        begin = value.find("-----BEGIN ")
        end = value.find("-----", begin + 11) if begin >= 0 else -1
        if begin < 0 or end < 0 or not value[begin + 11:end].endswith(kind) or \
                value.find("-----END ", end) < 0:
            return "must be empty or PEM text (-----BEGIN ...%s-----)" % kind
        return None

    return check


def check_log_level(value: str) -> "str | None":
    if value not in LOG_LEVELS:
        return "must be one of debug, info, warn, error"
    return None


# (dotted key, type, default, flags, check). Defaults of "device.id" and "wifi.ap.ssid" come from
# the board identity.
SCHEMA = (
    ("device.id", "str", "", RO, None),
    ("device.name", "str", "", "", _max_chars(64)),
    ("device.room", "str", "", "", _max_chars(64)),
    ("wifi.sta.enable", "bool", False, "", None),
    ("wifi.sta.ssid", "str", "", "", check_ssid),
    ("wifi.sta.pass", "str", "", WO, check_wifi_pass),
    ("wifi.ap.enable", "bool", True, "", None),
    ("wifi.ap.ssid", "str", "", RO, None),
    ("wifi.join_timeout_ms", "int", 20000, "", _int_range(100, 300000)),
    ("wifi.confirm_timeout_ms", "int", 300000, "", _int_range(100, 86400000)),
    ("hub.secret", "str", "", WO, check_secret),
    ("mqtt.enable", "bool", False, "", None),
    ("mqtt.server", "str", "", "", check_server),
    ("mqtt.tls", "bool", False, "", None),
    ("mqtt.ca", "str", "", "", _max_chars(8192)),
    ("mqtt.user", "str", "", "", _max_chars(128)),
    ("mqtt.pass", "str", "", WO, _max_chars(256)),
    ("mqtt.cert", "str", "", WO, check_pem("CERTIFICATE")),
    ("mqtt.key", "str", "", WO, check_pem("PRIVATE KEY")),
    ("mqtt.client_id", "str", "", "", _max_chars(128)),
    ("mqtt.topic_prefix", "str", "", "", _max_chars(128)),
    ("mqtt.keepalive", "int", 30, "", _int_range(5, 600)),
    ("aws.enable", "bool", False, "", None),
    ("aws.thing_name", "str", "", "", _max_chars(128)),
    ("light.pixels", "int", 30, "", _int_range(1, 1024)),
    ("light.default_transition_ms", "int", 300, "", _int_range(0, 60000)),
    ("light.max_brightness", "int", 100, "", _int_range(1, 100)),
    ("sys.auth_md5", "bool", True, "", None),
    ("sys.log_level", "str", "info", "", check_log_level),
)

SPECS: dict[str, Any] = {}
for _spec in SCHEMA:
    SPECS[_spec[0]] = _spec
BRANCHES: dict[str, bool] = {}
for _spec in SCHEMA:
    _parts = _spec[0].split(".")
    for _i in range(1, len(_parts)):
        BRANCHES[".".join(_parts[:_i])] = True


def is_write_only(key: str) -> bool:
    return key in SPECS and SPECS[key][3] == WO


def type_error(key: str, kind: str) -> RpcError:
    names = {"str": "a string", "bool": "a boolean", "int": "an integer"}
    return RpcError(400, "%s: must be %s" % (key, names[kind]))


def check_value(key: str, value: Any) -> None:
    """Raise RpcError(400) naming ``key`` when ``value`` does not fit its schema entry."""
    spec = SPECS[key]
    kind = spec[1]
    if kind == "bool":
        ok = value is True or value is False
    elif kind == "int":
        ok = isinstance(value, int) and not (value is True or value is False)
    else:
        ok = isinstance(value, str)
    if not ok:
        raise type_error(key, kind)
    check = spec[4]
    if check is not None:
        problem = check(value)
        if problem:
            raise RpcError(400, "%s: %s" % (key, problem))


def default_values(device_id: str, ap_ssid: str) -> dict[str, Any]:
    values = {}
    for spec in SCHEMA:
        values[spec[0]] = spec[2]
    values["device.id"] = device_id
    values["wifi.ap.ssid"] = ap_ssid
    return values


def _set_path(tree: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        if part not in node:
            node[part] = {}
        node = node[part]
    node[parts[-1]] = value


class Config:
    """The light's configuration: schema-checked, flat, with identity-derived read-only keys."""

    def __init__(self, device_id: str, ap_ssid: str) -> None:
        self.device_id = device_id
        self.ap_ssid = ap_ssid
        self.values = default_values(device_id, ap_ssid)

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def get(self, key: str) -> Any:
        """The raw value of a leaf key (write-only values included: for firmware use only)."""
        return self.values[key]

    # --- effective values of "<device id> when empty" keys --------------------------------
    def mqtt_client_id(self) -> str:
        return self.values["mqtt.client_id"] or self.device_id

    def mqtt_topic_prefix(self) -> str:
        return self.values["mqtt.topic_prefix"] or self.device_id

    def aws_thing_name(self) -> str:
        return self.values["aws.thing_name"] or self.device_id

    # --- Config.Get -----------------------------------------------------------------------
    def public_tree(self) -> dict[str, Any]:
        """The whole tree with write-only values replaced by ``<key>_set`` booleans."""
        tree: dict[str, Any] = {}
        for spec in SCHEMA:
            key = spec[0]
            if spec[3] == WO:
                _set_path(tree, key + "_set", self.values[key] != "")
            else:
                _set_path(tree, key, self.values[key])
        return tree

    def lookup(self, key: "str | None") -> Any:
        """``Config.Get {key}``: the tree, a subtree or a value; RpcError 404/403 otherwise."""
        tree = self.public_tree()
        if key is None or key == "":
            return tree
        if not isinstance(key, str):
            raise RpcError(400, "key: must be a string")
        if is_write_only(key):
            raise RpcError(403, "config key is write-only: %s" % key)
        node: Any = tree
        for part in key.split("."):
            if not isinstance(node, dict) or part not in node:
                raise RpcError(404, "unknown config key: %s" % key)
            node = node[part]
        return node

    # --- Config.Set -----------------------------------------------------------------------
    def validate(self, patch: Any) -> dict[str, Any]:
        """Check a partial tree as a whole. -> flat {key: value} of the changes to apply.

        Raises RpcError naming the first bad key: 404 unknown, 403 read-only, 400 wrong value.
        Nothing is applied here."""
        if not isinstance(patch, dict):
            raise RpcError(400, "config: must be an object")
        changes: dict[str, Any] = {}
        self._collect(patch, "", changes)
        merged = dict(self.values)
        for key in changes:
            merged[key] = changes[key]
        if merged["wifi.sta.enable"] and merged["wifi.sta.ssid"] == "":
            raise RpcError(400, "wifi.sta.ssid: must be set when wifi.sta.enable is true")
        if merged["mqtt.enable"] and merged["mqtt.server"] == "":
            raise RpcError(400, "mqtt.server: must be set when mqtt.enable is true")
        if (merged["mqtt.cert"] == "") != (merged["mqtt.key"] == ""):
            bad = "mqtt.key" if merged["mqtt.key"] == "" else "mqtt.cert"
            raise RpcError(400, "%s: mqtt.cert and mqtt.key must be set together" % bad)
        return changes

    def _collect(self, node: dict[str, Any], prefix: str, changes: dict[str, Any]) -> None:
        for name in node:
            key = prefix + str(name)
            value = node[name]
            if key in BRANCHES:
                if not isinstance(value, dict):
                    raise RpcError(400, "%s: must be an object" % key)
                self._collect(value, key + ".", changes)
                continue
            if key not in SPECS:
                if key.endswith("_set") and is_write_only(key[:-4]):
                    raise RpcError(403, "config key is read-only: %s" % key)
                raise RpcError(404, "unknown config key: %s" % key)
            if SPECS[key][3] == RO:
                raise RpcError(403, "config key is read-only: %s" % key)
            check_value(key, value)
            changes[key] = value

    def apply(self, changes: dict[str, Any]) -> list[str]:
        """Merge validated changes. -> the keys whose value actually changed."""
        changed = []
        for key in changes:
            if self.values[key] != changes[key]:
                self.values[key] = changes[key]
                changed.append(key)
        return changed

    def set(self, key: str, value: Any) -> bool:
        """Firmware-internal single-key update (validated). -> whether it changed."""
        check_value(key, value)
        if self.values[key] == value:
            return False
        self.values[key] = value
        return True

    # --- persistence ----------------------------------------------------------------------
    def saved_tree(self) -> dict[str, Any]:
        """What config.json holds: every writable key, write-only values included."""
        tree: dict[str, Any] = {}
        for spec in SCHEMA:
            if spec[3] != RO:
                _set_path(tree, spec[0], self.values[spec[0]])
        return tree

    def load_saved(self, tree: Any, log: "LogBuffer | None" = None) -> None:
        """Load config.json content tolerantly: bad or unknown entries keep their defaults."""
        self.values = default_values(self.device_id, self.ap_ssid)
        if not isinstance(tree, dict):
            return
        for spec in SCHEMA:
            key = spec[0]
            if spec[3] == RO:
                continue
            node: Any = tree
            for part in key.split("."):
                node = node.get(part) if isinstance(node, dict) else None
                if node is None:
                    break
            if node is None:
                continue
            try:
                check_value(key, node)
            except RpcError:
                if log is not None:
                    log.warn("config.json: ignoring bad value of %s" % key)
                continue
            self.values[key] = node


def restart_required(keys: "list[str]") -> bool:
    for key in keys:
        for prefix in RESTART_PREFIXES:
            if key.startswith(prefix):
                return True
    return False
