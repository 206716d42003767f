"""Fixtures for backend tests: lights on real brokers (Mosquitto, the embedded broker)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from hub_app.broker_client.embedded import EmbeddedBackend

from .helpers import TIMEOUT


@pytest.fixture
async def embedded(tmp_path: Path) -> AsyncIterator[EmbeddedBackend]:
    backend = EmbeddedBackend(tmp_path / "hub", host="127.0.0.1", port=0, command_timeout=10.0)
    await backend.start()
    await backend.wait_connected(TIMEOUT)
    yield backend
    await backend.close()
