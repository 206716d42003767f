"""Control round trip: command -> light-confirmed state event at the hub, p50 / p99.

    .venv/bin/python bench/control_rtt.py [--count 2000] [--no-amqtt]

For each broker (the embedded broker over TLS, its default for lights, and over a plain listener;
Mosquitto) it runs, in the same run:
- raw: a paho-mqtt client publishes QoS 1 to a topic it subscribes to and waits for the message
  (publish -> receive), the floor any MQTT client can reach through that broker;
- hub: `backend.set_light()` to a light (`hub_app.testing.mqtt_light.MqttLight`, a protocol-level
  light in a separate process) until the light's retained state event confirms it.
With amqtt 0.12 it also measures the raw round trip through amqtt (why we do not embed it).
Targets: hub p50 <= 3 ms, p99 <= 15 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from hub_app.broker_client import EmbeddedBackend, MqttBackend, MqttConfig
from hub_app.broker_client.base import Backend

LIGHT_ID = "hublight-be0001"


def percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 * 1000, p99 * 1000


def raw_round_trip(
    host: str, port: int, count: int, nodelay: bool = True, ca_file: str = "", **auth: Any
) -> list[float]:
    """paho publish (QoS 1) -> receive of the same message, `count` times (blocking).
    With `ca_file`: over TLS, verifying the broker against that CA."""
    received = threading.Event()
    ready = threading.Event()
    client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-raw-{time.monotonic_ns()}")
    if auth.get("username"):
        client.username_pw_set(auth["username"], auth.get("password"))
    if ca_file:
        client.tls_set_context(ssl.create_default_context(cafile=ca_file))
    client.on_message = lambda *a: received.set()
    client.on_subscribe = lambda *a: ready.set()
    if nodelay:  # paho leaves Nagle on; see hub_app/broker_client/mqtt.py `_no_delay`
        client.on_socket_open = lambda c, u, sock: sock.setsockopt(
            socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
        )
    client.on_connect = lambda c, *a: c.subscribe("bench/raw", 1)
    client.connect(host, port, 30)
    client.loop_start()
    try:
        if not ready.wait(30):
            raise RuntimeError("raw client could not subscribe")
        samples = []
        for _ in range(count):
            received.clear()
            started = time.perf_counter()
            client.publish("bench/raw", b"x" * 64, qos=1)
            if not received.wait(30):
                raise RuntimeError("raw message lost")
            samples.append(time.perf_counter() - started)
        return samples
    finally:
        client.disconnect()
        client.loop_stop()


def start_light_process(
    host: str, port: int, user: str | None, password: str | None, ca_file: str = ""
) -> subprocess.Popen[str]:
    args = [
        sys.executable,
        __file__,
        "--light",
        host,
        str(port),
        user or "",
        password or "",
        ca_file,
    ]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    assert process.stdout is not None
    line = process.stdout.readline()
    if line.strip() != "ready":
        raise RuntimeError(f"light process failed: {line!r}")
    return process


async def hub_round_trip(backend: Backend, count: int) -> list[float]:
    samples = []
    for n in range(count):
        started = time.perf_counter()
        state = await backend.set_light(LIGHT_ID, brightness=n % 100, on=True)
        samples.append(time.perf_counter() - started)
        if state.brightness != n % 100:
            raise RuntimeError("confirmed state does not match")
    return samples


async def measure_backend(backend: Backend, count: int) -> list[float]:
    backend.add_light(LIGHT_ID)
    await backend.wait_connected(30)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    while backend.twin(LIGHT_ID).reported is None:
        if loop.time() > deadline:
            raise RuntimeError("the light never reported")
        await asyncio.sleep(0.05)
    await hub_round_trip(backend, min(200, count))  # warm-up
    return await hub_round_trip(backend, count)


def report(label: str, raw: list[float], hub: list[float] | None) -> None:
    raw50, raw99 = percentiles(raw)
    line = f"{label:<32} raw paho QoS1 p50 {raw50:7.3f} ms  p99 {raw99:7.3f} ms"
    if hub is not None:
        hub50, hub99 = percentiles(hub)
        verdict = "OK" if hub50 <= 3 and hub99 <= 15 else "MISSED TARGET"
        line += f" | hub command->confirmed p50 {hub50:7.3f} ms  p99 {hub99:7.3f} ms  [{verdict}]"
    print(line, flush=True)


async def bench_embedded(count: int, tls: bool) -> None:
    """The light (and the raw client) over TLS to the broker's default listener, or plain."""
    with tempfile.TemporaryDirectory() as data:
        backend = EmbeddedBackend(Path(data), host="127.0.0.1", port=0, tls=tls)
        await backend.start()
        light = None
        try:
            config = await backend.pair_light(LIGHT_ID)
            host, port = str(config["mqtt.server"]).rsplit(":", 1)
            ca_file = ""
            if tls:
                assert backend.certificates is not None and config["mqtt.tls"] is True
                ca_file = str(backend.certificates.ca_path)
            light = await asyncio.to_thread(
                start_light_process, host, int(port), LIGHT_ID, str(config["mqtt.pass"]), ca_file
            )
            hub = await measure_backend(backend, count)
            # The raw client logs in with the hub's own account (a light's may use only its
            # own topics), so it goes through the same authentication and ACL code.
            raw = await asyncio.to_thread(
                raw_round_trip,
                host,
                int(port),
                count,
                ca_file=ca_file,
                username=backend.config.username,
                password=backend.config.password,
            )
            report("embedded broker, TLS" if tls else "embedded broker, plain", raw, hub)
        finally:
            if light is not None:
                light.kill()
            await backend.close()


