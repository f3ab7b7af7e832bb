"""End-to-end fixtures: the controller and its plugins as real processes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from tests.support import ControllerProcess, write_plugin


@pytest.fixture
def plugins_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "plugins.d"
    write_plugin(directory)
    return directory


@pytest.fixture
async def controller(tmp_path: Path, plugins_dir: Path) -> AsyncIterator[ControllerProcess]:
    process = ControllerProcess(tmp_path / "state", plugins_dir)
    yield process
    process.stop()


@pytest.fixture
async def channel_for() -> AsyncIterator[list[grpc.aio.Channel]]:
    channels: list[grpc.aio.Channel] = []
    yield channels
    for channel in channels:
        await channel.close()
