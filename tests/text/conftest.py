"""Fixtures for text-encoder tests (the tiny BERT lives in tests/conftest.py)."""

from __future__ import annotations

import pytest

from finfusion.text import disk_cache, onnx_engine
from finfusion.text.cache import cache_info, clear_cache, configure_cache
from finfusion.text.disk_cache import CACHE_ENV


@pytest.fixture(autouse=True)
def fresh_cache():
    """Every test starts from an empty text cache with the default settings."""
    limit = cache_info().max_bytes
    clear_cache()
    configure_cache(state_dtype="float16")
    yield
    clear_cache()
    configure_cache(max_bytes=limit, state_dtype="float16")


@pytest.fixture
def onnx_cache_dir(tmp_path, monkeypatch):
    """The on-disk caches (and ONNX exports) in a temporary directory; a fresh process's sessions."""
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    onnx_engine.forget_sessions()
    yield tmp_path / "cache"
    onnx_engine.forget_sessions()
    disk_cache._cache.cache_clear()
