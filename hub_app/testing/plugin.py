"""Home Hub's pytest plugin (the tester kit): real simulated lights, real brokers, the hub, the UI.

Registered through the `pytest11` entry point `home_hub`, so installing the project is enough:

    async def test_switch_on(sim_lights, embedded_broker):
        light = (await sim_lights(1))[0]
        await provision(light, embedded_broker)
        state = await embedded_broker.set_light(light.device_id, on=True, transition_ms=0)
        assert state.on

Fixtures (all function-scoped, everything stopped at teardown):

- `memory_keyring`: an in-process keyring backend instead of the OS one;
- `sim_world`: a fresh simulated Wi-Fi world (`hublight_sim.WifiWorld`, default networks);
- `sim_lights`: `await sim_lights(n, **Simulator options)` -> n running `SimLight`s in this
  process on `sim_world` (zero join/reboot delays, flash under tmp_path, a unique MAC seed);
- `embedded_broker`: the hub's embedded broker and its backend (`EmbeddedBackend`, connected);
- `mosquitto`, `mosquitto_factory`: a real Mosquitto broker (skipped when it is not installed);
- `mosquitto_backend`: the hub's MQTT backend (`MqttBackend`) connected to `mosquitto`;
- `hub`: a started demo `hub_app.hub.Hub` (its own simulated lights, embedded broker and data
  directory; `@pytest.mark.hub(lights=3, paired=2)`), paired lights online;
- `main_window`: the app's main window on `hub`, shown (pytest-qt; Qt is imported only here).

Helpers: `provision(light, broker)` and `wait_until(predicate)` from `hub_app.testing.scenario`.
Async fixtures need pytest-asyncio (`pip install 'home-hub[testing]'`); tests use
`@pytest.mark.asyncio` (or `asyncio_mode = auto`).
"""

from __future__ import annotations

import importlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
from hublight_sim.runner import SimLight, Simulator
from hublight_sim.world import WifiWorld

from hub_app.broker_client.embedded import EmbeddedBackend
from hub_app.broker_client.mqtt import MqttBackend, MqttConfig
from hub_app.registry.memory_keyring import MemoryKeyring
from hub_app.testing.fixtures import mosquitto, mosquitto_factory
from hub_app.testing.mosquitto import MosquittoBroker
from hub_app.testing.scenario import DEFAULT_TIMEOUT_S, provision, wait_until

__all__ = [
    "embedded_broker",
    "hub",
    "main_window",
    "memory_keyring",
    "mosquitto",
    "mosquitto_backend",
    "mosquitto_factory",
    "provision",
    "sim_lights",
    "sim_world",
    "wait_until",
]

SimLightsFactory = Callable[..., Awaitable[list[SimLight]]]

_MISSING_ASYNCIO = (
    "the Home Hub fixtures need pytest-asyncio: pip install 'home-hub[testing]' "
    "(or pytest-asyncio>=0.23)"
)

try:
    import pytest_asyncio

    async_fixture: Callable[..., Any] = pytest_asyncio.fixture
    HAVE_PYTEST_ASYNCIO = True
except ImportError:  # the plugin still loads; the async fixtures fail with a clear message
    HAVE_PYTEST_ASYNCIO = False

    def async_fixture(function: Callable[..., Any]) -> Any:
        """Without pytest-asyncio: a fixture that fails with the install hint."""

        def missing(request: pytest.FixtureRequest) -> None:
            pytest.fail(_MISSING_ASYNCIO, pytrace=False)

        missing.__name__ = function.__name__
        missing.__doc__ = function.__doc__
        return pytest.fixture(name=function.__name__)(missing)


def pytest_configure(config: pytest.Config) -> None:
    """Declare the markers the kit's fixtures and examples use."""
    config.addinivalue_line("markers", "mosquitto: needs the mosquitto broker binary")
    config.addinivalue_line(
        "markers", "hub(lights=2, paired=1): options of the `hub` fixture's demo hub"
    )


