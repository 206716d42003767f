"""Scale: 1,000 then 5,000 lights on one broker, each reporting its state once a second.

    .venv/bin/python bench/scale.py [--broker embedded|mosquitto] [--counts 1000 5000]
                                    [--seconds 20] [--workers 2]

The lights are LIGHTWEIGHT MQTT publishers (hub_app.testing.mqtt_light.AsyncMqttClient with the
light's Last Will, `online` and a retained `<id>/state` once a second), not the full firmware,
running in `--workers` separate processes. The hub is the real backend (`EmbeddedBackend` by
default: broker and hub share the hub's event loop, as in the product; or `MqttBackend` on a
Mosquitto). Every state carries the light's send time; the hub measures, per 5 s window:
state events received per second (expected: the number of lights), the age of the events when
the hub handles them (p50 / p99: a growing age = a growing backlog), the event-loop lag p99
(a 20 ms timer's overshoot) and the hub process's RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from hub_app.broker_client import EmbeddedBackend, LightEvent, MqttBackend, MqttConfig
from hub_app.broker_client.base import Backend
from hub_app.testing.mqtt_light import AsyncMqttClient

WINDOW = 5.0


def rss_mib() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def pct(samples: list[float], q: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


# --- the light worker process -----------------------------------------------------------------
async def worker_main(spec_path: str, first: int, count: int) -> None:
    spec = json.loads(await asyncio.to_thread(Path(spec_path).read_text))
    host, port = spec["host"], spec["port"]
    # Over TLS trusting the hub's CA, as real lights connect to the built-in broker.
    context = ssl.create_default_context(cadata=spec["ca_pem"]) if spec.get("ca_pem") else None
    lights = spec["lights"][first : first + count]
    clients: list[tuple[str, AsyncMqttClient]] = []
    from hub_app.broker_client.mqtt_codec import Publish

    async def connect(entry: dict[str, str]) -> None:
        device_id = entry["id"]
        client = AsyncMqttClient(
            host,
            port,
            device_id,
            username=entry.get("user"),
            password=entry.get("pass"),
            keepalive=60,
            will=Publish(device_id + "/online", b"offline", 1, True),
            ssl_context=context,
        )
        for _attempt in range(20):
            try:
                await client.connect(timeout=60)
                break
            except (OSError, TimeoutError):
                await asyncio.sleep(0.5)
        else:
            raise RuntimeError("light could not connect")
        client.publish_nowait(device_id + "/online", "online", qos=1, retain=True)
        clients.append((device_id, client))

    for start in range(0, len(lights), 100):
        await asyncio.gather(*(connect(e) for e in lights[start : start + 100]))
    print("ready", flush=True)
    rev = 1
    loop = asyncio.get_running_loop()
    next_tick = loop.time()
    while True:
        # Spread the second's publishes evenly (a real fleet is not synchronised).
        step = 1.0 / max(1, len(clients))
        for index, (device_id, client) in enumerate(clients):
            target = next_tick + index * step
            delay = target - loop.time()
            if delay > 0.002:
                await asyncio.sleep(delay)
            state = {
                "on": True,
                "brightness": rev % 101,
                "rgb": [1, 2, 3],
                "transition_ms": 0,
                "rev": rev,
                "source": "button",
                "ts": time.time(),
            }
            with contextlib.suppress(ConnectionError):
                client.publish_nowait(device_id + "/state", json.dumps(state), qos=1, retain=True)
        rev += 1
        next_tick += 1.0
        if loop.time() > next_tick + 1.0:  # we fell behind: say so on stderr, keep going
            print("worker behind by %.1f s" % (loop.time() - next_tick), file=sys.stderr)


# --- the hub side ------------------------------------------------------------------------------
class Meter:
    def __init__(self) -> None:
        self.ages: list[float] = []
        self.events = 0
        self.lags: list[float] = []

    def reset(self) -> tuple[int, list[float], list[float]]:
        out = (self.events, self.ages, self.lags)
        self.events, self.ages, self.lags = 0, [], []
        return out


async def loop_lag(meter: Meter) -> None:
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(0.02)
        meter.lags.append(loop.time() - started - 0.02)


async def run_phase(args: argparse.Namespace, count: int, workdir: Path) -> None:
    lights = [f"hublight-{n:06x}" for n in range(count)]
    backend: Backend
    broker_proc = None
    if args.broker == "embedded":
        embedded = EmbeddedBackend(workdir / f"hub-{count}", host="127.0.0.1", port=0, keepalive=60)
        specs = [{"id": d, "user": d, "pass": embedded.credentials.add_light(d)} for d in lights]
        await asyncio.to_thread(embedded.credentials.save)
        backend = embedded
    else:
        from hub_app.testing.mosquitto import MosquittoBroker

        broker_proc = MosquittoBroker(
            workdir / f"mosquitto-{count}", extra_config="set_tcp_nodelay true\nmax_keepalive 120"
        )
        broker_proc.start()
        backend = MqttBackend(
            MqttConfig(host=broker_proc.host, port=broker_proc.port, keepalive=60)
        )
        specs = [{"id": d} for d in lights]
    for device_id in lights:
        backend.add_light(device_id)
    meter = Meter()
    ages: list[float] = []

    def on_event(event: LightEvent) -> None:
        if event.kind == "state":
            meter.events += 1

    backend.subscribe_light(on_event)
    # The age of each state event: the backend hands the raw payload to LightState (which
    # ignores unknown keys), so read `ts` from the MQTT layer for the benchmark only.
    if isinstance(backend, MqttBackend):
        original = backend._on_message

        def timed(topic: str, payload: bytes, retained: bool) -> None:
            if topic.endswith("/state"):
                at = payload.rfind(b'"ts": ')
                if at >= 0:  # cheaper than a second json.loads per message
                    with contextlib.suppress(ValueError):
                        meter.ages.append(time.time() - float(payload[at + 6 :].rstrip(b"}")))
            original(topic, payload, retained)

        backend._on_message = timed  # type: ignore[method-assign]
    await backend.start()
    await backend.wait_connected(120)
    host, port = (
        ("127.0.0.1", backend.broker.port)
        if isinstance(backend, EmbeddedBackend)
        else (backend.config.host, backend.config.port)
    )
    spec_path = workdir / f"lights-{count}.json"
    ca_pem = (
        backend.certificates.ca_pem
        if isinstance(backend, EmbeddedBackend) and backend.certificates
        else None
    )
    spec_path.write_text(json.dumps({"host": host, "port": port, "ca_pem": ca_pem,
                                     "lights": specs}))
    spec_path.chmod(0o600)
    per_worker = (count + args.workers - 1) // args.workers
    workers = []
    started = time.monotonic()
    for w in range(args.workers):
        workers.append(
            subprocess.Popen(  # noqa: ASYNC220 (starting a worker takes microseconds)
                [
                    sys.executable,
                    __file__,
                    "--worker",
                    str(spec_path),
                    str(w * per_worker),
                    str(per_worker),
                ],
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    lag_task = asyncio.create_task(loop_lag(meter))
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = await asyncio.to_thread(worker.stdout.readline)
            if line.strip() != "ready":
                raise RuntimeError("a light worker failed")
        print(
            f"  {count} lights connected in {time.monotonic() - started:.1f} s; "
            f"hub RSS {rss_mib():.0f} MiB",
            flush=True,
        )
        meter.reset()
        windows = int(args.seconds / WINDOW)
        age_p99s: list[float] = []
        rates: list[float] = []
        all_lags: list[float] = []
        for window in range(windows):
            await asyncio.sleep(WINDOW)
            events, window_ages, lags = meter.reset()
            age_p99s.append(pct(window_ages, 0.99))
            rates.append(events / WINDOW)
            all_lags.extend(lags)
            ages.extend(window_ages)
            print(
                f"  window {window + 1}: {events / WINDOW:7.0f} states/s (expected {count}), "
                f"event age p50 {pct(window_ages, 0.5) * 1000:6.1f} ms "
                f"p99 {pct(window_ages, 0.99) * 1000:7.1f} ms, "
                f"loop lag p99 {pct(lags, 0.99) * 1000:6.1f} ms, RSS {rss_mib():.0f} MiB",
                flush=True,
            )
        half = len(age_p99s) // 2
        late = age_p99s[half:]
        rate_ok = all(r >= 0.95 * count for r in rates[half:])
        growing = bool(half) and statistics.mean(late) > 2 * statistics.mean(age_p99s[:half]) + 0.05
        verdict = "keeps up" if rate_ok and not growing and max(late) < 1.0 else "FALLS BEHIND"
        print(
            f"  => {count} lights: {verdict}; "
            f"overall event age p99 {pct(ages, 0.99) * 1000:.1f} ms, "
            f"loop lag p99 {pct(all_lags, 0.99) * 1000:.1f} ms, RSS {rss_mib():.0f} MiB",
            flush=True,
        )
    finally:
        lag_task.cancel()
        for worker in workers:
            worker.kill()
            worker.wait()
        await backend.close()
        if broker_proc is not None:
            broker_proc.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--broker", choices=["embedded", "mosquitto"], default="embedded")
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        spec, first, count = args.worker
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(worker_main(spec, int(first), int(count)))
        return
    print(
        f"scale: {args.broker} broker, lightweight MQTT light publishers (not firmware), "
        f"{args.workers} worker processes, {os.cpu_count()} CPUs (shared)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for count in args.counts:
            asyncio.run(run_phase(args, count, Path(tmp)))


if __name__ == "__main__":
    main()
