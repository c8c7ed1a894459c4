"""Fixtures of the context tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ..packages import WEATHER, installed


@pytest.fixture(scope="session")
def weather_package(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """tests/fixtures/beaker-weather, built as a wheel and installed for this session."""
    with installed(WEATHER, "beaker-weather", tmp_path_factory.mktemp("wheels")) as wheel:
        yield wheel
