"""Pytest fixtures for real brokers: `mosquitto` (anonymous) and `mosquitto_factory` (variants).

Register them in a conftest with `from hub_app.testing.fixtures import *  # noqa: F403`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from hub_app.testing.mosquitto import MosquittoBroker, find_mosquitto

__all__ = ["mosquitto", "mosquitto_factory"]

MosquittoFactory = Callable[..., MosquittoBroker]


def _require_mosquitto() -> None:
    if find_mosquitto() is None:
        pytest.skip("mosquitto binary not installed")


@pytest.fixture
def mosquitto_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoFactory]:
    """Start brokers with `mosquitto_factory(users=..., tls=..., acl=..., persistence=...)`.

    Keyword arguments are those of `MosquittoBroker`; every broker is stopped at teardown.
    """
    _require_mosquitto()
    brokers: list[MosquittoBroker] = []

    def make(**options: Any) -> MosquittoBroker:
        directory: Path = tmp_path_factory.mktemp("mosquitto")
        broker = MosquittoBroker(directory, **options)
        brokers.append(broker)
        return broker.start()

    yield make
    for broker in brokers:
        broker.close()


@pytest.fixture
def mosquitto(mosquitto_factory: MosquittoFactory) -> MosquittoBroker:
    """A running anonymous Mosquitto broker on a free loopback port."""
    return mosquitto_factory()
