"""hublight_sim: the HubLight firmware on CPython, with a simulated board and Wi-Fi world.

Public API: ``SimBoard`` (board.py), ``WifiWorld`` / ``Network`` / ``LightAccessPoint``
(world.py), ``Simulator`` / ``SimLight`` (runner.py) and the ``hub-light-sim`` CLI (cli.py).
See docs/simulator.md.
"""

from .board import SimBoard, make_sim_image
from .world import LightAccessPoint, Network, WifiWorld

__all__ = ["LightAccessPoint", "Network", "SimBoard", "WifiWorld", "make_sim_image"]