@pytest.fixture
def memory_keyring() -> Iterator[MemoryKeyring]:
    """An in-process keyring backend (`keyring.set_keyring`) in place of the OS keyring, restored
    afterwards: secrets the code under test stores go through the real `keyring` API."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


@pytest.fixture
def sim_world() -> WifiWorld:
    """A fresh simulated Wi-Fi world with the default networks (HomeNet, ...)."""
    return WifiWorld()


@async_fixture
async def sim_lights(tmp_path: Path, sim_world: WifiWorld) -> AsyncIterator[SimLightsFactory]:
    """`await sim_lights(n)`: n simulated lights, started, each with its access point up."""
    simulators: list[Simulator] = []

    async def start(count: int = 1, **options: Any) -> list[SimLight]:
        options.setdefault("seed", secrets.token_hex(6))  # mDNS on 5353 is machine-wide
        options.setdefault("join_delay_s", 0.0)
        options.setdefault("reboot_delay_s", 0.0)
        flash_root = tmp_path / f"sim-flash-{len(simulators)}"
        simulator = Simulator(sim_world, count=count, flash_root=flash_root, **options)
        simulators.append(simulator)
        await simulator.start()
        await simulator.wait_started(timeout_s=DEFAULT_TIMEOUT_S)
        for light in simulator.lights:
            await light.wait_event("ap_started", include_past=True, timeout_s=DEFAULT_TIMEOUT_S)
        return list(simulator.lights)

    yield start
    for simulator in reversed(simulators):
        await simulator.stop()


@async_fixture
async def embedded_broker(tmp_path: Path) -> AsyncIterator[EmbeddedBackend]:
    """The hub's embedded broker on an ephemeral loopback port, with its backend connected."""
    backend = EmbeddedBackend(tmp_path / "embedded-broker", host="127.0.0.1", port=0)
    await backend.start()
    try:
        await backend.wait_connected(DEFAULT_TIMEOUT_S)
        yield backend
    finally:
        await backend.close()


@async_fixture
async def mosquitto_backend(mosquitto: MosquittoBroker) -> AsyncIterator[MqttBackend]:
    """The hub's MQTT backend connected to the `mosquitto` broker."""
    backend = MqttBackend(MqttConfig(host=mosquitto.host, port=mosquitto.port))
    await backend.start()
    try:
        await backend.wait_connected(DEFAULT_TIMEOUT_S)
        yield backend
    finally:
        await backend.close()


def _hub_class() -> Any:
    try:
        return importlib.import_module("hub_app.hub").Hub
    except ModuleNotFoundError as err:
        if err.name != "hub_app.hub":
            raise
        pytest.skip("hub_app.hub is not part of this version of Home Hub")


@async_fixture
async def hub(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """A started demo `Hub`: simulated lights, the embedded broker, an in-memory keyring.

    Default 2 lights, 1 set up (through the real provisioning flow) and online before the test
    starts; change with `@pytest.mark.hub(lights=3, paired=2)`. The simulator is `hub.demo`.
    """
    marker = request.node.get_closest_marker("hub")
    options: dict[str, Any] = {"lights": 2, "paired": 1}
    if marker is not None:
        options.update(marker.kwargs)
    instance = _hub_class().create_demo(
        data_dir=tmp_path / "hub", use_memory_keyring=True, run_scheduler=False, **options
    )
    await instance.start()
    try:
        demo = instance.demo
        await wait_until(lambda: demo.ready, what="the demo lights to be set up")
        if demo.pre_pair_errors:
            pytest.fail(f"demo set-up failed: {demo.pre_pair_errors}", pytrace=False)
        await wait_until(
            lambda: len(instance.lights) == demo.paired
            and all(view.online for view in instance.lights),
            what="the paired demo lights to be online",
        )
        yield instance
    finally:
        await instance.stop()


@pytest.fixture
def main_window(request: pytest.FixtureRequest, hub: Any) -> Iterator[Any]:
    """The main window on `hub`, shown and registered with pytest-qt's `qtbot`."""
    try:
        importlib.import_module("pytestqt")
    except ImportError:
        pytest.skip("main_window needs pytest-qt (pip install 'home-hub[testing]')")
    qtbot = request.getfixturevalue("qtbot")
    # Qt is imported here, never at plugin load
    window_class = importlib.import_module("hub_app.ui.main_window").MainWindow
    window = window_class(hub, show_error_dialogs=False)
    qtbot.addWidget(window)
    window.show()
    qtbot.waitExposed(window)
    yield window
    window.shutdown()
    window.close()
