"""HubLight boot script (MicroPython on an ESP32): run the light until it wants to reboot."""

import asyncio

import machine
from hublight.app import LightApp
from hublight.esp32 import Esp32Board


def main():
    # type: () -> None
    board = Esp32Board()
    try:
        asyncio.run(LightApp(board).run())
    except Exception as exc:  # a crash must end in a reset, never in a dead light
        print("hublight: fatal:", repr(exc))
    machine.reset()


main()
