"""Shared test set-up: which tests may see the benchmark files, and how.

Two kinds of test, kept apart on purpose (a user's clone has no ``../shared/data``, CI has it):

* Tests over the **full benchmark files** ask for the ``data_dir`` fixture. It points at ``$DEEPCRITIC_DATA``
  (default ``../shared/data`` when that exists) and skips with a reason when the files are absent - except when
  ``DEEPCRITIC_REQUIRE_DATA=1`` (set by ``.ci/run``), where a missing data directory fails the test instead.
* **Every other test** (slow ones included) runs on the small fixtures committed under ``tests/fixtures`` and
  cannot see the data folder: an autouse fixture points ``DEEPCRITIC_DATA`` at an empty folder for it, so a test
  that quietly reaches for a known data set name (``gsm8k-train``, ``processbench-math`` ...) fails here and in CI
  exactly as it would on a user's clone, instead of passing only where the data happens to be.

No test may reach a model or dataset hub: ``HF_HUB_OFFLINE=1`` is set for the whole session (subprocesses inherit it).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
DATA_FIXTURE = "data_dir"


def _data_dir() -> Path | None:
    env = os.environ.get("DEEPCRITIC_DATA")
    candidate = Path(env) if env else REPO.parent / "shared" / "data"
    return candidate if candidate.is_dir() else None


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The folder of full benchmark files (laid out like ``../shared/data``); skip, or fail in CI, without it."""
    found = _data_dir()
    if found is None:
        msg = "benchmark data not found: set DEEPCRITIC_DATA to a folder laid out like ../shared/data"
        if os.environ.get("DEEPCRITIC_REQUIRE_DATA") == "1":
            pytest.fail(msg)
        pytest.skip(msg)
    return found.resolve()


@pytest.fixture(scope="session")
def _empty_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("no-benchmark-data")


@pytest.fixture(autouse=True)
def _benchmark_data_only_through_data_dir(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide the benchmark folder from every test that did not ask for ``data_dir`` (see the module docstring)."""
    if DATA_FIXTURE in request.fixturenames:
        # Resolve the data folder now, so code under test finds the same files through $DEEPCRITIC_DATA.
        monkeypatch.setenv("DEEPCRITIC_DATA", str(request.getfixturevalue(DATA_FIXTURE)))
        return
    monkeypatch.setenv("DEEPCRITIC_DATA", str(request.getfixturevalue("_empty_data_dir")))


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    return FIXTURES
