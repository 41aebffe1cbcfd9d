"""Shared fixtures: the checkout's paths, the dpkit program, a private feature cache."""

import os
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def dpkit_bin():
    path = pathlib.Path(os.environ.get("DPKIT_BIN", ROOT / "build" / "dpkit"))
    if not path.exists():
        pytest.fail(f"{path} is missing: build dpkit first (make)")
    return str(path)


@pytest.fixture(scope="session")
def test_data():
    return ROOT / "tests" / "data"


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Feature caches of the tests' datasets go to the test's own folder."""
    monkeypatch.setenv("DPKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("OMP_NUM_THREADS", os.environ.get("OMP_NUM_THREADS", "2"))