async def bench_mosquitto(count: int, nodelay: bool) -> None:
    from hub_app.testing.mosquitto import MosquittoBroker, find_mosquitto

    if find_mosquitto() is None:
        print("mosquitto: not installed, skipped")
        return
    extra = "set_tcp_nodelay true" if nodelay else ""
    with MosquittoBroker(extra_config=extra) as broker:
        backend = MqttBackend(MqttConfig(host=broker.host, port=broker.port))
        await backend.start()
        light = await asyncio.to_thread(start_light_process, broker.host, broker.port, None, None)
        try:
            hub = await measure_backend(backend, count)
            raw = await asyncio.to_thread(raw_round_trip, broker.host, broker.port, count)
            suffix = " nodelay" if nodelay else f" default ({count})"
            label = f"mosquitto {_mosquitto_version()}{suffix}"
            report(label, raw, hub)
        finally:
            light.kill()
            await backend.close()


def _mosquitto_version() -> str:
    from hub_app.testing.mosquitto import find_mosquitto

    binary = find_mosquitto() or "mosquitto"
    result = subprocess.run([binary, "-h"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).splitlines()[:1]
    return first[0].split()[-1] if first else "?"


async def bench_amqtt(count: int) -> None:
    """Raw round trip through amqtt (the library we evaluated for the embedded broker)."""
    try:
        from amqtt.broker import Broker
    except ImportError:
        print("amqtt: not installed, skipped")
        return
    from hub_app.testing.mosquitto import free_port

    logging.getLogger("amqtt").setLevel(logging.ERROR)
    port = free_port()
    broker = Broker(
        {
            "listeners": {"default": {"type": "tcp", "bind": f"127.0.0.1:{port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}
            },
        }
    )
    await broker.start()
    try:
        raw = await asyncio.to_thread(raw_round_trip, "127.0.0.1", port, count)
        report(f"amqtt 0.12 ({count} msgs)", raw, None)
    finally:
        await broker.shutdown()


def light_process_main(host: str, port: int, user: str, password: str, ca_file: str) -> None:
    from hub_app.testing.mqtt_light import MqttLight

    async def run() -> None:
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        light = MqttLight(
            LIGHT_ID,
            host,
            port,
            username=user or None,
            password=password or None,
            ssl_context=context,
        )
        await light.start()
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)  # until the parent goes away

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--no-amqtt", action="store_true")
    parser.add_argument("--light", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.light:
        host, port, user, password, ca_file = args.light
        light_process_main(host, int(port), user, password, ca_file)
        return
    logging.basicConfig(level=logging.WARNING)
    print(f"control round trip, {args.count} commands per broker (2 shared cores: noisy)")
    asyncio.run(bench_embedded(args.count, tls=True))  # the default for lights
    asyncio.run(bench_embedded(args.count, tls=False))
    asyncio.run(bench_mosquitto(args.count, nodelay=True))
    # Stock Mosquitto costs ~44 ms per command (Nagle): fewer commands keep the bench short.
    asyncio.run(bench_mosquitto(min(args.count, 300), nodelay=False))
    if not args.no_amqtt:
        asyncio.run(bench_amqtt(min(args.count, 300)))


if __name__ == "__main__":
    main()
