"""bench/ui: the desktop app's start-up time, and the main window with 1,000 lights.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/ui.py [--lights 1000] [--seconds 10]

1. Time from process start to the first window shown: `hub-app --demo --quit-after 2` in a
   subprocess, timed from spawn to its "window shown" line (and to "hub started").
2. 1,000 lights: lightweight MQTT publishers (`hub_app.testing.mqtt_light.MqttLight`, NOT the
   firmware: the simulator is too heavy for 1,000 lights in one process) in a child process (real
   lights are other devices), on the hub's embedded broker. Prints the time from the app's start
   (the lights already paired: the registry is on disk) until the window's tree shows every
   light online, then the event-loop lag p50/p99 (a 20 ms ticker) while every light reports
   state once a second.

The lights connect over TLS to the built-in broker, trusting the hub's CA, as real lights do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import qasync
from PySide6.QtCore import QCoreApplication
from PySide6.QtWidgets import QApplication


def startup_time() -> tuple[float, float]:
    exe = Path(sys.executable).with_name("hub-app")
    start = time.monotonic()
    process = subprocess.Popen(
        [str(exe), "--demo", "--quit-after", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
    )
    shown = started = float("nan")
    assert process.stdout is not None
    for line in process.stdout:
        if line.startswith("window shown") and shown != shown:
            shown = time.monotonic() - start
        if line.startswith("hub started"):
            started = time.monotonic() - start
    process.wait(timeout=60)
    return shown, started


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def many_lights(count: int, seconds: float) -> dict[str, float]:
    from hublight_sim.world import WifiWorld

    from hub_app.broker_client.embedded import EmbeddedBackend
    from hub_app.discovery.wifi.simulated import SimulatedWifiAdapter
    from hub_app.hub import Hub
    from hub_app.hub.demo import demo_settings
    from hub_app.registry import PairedLight
    from hub_app.registry.store import SCHEMA_VERSION
    from hub_app.ui.main_window import MainWindow

    data = Path(tempfile.mkdtemp(prefix="bench-ui-"))
    ids = [f"hublight-{i:06x}" for i in range(count)]
    rooms = ["Kitchen", "Office", "Living room", "Bedroom", "Hall", "Garden"]
    # A user with `count` paired lights: the registry is on disk when the app starts.
    paired = [PairedLight(device_id=device_id, name=f"Light {i}", room=rooms[i % len(rooms)],
                          backend="mqtt") for i, device_id in enumerate(ids)]
    (data / "hub").mkdir(parents=True)
    document = {"schema_version": SCHEMA_VERSION, "lights": [p.to_json() for p in paired]}
    (data / "hub" / "registry.json").write_text(json.dumps(document), encoding="utf-8")
    adapter = SimulatedWifiAdapter(WifiWorld())
    hub = Hub(data / "hub", config_dir=data / "config", settings=demo_settings(),
              wifi_adapter=adapter, run_scheduler=False, secret_service="bench-ui")
    t0 = time.monotonic()
    await hub.start()
    backend = hub.backend
    assert isinstance(backend, EmbeddedBackend)
    window = MainWindow(hub, show_error_dialogs=False)
    window.show()
    host, port = "127.0.0.1", backend.broker.port
    # The lights connect the way real ones do: over TLS, trusting the hub's CA.
    # The lights are other devices: they run in a child process (the other core), connect over
    # TLS trusting the hub's CA as real ones do, and report once a second.
    plan = {
        "host": host, "port": port,
        "ca_pem": backend.certificates.ca_pem if backend.certificates else None,
        "lights": [[device_id, backend.credentials.add_light(device_id)] for device_id in ids],
        "seconds": seconds + 600.0,
    }
    plan_path = data / "lights.json"
    plan_path.touch(mode=0o600)
    plan_path.write_text(json.dumps(plan), encoding="utf-8")
    child = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--run-lights", str(plan_path),
        stdout=asyncio.subprocess.DEVNULL,
    )

    def all_shown() -> bool:
        model = window.model
        rows = sum(model.rowCount(model.index(r, 0)) for r in range(model.rowCount()))
        return rows == count and all(v.online for v in hub.lights)

    try:
        while not all_shown():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        list_time = time.monotonic() - t0

        lags: list[float] = []
        stop = time.monotonic() + seconds
        loop = asyncio.get_running_loop()
        while time.monotonic() < stop:
            expected = loop.time() + 0.02
            await asyncio.sleep(0.02)
            lags.append(max(0.0, loop.time() - expected))
    finally:
        child.terminate()
        await child.wait()
        window.shutdown()
        await hub.stop()
        adapter.close()
    return {
        "list_time": list_time,
        "lag_p50": statistics.median(lags),
        "lag_p99": percentile(lags, 0.99),
        "samples": float(len(lags)),
    }


async def run_lights(plan_path: Path) -> None:
    """The child process: every light connects, then reports a new state once a second."""
    import ssl

    from hub_app.testing.mqtt_light import MqttLight

    plan = json.loads(await asyncio.to_thread(plan_path.read_text, encoding="utf-8"))
    context = ssl.create_default_context(cadata=plan["ca_pem"]) if plan["ca_pem"] else None
    lights = [MqttLight(device_id, plan["host"], plan["port"], username=device_id,
                        password=password, ssl_context=context)
              for device_id, password in plan["lights"]]
    await asyncio.gather(*(light.start() for light in lights))
    stop = time.monotonic() + plan["seconds"]

    async def reporter(light: MqttLight) -> None:
        await asyncio.sleep(random.random())
        while time.monotonic() < stop:
            light.set_state(brightness=random.randint(0, 100))
            await asyncio.sleep(1.0)

    await asyncio.gather(*(reporter(light) for light in lights))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lights", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--run-lights", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.run_lights is not None:
        asyncio.run(run_lights(args.run_lights))
        return 0
    shown, started = startup_time()
    print(f"start-up (hub-app --demo): first window shown {shown * 1000:.0f} ms after spawn; "
          f"hub started {started * 1000:.0f} ms")
    QCoreApplication.setOrganizationName("home-hub-bench")
    app = QApplication.instance() or QApplication(sys.argv)
    assert isinstance(app, QApplication)
    app.setQuitOnLastWindowClosed(False)
    loop = qasync.QEventLoop(app)
    with loop:
        result: dict[str, Any] = loop.run_until_complete(many_lights(args.lights, args.seconds))
    print(f"{args.lights} lights (lightweight MQTT publishers in a child process, over TLS): "
          "list shown with "
          f"every light online after {result['list_time']:.2f} s")
    print(f"event-loop lag while every light reports once a second ({args.seconds:.0f} s, "
          f"{int(result['samples'])} samples): p50 {result['lag_p50'] * 1000:.1f} ms, "
          f"p99 {result['lag_p99'] * 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
