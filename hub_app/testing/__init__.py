"""Test helpers that start real services (no pytest import here; fixtures live in fixtures.py)."""

from hub_app.testing.mosquitto import (
    BrokerTls,
    MosquittoBroker,
    MosquittoError,
    find_mosquitto,
    free_port,
    hash_password,
)

__all__ = [
    "BrokerTls",
    "MosquittoBroker",
    "MosquittoError",
    "find_mosquitto",
    "free_port",
    "hash_password",
]
