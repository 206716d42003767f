"""Fixtures for the Qt tests: the real main window, offscreen, on qasync, over a demo hub
(simulated lights running the real firmware, the real embedded broker, real mDNS on loopback).
Stand-ins: only the PC's Wi-Fi radio (SimulatedWifiAdapter) and the OS keyring (an in-process
keyring backend registered with ``keyring.set_keyring``).

How the event loop works here (reliable with pytest-qt 4.5 and pytest-asyncio 1.5):

* ``pytest_asyncio_loop_factories`` below gives every async test under tests/ui a **fresh**
  ``qasync.QEventLoop`` over pytest-qt's session ``QApplication`` (``qapp``); pytest-asyncio's
  runner closes it after the test. Write tests as ``async def test_x(qtbot, main_window): ...``
  and ``await`` things (``await wait_until(...)``); Qt signals, timers and widgets run because the
  loop *is* the Qt event loop.
* Never call ``loop.stop()`` on a qasync loop: it calls ``QApplication.exit()`` and breaks every
  later test. Never call ``qtbot.wait*`` inside an async test either (it nests a Qt loop while
  asyncio's is running); use ``await wait_until(predicate)`` / ``await asyncio.sleep``.
* Between two ``run_until_complete`` calls (test body, each fixture's setup and teardown)
  qasync and pytest-qt still process Qt events, and a timer or socket callback may then step an
  asyncio task while no loop is "running" (``RuntimeError: no running event loop``, e.g. in
  ``asyncio.sleep``). ``CallbacksSeeTheirLoop`` marks the loop as running while such a callback
  runs, so background tasks of the hub survive from fixture to test to teardown.
* ``QT_QPA_PLATFORM=offscreen`` is set before Qt is imported; ``QSettings`` go to a temporary
  INI directory so tests never touch the user's settings.
"""

from __future__ import annotations

import asyncio
import asyncio.events as asyncio_events
import os
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import qasync
from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication

from hub_app.hub import Hub
from hub_app.provisioning import FlowTimeouts
from hub_app.registry.memory_keyring import MemoryKeyring

UI_TESTS = Path(__file__).parent

TEST_FLOW_TIMEOUTS = FlowTimeouts(
    scan_lights=30, join_ap=30, rpc=8, verify=30, scan_networks=30, send=30,
    wait_lan=30, diagnose=30, pair=30, restore=15, retry_interval=0.1, probe_interval=0.5,
)


def _qt_app() -> QApplication:
    app = QApplication.instance()
    if app is None:
        app = QApplication(["hub-app-tests"])
    assert isinstance(app, QApplication)
    return app


def _seeing_loop(loop: asyncio.AbstractEventLoop, callback: Any) -> Any:
    def run(*args: Any) -> Any:
        if asyncio_events._get_running_loop() is not None:
            return callback(*args)
        asyncio_events._set_running_loop(loop)
        try:
            return callback(*args)
        finally:
            asyncio_events._set_running_loop(None)

    return run


class CallbacksSeeTheirLoop(qasync.QEventLoop):  # type: ignore[misc]
    """A qasync loop whose callbacks find it running even when Qt dispatches them between two
    ``run_until_complete`` calls (see the module docstring)."""

    def _add_callback(self, handle: asyncio.Handle, delay: float = 0) -> Any:
        handle._callback = _seeing_loop(self, handle._callback)  # type: ignore[attr-defined]
        return super()._add_callback(handle, delay)

    def _add_reader(self, fd: Any, callback: Any, *args: Any) -> Any:
        return super()._add_reader(fd, _seeing_loop(self, callback), *args)

    def _add_writer(self, fd: Any, callback: Any, *args: Any) -> Any:
        return super()._add_writer(fd, _seeing_loop(self, callback), *args)


def pytest_asyncio_loop_factories(config: Any, item: Any) -> Mapping[str, Any] | None:
    """A fresh qasync loop for every async test under tests/ui (None elsewhere)."""
    if UI_TESTS not in Path(str(item.path)).parents:
        return None
    return {"qasync": lambda: CallbacksSeeTheirLoop(_qt_app())}


@pytest.fixture(scope="session", autouse=True)
def _qt_settings_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    directory = tmp_path_factory.mktemp("qsettings")
    QCoreApplication.setOrganizationName("home-hub-tests")
    QCoreApplication.setApplicationName("home-hub-tests")
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    QSettings.setPath(QSettings.Format.IniFormat, QSettings.Scope.UserScope, str(directory))
    yield


@pytest.fixture(autouse=True)
def test_keyring(memory_keyring: MemoryKeyring) -> MemoryKeyring:
    """Every test here keeps its secrets in an in-process keyring (the tester kit's fixture)."""
    return memory_keyring


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Let the (qasync) loop run until ``predicate()`` holds; TimeoutError after timeout_s."""
    async with asyncio.timeout(timeout_s):
        while not predicate():  # noqa: ASYNC110 - polls state owned by widgets and the hub
            await asyncio.sleep(0.02)


@pytest.fixture
async def demo_hub(qapp: QApplication, tmp_path: Path) -> AsyncIterator[Hub]:
    """A started demo hub: 3 simulated lights, 2 set up through the real flow (ready and
    online), the third on its access point (in the inbox)."""
    hub = Hub.create_demo(
        lights=3, paired=2, data_dir=tmp_path / "demo", use_memory_keyring=False,
        flow_timeouts=TEST_FLOW_TIMEOUTS, run_scheduler=False,
    )
    await hub.start()
    demo = hub.demo
    assert demo is not None
    await wait_until(lambda: demo.ready, 90)
    assert demo.pre_pair_errors == []
    await wait_until(lambda: len(hub.lights) == 2 and all(v.online for v in hub.lights), 30)
    yield hub
    await hub.stop()


@pytest.fixture
async def main_window(qtbot: Any, demo_hub: Hub) -> AsyncIterator[Any]:
    """The real main window over ``demo_hub``, shown offscreen."""
    from hub_app.ui.main_window import MainWindow

    window = MainWindow(demo_hub, show_error_dialogs=True)
    qtbot.addWidget(window)
    window.show()
    yield window
    window.shutdown()
