"""Runs before main.py on every reset: keep the radio quiet until the firmware decides."""

import gc

import network

network.WLAN(network.AP_IF).active(False)  # the firmware opens its own AP if it needs one
gc.collect()
