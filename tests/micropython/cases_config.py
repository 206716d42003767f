"""Config schema, validation, merge and redaction."""

from hublight.config import Config, check_wifi_pass, split_server
from mpcheck import expect_rpc_error


def make():
    return Config("hublight-1a2b3c", "HubLight-1A2B3C")


def test_defaults_and_identity():
    cfg = make()
    tree = cfg.lookup(None)
    assert tree["device"]["id"] == "hublight-1a2b3c"
    assert tree["wifi"]["ap"]["ssid"] == "HubLight-1A2B3C"
    assert tree["wifi"]["ap"]["enable"] is True
    assert tree["mqtt"]["keepalive"] == 30
    assert tree["light"]["pixels"] == 30
    assert tree["sys"]["log_level"] == "info"
    assert cfg.mqtt_client_id() == "hublight-1a2b3c"
    assert cfg.mqtt_topic_prefix() == "hublight-1a2b3c"


def test_write_only_keys_are_redacted():
    cfg = make()
    cfg.apply(cfg.validate({"wifi": {"sta": {"ssid": "Home", "pass": "secret-pass-1"}},
                            "hub": {"secret": "0123456789abcdef0123"}}))
    tree = cfg.lookup(None)
    assert "pass" not in tree["wifi"]["sta"]
    assert tree["wifi"]["sta"]["pass_set"] is True
    assert "secret" not in tree["hub"]
    assert tree["hub"]["secret_set"] is True
    assert tree["mqtt"]["pass_set"] is False
    assert "secret-pass-1" not in repr(tree)
    assert cfg.lookup("wifi.sta.pass_set") is True
    expect_rpc_error(403, cfg.lookup, "wifi.sta.pass")
    assert cfg.get("wifi.sta.pass") == "secret-pass-1"


def test_dotted_get():
    cfg = make()
    assert cfg.lookup("wifi.sta") == {"enable": False, "ssid": "", "pass_set": False}
    assert cfg.lookup("light.pixels") == 30
    msg = expect_rpc_error(404, cfg.lookup, "wifi.sta.sid")
    assert "wifi.sta.sid" in msg
    expect_rpc_error(404, cfg.lookup, "light.pixels.x")


def test_unknown_key_names_the_dotted_key_and_applies_nothing():
    cfg = make()
    msg = expect_rpc_error(404, cfg.validate, {"device": {"name": "Lamp"},
                                               "wifi": {"sta": {"sid": "x"}}})
    assert msg == "unknown config key: wifi.sta.sid"
    assert cfg["device.name"] == ""


def test_read_only_key_is_403():
    cfg = make()
    msg = expect_rpc_error(403, cfg.validate, {"device": {"id": "other"}})
    assert msg == "config key is read-only: device.id"
    expect_rpc_error(403, cfg.validate, {"wifi": {"ap": {"ssid": "x"}}})
    expect_rpc_error(403, cfg.validate, {"wifi": {"sta": {"pass_set": False}}})


def test_wrong_types_and_ranges_are_400_naming_the_key():
    cfg = make()
    assert "light.pixels" in expect_rpc_error(400, cfg.validate, {"light": {"pixels": 0}})
    assert "light.pixels" in expect_rpc_error(400, cfg.validate, {"light": {"pixels": "30"}})
    assert "wifi.sta.enable" in expect_rpc_error(400, cfg.validate,
                                                 {"wifi": {"sta": {"enable": 1}}})
    assert "mqtt.keepalive" in expect_rpc_error(400, cfg.validate, {"mqtt": {"keepalive": True}})
    assert "mqtt.keepalive" in expect_rpc_error(400, cfg.validate, {"mqtt": {"keepalive": 4}})
    assert "sys.log_level" in expect_rpc_error(400, cfg.validate, {"sys": {"log_level": "loud"}})
    assert "wifi" in expect_rpc_error(400, cfg.validate, {"wifi": 5})
    assert "device.name" in expect_rpc_error(400, cfg.validate, {"device": {"name": "x" * 65}})
    assert "hub.secret" in expect_rpc_error(400, cfg.validate, {"hub": {"secret": "short"}})
    assert "mqtt.server" in expect_rpc_error(400, cfg.validate,
                                             {"mqtt": {"server": "host:99999"}})
    expect_rpc_error(400, cfg.validate, "not a tree")


