"""Backends: embedded broker (default), external MQTT, AWS IoT shadow, direct LAN."""

from hub_app.broker_client.aws import AwsShadowBackend
from hub_app.broker_client.base import (
    Availability,
    Backend,
    BackendError,
    CommandError,
    ConfigurationError,
    ConnectionKind,
    ConnectionState,
    LightCommand,
    LightEvent,
    LightEventKind,
    LightState,
    LightTwin,
    RpcError,
    RpcNotSupported,
    UnknownLight,
)
from hub_app.broker_client.embedded import EmbeddedBackend
from hub_app.broker_client.lan import LanBackend
from hub_app.broker_client.mqtt import MqttBackend, MqttConfig
from hub_app.broker_client.reconnect import Backoff

__all__ = [
    "Availability",
    "AwsShadowBackend",
    "Backend",
    "BackendError",
    "Backoff",
    "CommandError",
    "ConfigurationError",
    "ConnectionKind",
    "ConnectionState",
    "EmbeddedBackend",
    "LanBackend",
    "LightCommand",
    "LightEvent",
    "LightEventKind",
    "LightState",
    "LightTwin",
    "MqttBackend",
    "MqttConfig",
    "RpcError",
    "RpcNotSupported",
    "UnknownLight",
]
