"""The tester kit's fixtures for these tests, until the `home_hub` pytest11 entry point is in
pyproject.toml (then the plugin loads by itself and these imports are harmless overrides)."""

from hub_app.testing.plugin import (
    embedded_broker,
    hub,
    main_window,
    mosquitto,
    mosquitto_backend,
    mosquitto_factory,
    pytest_configure,
    sim_lights,
    sim_world,
)

__all__ = [
    "embedded_broker",
    "hub",
    "main_window",
    "mosquitto",
    "mosquitto_backend",
    "mosquitto_factory",
    "pytest_configure",
    "sim_lights",
    "sim_world",
]
