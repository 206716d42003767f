"""Home Hub: find, set up, control and diagnose HubLight smart lights from a PC."""

__version__ = "0.1.0"
