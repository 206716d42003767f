"""Shared test configuration: only the real-broker fixtures (the rest is in subdir conftests)."""

from hub_app.testing.fixtures import mosquitto, mosquitto_factory

__all__ = ["mosquitto", "mosquitto_factory"]
