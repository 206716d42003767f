"""Redaction of secrets in traces."""

from __future__ import annotations

import json
from typing import Any

from hub_app.device.trace import REDACTED, is_secret_key, redact, redact_frame


def test_redact_frame_hides_auth_and_secret_keys_anywhere() -> None:
    frame: dict[str, Any] = {
        "id": 3,
        "src": "hub-1",
        "method": "Config.Set",
        "auth": {"response": "abc", "cnonce": "x", "nonce": 1},
        "params": {
            "config": {
                "wifi": {"sta": {"ssid": "Home", "pass": "wifi-password-1", "pass_set": True}},
                "hub": {"secret": "lan-secret-0123456789"},
                "mqtt": {"user": "u", "pass": "mqtt-password-1"},
            },
            "list": [{"password": "p1"}, {"setup_code": "ABCD2345"}, {"mqtt_pass": "p2"}],
        },
    }
    out = redact_frame(frame)
    text = json.dumps(out)
    for secret in ("abc", "wifi-password-1", "lan-secret-0123456789", "mqtt-password-1",
                   "p1", "ABCD2345", "p2"):
        assert secret not in text
    assert out["auth"] == REDACTED
    assert out["params"]["config"]["wifi"]["sta"] == {
        "ssid": "Home", "pass": REDACTED, "pass_set": True
    }
    assert frame["params"]["config"]["hub"]["secret"] == "lan-secret-0123456789"  # not mutated


def test_is_secret_key() -> None:
    assert is_secret_key("pass") and is_secret_key("Secret") and is_secret_key("mqtt_password")
    assert not is_secret_key("pass_set") and not is_secret_key("key") and not is_secret_key("ssid")
    assert redact([1, {"token": "t"}]) == [1, {"token": REDACTED}]