def test_ssid_byte_length():
    cfg = make()
    ok = "é" * 16  # 32 bytes
    assert cfg.validate({"wifi": {"sta": {"ssid": ok}}}) == {"wifi.sta.ssid": ok}
    expect_rpc_error(400, cfg.validate, {"wifi": {"sta": {"ssid": "é" * 17}}})


def test_wifi_pass_rules():
    assert check_wifi_pass("") is None
    assert check_wifi_pass("12345678") is None
    assert check_wifi_pass("a&b=c+d 'e'") is None
    assert check_wifi_pass("x" * 63) is None
    assert check_wifi_pass("ab" * 32) is None  # 64 hex digits
    assert check_wifi_pass("1234567") is not None
    assert check_wifi_pass("g" * 64) is not None
    assert check_wifi_pass("pässwörd1") is not None
    assert check_wifi_pass("tab\there1") is not None


def test_enable_needs_ssid():
    cfg = make()
    msg = expect_rpc_error(400, cfg.validate, {"wifi": {"sta": {"enable": True}}})
    assert "wifi.sta.ssid" in msg
    changes = cfg.validate({"wifi": {"sta": {"enable": True, "ssid": "Home"}}})
    assert sorted(cfg.apply(changes)) == ["wifi.sta.enable", "wifi.sta.ssid"]


def test_merge_keeps_other_keys_and_reports_changes():
    cfg = make()
    cfg.apply(cfg.validate({"device": {"name": "Lamp", "room": "Hall"}}))
    changed = cfg.apply(cfg.validate({"device": {"name": "Lamp 2"}}))
    assert changed == ["device.name"]
    assert cfg["device.room"] == "Hall"
    assert cfg.apply(cfg.validate({"device": {"name": "Lamp 2"}})) == []


def test_saved_tree_round_trip_is_tolerant():
    cfg = make()
    cfg.apply(cfg.validate({"wifi": {"sta": {"ssid": "Home", "pass": "hunter2hunter2"}},
                            "light": {"pixels": 60}}))
    saved = cfg.saved_tree()
    assert "id" not in saved["device"]
    assert saved["wifi"]["sta"]["pass"] == "hunter2hunter2"
    other = make()
    saved["light"]["max_brightness"] = "lots"  # corrupt entry
    saved["bogus"] = {"x": 1}
    other.load_saved(saved)
    assert other["wifi.sta.ssid"] == "Home"
    assert other["light.pixels"] == 60
    assert other["light.max_brightness"] == 100
    other.load_saved(None)
    assert other["light.pixels"] == 30


def test_split_server():
    assert split_server("broker.lan:1884", 1883) == ("broker.lan", 1884)
    assert split_server("broker.lan", 1883) == ("broker.lan", 1883)
    assert split_server("[::1]:8883", 1883) == ("::1", 8883)
    assert split_server("host:x", 1883)[1] == -1


CERT = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
KEY = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"


def test_client_certificate_keys():
    c = make()
    tree = c.public_tree()
    assert tree["mqtt"]["cert_set"] is False and tree["mqtt"]["key_set"] is False
    assert "cert" not in tree["mqtt"] and "key" not in tree["mqtt"]
    assert "mqtt.key" in expect_rpc_error(400, c.validate, {"mqtt": {"cert": CERT}})
    assert "mqtt.cert" in expect_rpc_error(400, c.validate, {"mqtt": {"key": KEY}})
    assert "mqtt.cert" in expect_rpc_error(400, c.validate, {"mqtt": {"cert": KEY, "key": KEY}})
    assert "mqtt.key" in expect_rpc_error(400, c.validate, {"mqtt": {"cert": CERT, "key": CERT}})
    assert "mqtt.key" in expect_rpc_error(400, c.validate,
                                          {"mqtt": {"cert": CERT, "key": "x" * 9000}})
    c.apply(c.validate({"mqtt": {"cert": CERT, "key": KEY}}))
    tree = c.public_tree()
    assert tree["mqtt"]["cert_set"] is True and tree["mqtt"]["key_set"] is True
    expect_rpc_error(403, c.lookup, "mqtt.key")
    expect_rpc_error(403, c.lookup, "mqtt.cert")
    assert c.saved_tree()["mqtt"]["key"] == KEY  # config.json keeps it, like passwords
    c.apply(c.validate({"mqtt": {"cert": "", "key": ""}}))
    assert c.public_tree()["mqtt"]["cert_set"] is False
