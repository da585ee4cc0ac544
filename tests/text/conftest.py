"""Fixtures for text-encoder tests (the tiny BERT lives in tests/conftest.py)."""

from __future__ import annotations

import pytest

from finfusion.text.cache import cache_info, clear_cache, configure_cache


@pytest.fixture(autouse=True)
def fresh_cache():
    """Every test starts from an empty text cache with the default settings."""
    limit = cache_info().max_bytes
    clear_cache()
    configure_cache(state_dtype="float16")
    yield
    clear_cache()
    configure_cache(max_bytes=limit, state_dtype="float16")
