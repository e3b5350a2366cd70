"""Shared test set-up.

Tests over the full benchmark files use the ``data_dir`` fixture: it points at ``$DEEPCRITIC_DATA`` (default
``../shared/data`` when that exists) and skips with a reason when the files are absent - except when
``DEEPCRITIC_REQUIRE_DATA=1`` (set by ``.ci/run``), where a missing data directory fails the test instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _data_dir() -> Path | None:
    env = os.environ.get("DEEPCRITIC_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    found = _data_dir()
    if found is None:
        msg = "benchmark data not found: set DEEPCRITIC_DATA to a folder laid out like ../shared/data"
        if os.environ.get("DEEPCRITIC_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return found


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
